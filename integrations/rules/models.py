"""What a person configures per integration: payment methods, tax rules and tracking rules.

Registered under the ``integrations`` app (``integrations/models.py`` imports them). ``clean()``
validates each row and normalises what people type ("Canada" becomes ``CA``); the sync reads
them through :class:`integrations.rules.specs.RuleSet`, never these instances.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Final

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models.functions import Lower

from integrations.core.config import ConfigError, SyncConfig
from integrations.rules.countries import (
    ISO_CODES,
    REGION_COUNTRIES,
    country_name,
    normalize_country,
    normalize_region,
)

MAX_TRACKING_RULES: Final = 2
"""Xero allows at most two active tracking categories, and two tracking entries per line."""
MAX_CLEARING_DELAY_DAYS: Final = 365
MAX_PAYMENT_TERMS_DAYS: Final = 3650
MAX_OPTION_NAME: Final = 100
"""Xero's limit on a tracking option's name."""

CURRENCY_CODE: Final = re.compile(r"^[A-Z]{3}$")
ACCOUNT_CODE: Final = re.compile(r"^[A-Za-z0-9._-]{1,10}$")
TAX_TYPE: Final = re.compile(r"^[A-Za-z0-9_]{1,50}$")
# An Opportunity field, a field of its Account (Account.Region__c), or the owner's name.
TRACKING_FIELD: Final = re.compile(r"^(?:Account\.)?[A-Za-z][A-Za-z0-9_]{0,79}$|^Owner\.Name$")


class PaymentMethod(models.Model):
    """How one Salesforce payment method (a picklist value) is invoiced and paid in Xero."""

    class InvoiceStatus(models.TextChoices):
        DEFAULT = "", "As the integration (default)"
        DRAFT = "DRAFT", "Draft"
        AUTHORISED = "AUTHORISED", "Approved (Authorised)"

    integration = models.ForeignKey(
        "integrations.Integration",
        on_delete=models.CASCADE,
        related_name="payment_methods",
        help_text="The integration this payment method belongs to.",
    )
    name = models.CharField(
        max_length=255,
        help_text=(
            "The payment method exactly as Salesforce shows it in the payment method field, "
            'e.g. "Credit card" or "Paid in shop" (capital letters do not matter).'
        ),
    )
    create_invoice = models.BooleanField(
        default=True,
        help_text=(
            "Create an invoice in Xero for opportunities paid this way. Turn off for sales "
            "already recorded elsewhere, e.g. paid in shop through the till."
        ),
    )
    apply_payment = models.BooleanField(
        default=False,
        help_text=(
            "Record the invoice as paid in Xero straight away (e.g. card payments), into the "
            "bank account below. Needs approved (Authorised) invoices."
        ),
    )
    bank_account_code = models.CharField(
        max_length=10,
        blank=True,
        help_text=(
            "The code of the Xero bank account the money arrives in, e.g. 090. Needed to "
            "record payments; it may also be an account with payments enabled."
        ),
    )
    currency_accounts = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "Optional: a different bank account per currency, e.g. "
            '{"EUR": "091", "GBP": "092"} puts euro payments into account 091. '
            "Other currencies use the bank account above."
        ),
    )
    clearing_delay_days = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_CLEARING_DELAY_DAYS)],
        help_text=(
            "Days between the close date and the day the money reaches the bank (0 to 365), "
            "e.g. 2 for card settlements: the payment is dated that many days later."
        ),
    )
    invoice_status = models.CharField(
        max_length=16,
        choices=InvoiceStatus.choices,
        default=InvoiceStatus.DEFAULT,
        blank=True,
        help_text="Whether invoices paid this way are created as drafts or approved.",
    )
    payment_terms_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_PAYMENT_TERMS_DAYS)],
        help_text=(
            "Days after the close date the invoice is due; leave empty to use the "
            "integration's payment terms."
        ),
    )

    class Meta:
        ordering = ("integration", "name")
        constraints: ClassVar = [
            models.UniqueConstraint(
                "integration",
                Lower("name"),
                name="rules_payment_method_unique_name",
                violation_error_message="This integration already has a payment method of "
                "that name.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        errors: dict[str, str] = {}
        self.name = self.name.strip()
        self.bank_account_code = self.bank_account_code.strip()
        if not self.name:
            errors["name"] = "Enter the payment method as Salesforce shows it."
        if self.bank_account_code and not ACCOUNT_CODE.match(self.bank_account_code):
            errors["bank_account_code"] = (
                "Enter a Xero account code: up to 10 letters or digits, e.g. 090."
            )
        try:
            self.currency_accounts = clean_currency_accounts(self.currency_accounts)
        except ValidationError as exc:
            errors["currency_accounts"] = exc.messages[0]
        if self.apply_payment:
            if not self.create_invoice:
                errors["apply_payment"] = (
                    "A payment needs an invoice to pay: turn on creating invoices, or turn off "
                    "recording payments."
                )
            elif not self.bank_account_code:
                errors["bank_account_code"] = (
                    "Choose the bank account payments go into (currency accounts cover only "
                    "their own currencies)."
                )
            elif self._effective_status() != "AUTHORISED":
                errors["invoice_status"] = (
                    "Xero records payments only on approved invoices: choose Authorised, or "
                    "turn off recording payments."
                )
        if errors:
            raise ValidationError(errors)

    def _effective_status(self) -> str:
        if self.invoice_status:
            return self.invoice_status
        try:
            config = self.integration.config
        except ObjectDoesNotExist:
            config = None  # an integration being added: its configuration is not saved yet
        try:
            return SyncConfig.from_json(config).invoice_status
        except ConfigError:
            # The integration's own form reports its configuration; do not block this row on it.
            return "AUTHORISED"


def clean_currency_accounts(value: Any) -> dict[str, str]:
    """``{"EUR": "091"}`` with codes trimmed and upper-cased; ValidationError otherwise."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationError(
            'Enter currency accounts as {"EUR": "091"}: currency code, then account code.'
        )
    cleaned: dict[str, str] = {}
    for raw_currency, raw_code in value.items():
        currency = str(raw_currency).strip().upper()
        if not CURRENCY_CODE.match(currency):
            raise ValidationError(
                f"{raw_currency!r} is not a currency code: use three letters, e.g. EUR."
            )
        if not isinstance(raw_code, str) or not ACCOUNT_CODE.match(raw_code.strip()):
            raise ValidationError(
                f"The account for {currency} must be a Xero account code, e.g. 091, "
                f"not {raw_code!r}."
            )
        if currency in cleaned:
            raise ValidationError(f"{currency} is listed twice.")
        cleaned[currency] = raw_code.strip()
    return cleaned


class TaxRule(models.Model):
    """The Xero tax rate for customers in one country, or one state or province of it."""

    integration = models.ForeignKey(
        "integrations.Integration",
        on_delete=models.CASCADE,
        related_name="tax_rules",
        help_text="The integration this tax rule belongs to.",
    )
    country = models.CharField(
        max_length=60,
        help_text=(
            "The customer's billing country: a 2-letter code (US, GB, CA, AU, DE...) or its "
            "name, which is saved as the code."
        ),
    )
    region = models.CharField(
        max_length=60,
        blank=True,
        help_text=(
            "Optional, for the United States, Canada and Australia: a state, province or "
            "territory (e.g. NY, ON, NSW). Leave empty for the whole country; a rule for a "
            "region wins over the one for its whole country."
        ),
    )
    tax_type = models.CharField(
        max_length=50,
        help_text=(
            "The Xero tax rate's code (its TaxType, e.g. TAX001 or OUTPUT2), as in Xero under "
            "Settings > Tax rates. It must be active and usable on sales."
        ),
    )

    class Meta:
        ordering = ("integration", "country", "region")
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=("integration", "country", "region"),
                name="rules_tax_rule_unique_place",
                violation_error_message="This integration already has a tax rule for that "
                "country and region.",
            ),
        ]

    def __str__(self) -> str:
        place = f"{self.country}/{self.region}" if self.region else self.country
        return f"{place} → {self.tax_type}"

    def clean(self) -> None:
        super().clean()
        errors: dict[str, str] = {}
        typed_country = self.country.strip()
        country = normalize_country(typed_country)
        if not country or country not in ISO_CODES:
            errors["country"] = (
                f"{typed_country!r} is not a country we recognise: enter its 2-letter code, "
                "e.g. US, GB or CA."
            )
        else:
            self.country = country
        typed_region = self.region.strip()
        self.region = typed_region
        if typed_region and country:
            if country not in REGION_COUNTRIES:
                errors["region"] = (
                    f"Regions apply to the United States, Canada and Australia only: leave it "
                    f"empty for {country_name(country)}."
                )
            else:
                region = normalize_region(country, typed_region)
                if region:
                    self.region = region
                else:
                    errors["region"] = (
                        f"{typed_region!r} is not a state, province or territory of "
                        f"{country_name(country)}: enter its code, e.g. "
                        f"{_REGION_EXAMPLES[country]}."
                    )
        self.tax_type = self.tax_type.strip()
        if not TAX_TYPE.match(self.tax_type):
            errors["tax_type"] = (
                "Enter the Xero tax rate's code (letters, digits and _), e.g. TAX001 or OUTPUT2."
            )
        if errors:
            raise ValidationError(errors)


_REGION_EXAMPLES: Final = {"US": "NY or CA", "CA": "ON or BC", "AU": "NSW or VIC"}


class TrackingRule(models.Model):
    """Which option of one Xero tracking category every invoice line gets."""

    class Source(models.TextChoices):
        FIXED = "fixed", "Always the same option"
        FIELD = "field", "From a Salesforce field"

    integration = models.ForeignKey(
        "integrations.Integration",
        on_delete=models.CASCADE,
        related_name="tracking_rules",
        help_text="The integration this tracking rule belongs to.",
    )
    category_name = models.CharField(
        max_length=100,
        help_text=(
            'The Xero tracking category, as named in Xero, e.g. "Region". Xero allows two '
            "active categories, so at most two rules."
        ),
    )
    source = models.CharField(
        max_length=8,
        choices=Source.choices,
        default=Source.FIXED,
        help_text="Use one option for every invoice, or pick it from a Salesforce field.",
    )
    fixed_option = models.CharField(
        max_length=MAX_OPTION_NAME,
        blank=True,
        help_text='The option every invoice gets, e.g. "Online shop" (when always the same).',
    )
    field = models.CharField(
        max_length=100,
        blank=True,
        help_text=(
            "The Salesforce field holding the option (when from a field): an Opportunity field "
            "such as Region__c, an Account field such as Account.Region__c, or Owner.Name for "
            "the opportunity owner."
        ),
    )
    mapping = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "Optional: Salesforce values and the Xero option each becomes, e.g. "
            '{"NE": "North East", "Jane Doe": "Sales team A"}. A value not listed is used as '
            'the option name itself; "" maps a blank field.'
        ),
    )
    create_missing_options = models.BooleanField(
        default=False,
        help_text=(
            "Add an option to the Xero category when it does not exist yet. Off: the "
            "opportunity waits and the log says which option to add."
        ),
    )

    class Meta:
        ordering = ("integration", "id")
        constraints: ClassVar = [
            models.UniqueConstraint(
                "integration",
                Lower("category_name"),
                name="rules_tracking_rule_unique_category",
                violation_error_message="This integration already has a rule for that "
                "tracking category.",
            ),
        ]

    def __str__(self) -> str:
        if self.source == self.Source.FIXED:
            return f"{self.category_name}: {self.fixed_option}"
        return f"{self.category_name}: from {self.field}"

    def clean(self) -> None:
        super().clean()
        errors: dict[str, str] = {}
        self.category_name = self.category_name.strip()
        self.fixed_option = self.fixed_option.strip()
        self.field = self.field.strip()
        if not self.category_name:
            errors["category_name"] = "Enter the tracking category's name as in Xero."
        if self.source == self.Source.FIXED:
            if not self.fixed_option:
                errors["fixed_option"] = "Enter the option every invoice gets."
        elif not TRACKING_FIELD.match(self.field):
            errors["field"] = (
                "Enter a Salesforce field API name, e.g. Region__c, Account.Region__c or "
                "Owner.Name."
            )
        try:
            self.mapping = clean_mapping(self.mapping)
        except ValidationError as exc:
            errors["mapping"] = exc.messages[0]
        # The admin's formset counts its own rows (some may be deleted in the same save).
        if self.integration_id is not None and not getattr(self, "_counted_by_formset", False):
            others = TrackingRule.objects.filter(integration_id=self.integration_id)
            if self.pk is not None:
                others = others.exclude(pk=self.pk)
            if others.count() >= MAX_TRACKING_RULES:
                errors["category_name"] = (
                    f"Xero has at most {MAX_TRACKING_RULES} active tracking categories, so an "
                    f"integration has at most {MAX_TRACKING_RULES} tracking rules."
                )
        if errors:
            raise ValidationError(errors)


def clean_mapping(value: Any) -> dict[str, str]:
    """Salesforce value → Xero option, trimmed; one value may not map twice (in any case)."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationError('Enter the mapping as {"Salesforce value": "Xero option"}.')
    cleaned: dict[str, str] = {}
    seen: set[str] = set()
    for raw_key, raw_option in value.items():
        key = str(raw_key).strip()
        if not isinstance(raw_option, str) or not raw_option.strip():
            raise ValidationError(f"Enter the Xero option for {key!r}.")
        option = raw_option.strip()
        if len(option) > MAX_OPTION_NAME:
            raise ValidationError(
                f"The option for {key!r} is longer than Xero's {MAX_OPTION_NAME} characters."
            )
        folded = key.casefold()
        if folded in seen:
            raise ValidationError(f"{key!r} is listed twice (capital letters do not matter).")
        seen.add(folded)
        cleaned[key] = option
    return cleaned
