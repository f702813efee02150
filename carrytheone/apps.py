from django.apps import AppConfig


class CarryTheOneConfig(AppConfig):
    name = "carrytheone"
    verbose_name = "CarryTheOne"
