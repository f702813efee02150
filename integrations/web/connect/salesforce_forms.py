"""The connect form: which Salesforce login server to send the administrator to."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings

from accounts.forms import PlainLabelsMixin
from integrations.connections.salesforce.oauth import (
    PRODUCTION_URL,
    TEST_URL,
    salesforce_host,
    sandbox_login_urls,
)


def normalise_login_url(value: str) -> str:
    """``https://<salesforce host>`` from what a person typed, or ValidationError.

    The simulator's own URL is the one exception, and only when the sandbox is enabled.
    """
    raw = value.strip().rstrip("/")
    if raw in sandbox_login_urls():
        return raw
    if "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        hostname = parts.hostname or ""
        port = parts.port
    except ValueError as exc:
        raise forms.ValidationError("This is not a valid URL.") from exc
    if parts.scheme != "https":
        raise forms.ValidationError(
            "Use an https:// address: Salesforce login servers only speak HTTPS."
        )
    if parts.username or parts.password or port not in (None, 443):
        raise forms.ValidationError("Enter just the address, e.g. https://acme.my.salesforce.com.")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise forms.ValidationError(
            "Enter just the address without a path, e.g. https://acme.my.salesforce.com."
        )
    if not salesforce_host(hostname):
        raise forms.ValidationError(
            "This is not a Salesforce address. A My Domain URL ends in .my.salesforce.com "
            "(e.g. https://acme.my.salesforce.com); other Salesforce hosts end in "
            ".salesforce.com or .force.com."
        )
    return f"https://{hostname.lower().rstrip('.')}"


class ConnectForm(PlainLabelsMixin, forms.Form):
    environment = forms.ChoiceField(label="Salesforce environment", widget=forms.RadioSelect)
    custom_url = forms.CharField(
        label="My Domain URL",
        required=False,
        max_length=255,
        help_text="Only for “My Domain”: the address you log in at, e.g. "
        "https://acme.my.salesforce.com.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [
            ("production", "Production — login.salesforce.com"),
            ("test", "Sandbox org — test.salesforce.com"),
            ("custom", "My Domain — your company's Salesforce address"),
        ]
        if settings.SANDBOX_ENABLED:
            # In a sandboxed install the simulator is what a demo or test should reach.
            choices.insert(0, ("simulator", "CarryTheOne sandbox (simulated Salesforce)"))
        field = self.fields["environment"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices
        field.initial = choices[0][0]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        environment = cleaned.get("environment")
        if environment == "custom":
            custom = str(cleaned.get("custom_url") or "")
            if not custom.strip():
                self.add_error("custom_url", "Enter your My Domain URL, or pick another option.")
            else:
                try:
                    cleaned["login_url"] = normalise_login_url(custom)
                except forms.ValidationError as exc:
                    self.add_error("custom_url", exc)
        elif environment == "simulator":
            cleaned["login_url"] = settings.SALESFORCE_LOGIN_URL.rstrip("/")
        elif environment == "test":
            cleaned["login_url"] = TEST_URL
        elif environment == "production":
            cleaned["login_url"] = PRODUCTION_URL
        return cleaned
