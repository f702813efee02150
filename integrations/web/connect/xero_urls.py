from django.urls import path

from integrations.web.connect import xero_views as views

app_name = "xero"

urlpatterns = [
    path(
        "a/<slug:account_slug>/integrations/<int:integration_id>/xero/connect/",
        views.connect,
        name="connect",
    ),
    path("integrations/xero/callback/", views.callback, name="callback"),
    path(
        "a/<slug:account_slug>/integrations/<int:integration_id>/xero/organisation/",
        views.organisation,
        name="organisation",
    ),
]
