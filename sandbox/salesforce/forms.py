from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from sandbox.faults import Faults
from sandbox.salesforce.describe import (
    ACCOUNT_TYPES,
    CONTACT_ROLES,
    PAYMENT_METHODS,
    PRODUCT_FAMILIES,
    REGIONS,
    STAGE_NAMES,
)
from sandbox.salesforce.models import Account, Contact, Product2, SalesforceOrg


def _choices(values: tuple[str, ...], blank: bool = True) -> list[tuple[str, str]]:
    return ([("", "—")] if blank else []) + [(v, v) for v in values]


class OrgBoundForm(forms.Form):
    def __init__(self, *args: Any, org: SalesforceOrg, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.org = org
        if "currency_iso_code" in self.fields:
            if org.multi_currency:
                field = self.fields["currency_iso_code"]
                assert isinstance(field, forms.ChoiceField)
                field.choices = _choices(tuple(org.currency_codes), blank=False)
                field.initial = org.corporate_currency
            else:
                del self.fields["currency_iso_code"]


class AccountForm(OrgBoundForm):
    name = forms.CharField(max_length=255)
    type = forms.ChoiceField(choices=_choices(ACCOUNT_TYPES), required=False)
    billing_street = forms.CharField(max_length=255, required=False)
    billing_city = forms.CharField(max_length=40, required=False)
    billing_state = forms.CharField(max_length=80, required=False)
    billing_postal_code = forms.CharField(max_length=20, required=False)
    billing_country = forms.CharField(max_length=80, required=False)
    phone = forms.CharField(max_length=40, required=False)
    website = forms.CharField(max_length=255, required=False)
    region = forms.ChoiceField(
        choices=_choices(REGIONS), required=False, label="Region (Region__c)"
    )
    currency_iso_code = forms.ChoiceField(label="Currency")


class ProductForm(OrgBoundForm):
    name = forms.CharField(max_length=255)
    product_code = forms.CharField(max_length=255, required=False)
    description = forms.CharField(widget=forms.Textarea, required=False, max_length=4000)
    family = forms.ChoiceField(choices=_choices(PRODUCT_FAMILIES), required=False)
    is_active = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, org: SalesforceOrg, **kwargs: Any) -> None:
        super().__init__(*args, org=org, **kwargs)
        for code in org.currency_codes:
            self.fields[f"price_{code}"] = forms.DecimalField(
                label=f"List price ({code})",
                max_digits=16,
                decimal_places=2,
                min_value=Decimal(0),
                required=False,
            )

    def prices(self) -> dict[str, Decimal]:
        return {
            code: self.cleaned_data[f"price_{code}"]
            for code in self.org.currency_codes
            if self.cleaned_data.get(f"price_{code}") is not None
        }


class OpportunityForm(OrgBoundForm):
    name = forms.CharField(max_length=120)
    account = forms.ModelChoiceField(queryset=Account.objects.none(), required=False)
    stage_name = forms.ChoiceField(choices=_choices(STAGE_NAMES, blank=False), label="Stage")
    close_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    amount = forms.DecimalField(max_digits=16, decimal_places=2, required=False)
    probability = forms.DecimalField(
        max_digits=3,
        decimal_places=0,
        min_value=Decimal(0),
        max_value=Decimal(100),
        required=False,
    )
    payment_method = forms.ChoiceField(
        choices=_choices(PAYMENT_METHODS), required=False, label="Payment method"
    )
    region = forms.ChoiceField(choices=_choices(REGIONS), required=False)
    description = forms.CharField(widget=forms.Textarea, required=False)
    currency_iso_code = forms.ChoiceField(label="Currency")

    def __init__(self, *args: Any, org: SalesforceOrg, **kwargs: Any) -> None:
        super().__init__(*args, org=org, **kwargs)
        account = self.fields["account"]
        assert isinstance(account, forms.ModelChoiceField)
        account.queryset = Account.objects.filter(org=org, is_deleted=False).order_by("name")


class StageForm(forms.Form):
    stage_name = forms.ChoiceField(choices=_choices(STAGE_NAMES, blank=False), label="Stage")


class LineItemForm(forms.Form):
    product = forms.ModelChoiceField(queryset=Product2.objects.none())
    quantity = forms.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0.01"))
    unit_price = forms.DecimalField(
        max_digits=16, decimal_places=2, required=False, help_text="Blank: the list price."
    )
    discount = forms.DecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=Decimal(0),
        max_value=Decimal(100),
        required=False,
        help_text="Percent.",
    )
    description = forms.CharField(max_length=255, required=False)

    def __init__(self, *args: Any, org: SalesforceOrg, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        product = self.fields["product"]
        assert isinstance(product, forms.ModelChoiceField)
        product.queryset = Product2.objects.filter(org=org, is_active=True).order_by("name")


class ContactRoleForm(forms.Form):
    contact = forms.ModelChoiceField(queryset=Contact.objects.none())
    role = forms.ChoiceField(choices=_choices(CONTACT_ROLES), required=False)
    is_primary = forms.BooleanField(required=False, label="Primary")

    def __init__(self, *args: Any, org: SalesforceOrg, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        contact = self.fields["contact"]
        assert isinstance(contact, forms.ModelChoiceField)
        contact.queryset = Contact.objects.filter(org=org, is_deleted=False).order_by("name")


class OrgSettingsForm(forms.Form):
    api_enabled = forms.BooleanField(
        required=False, help_text="Off simulates Professional edition (API_DISABLED_FOR_ORG)."
    )
    daily_api_max = forms.IntegerField(min_value=1, label="Daily API request limit")
    session_timeout_seconds = forms.IntegerField(min_value=60, label="Session timeout (seconds)")
    child_page_size = forms.IntegerField(
        min_value=1, max_value=2000, help_text="Child subquery rows per parent before paging."
    )
    outbound_url = forms.URLField(
        required=False, label="Outbound message endpoint", assume_scheme="https"
    )
    latency_ms = forms.IntegerField(min_value=0, label="Added latency (ms)")
    error_every = forms.IntegerField(min_value=0, help_text="Every Nth request fails; 0 = never.")
    error_status = forms.TypedChoiceField(
        choices=[(500, "500"), (503, "503")], coerce=int, label="Error status"
    )
    force_429 = forms.IntegerField(
        min_value=0, label="Force REQUEST_LIMIT_EXCEEDED", help_text="The next N requests."
    )
    timeout_every = forms.IntegerField(min_value=0, help_text="Every Nth request hangs; 0 = never.")
    timeout_seconds = forms.FloatField(min_value=0)
    expire_tokens = forms.BooleanField(required=False, help_text="Every session answers 401.")

    FAULT_FIELDS = (
        "latency_ms",
        "error_every",
        "error_status",
        "force_429",
        "timeout_every",
        "timeout_seconds",
        "expire_tokens",
    )
    ORG_FIELDS = (
        "api_enabled",
        "daily_api_max",
        "session_timeout_seconds",
        "child_page_size",
        "outbound_url",
    )

    @classmethod
    def initial_for(cls, org: SalesforceOrg) -> dict[str, Any]:
        faults = Faults.from_json(org.faults)
        initial = {name: getattr(org, name) for name in cls.ORG_FIELDS}
        initial.update({name: getattr(faults, name) for name in cls.FAULT_FIELDS})
        return initial

    def faults(self) -> Faults:
        return Faults(**{name: self.cleaned_data[name] for name in self.FAULT_FIELDS})
