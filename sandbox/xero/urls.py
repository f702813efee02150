from django.urls import path

from sandbox.xero import views

app_name = "sandbox_xero"

urlpatterns = [
    path("api.xro/2.0/<path:subpath>", views.accounting, name="accounting"),
    path("connections", views.connections, name="connections"),
    path("Connections", views.connections),
    path("connections/<uuid:connection_id>", views.connection_detail, name="connection"),
    path("Connections/<uuid:connection_id>", views.connection_detail),
    path("identity/connect/authorize", views.authorize, name="authorize"),
    path("identity/connect/token", views.token, name="token"),
    path("identity/connect/revocation", views.revocation, name="revocation"),
    path("invoices/<uuid:invoice_id>/", views.invoice_link, name="invoice_link"),
    path("orgs/<int:org_id>/", views.org, name="org"),
    path("orgs/<int:org_id>/contacts/", views.contacts, name="contacts"),
    path("orgs/<int:org_id>/items/", views.items, name="items"),
    path("orgs/<int:org_id>/invoices/", views.invoices, name="invoices"),
    path("orgs/<int:org_id>/invoices/<uuid:invoice_id>/", views.invoice, name="invoice"),
    path(
        "orgs/<int:org_id>/invoices/<uuid:invoice_id>/pay/",
        views.invoice_pay,
        name="invoice_pay",
    ),
    path("orgs/<int:org_id>/payments/", views.payments, name="payments"),
    path("orgs/<int:org_id>/credit-notes/", views.credit_notes, name="credit_notes"),
    path("orgs/<int:org_id>/settings/", views.settings_view, name="settings"),
]
