"""Inbound endpoints (no namespace: the names are part of the URLs customers paste elsewhere)."""

from django.urls import URLPattern, path

from integrations.web import hooks

urlpatterns: list[URLPattern] = [
    # Salesforce Outbound Messages (real-time push): the token in the URL is the credential.
    path(
        "hooks/salesforce/outbound/<str:token>/",
        hooks.salesforce_outbound,
        name="push_salesforce_outbound",
    ),
]
