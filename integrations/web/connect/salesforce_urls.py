from django.urls import path

from integrations.web.connect import salesforce_views as views

app_name = "salesforce"

urlpatterns = [
    path(
        "a/<slug:account_slug>/integrations/<int:integration_id>/salesforce/connect/",
        views.connect,
        name="connect",
    ),
    path("integrations/salesforce/callback/", views.callback, name="callback"),
]
