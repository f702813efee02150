"""django.contrib.admin's app config with our admin site (its own module: an apps.py with two
configs would make Django guess which one is the "carrytheone" app's)."""

from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    """``admin.site`` is a :class:`carrytheone.admin_site.StaffAdminSite`."""

    default_site = "carrytheone.admin_site.StaffAdminSite"
