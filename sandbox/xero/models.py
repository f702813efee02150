"""Simulated Xero: OAuth apps, organisations, tokens, connections and accounting resources.

Document lines are kept as JSON on their document (strings for amounts, parsed back into
``Decimal``): the simulator never queries by line, and one row per document keeps batch writes
of 50 invoices to a handful of queries.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import models
from django.db.models.functions import Lower


def _uuid() -> uuid.UUID:
    return uuid.uuid4()


class XeroApp(models.Model):
    """A registered OAuth2 app. An empty ``redirect_uris`` accepts any redirect URI (sandbox
    convenience; real Xero requires an exact match with a registered URI)."""

    name = models.CharField(max_length=200)
    client_id = models.CharField(max_length=100, unique=True)
    client_secret = models.CharField(max_length=200)
    redirect_uris = models.JSONField(default=list, blank=True)
    app_minute_limit = models.PositiveIntegerField(default=10_000)
    minute_window = models.BigIntegerField(default=0)
    minute_count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.name

    def accepts_redirect(self, uri: str) -> bool:
        return not self.redirect_uris or uri in self.redirect_uris


class XeroOrganisation(models.Model):
    """A simulated Xero organisation (a Xero "tenant"), with its limits, faults and webhook."""

    class Version(models.TextChoices):
        US = "US"
        UK = "UK"
        AU = "AU"
        NZ = "NZ"
        CA = "GLOBAL", "Global (e.g. Canada)"

    name = models.CharField(max_length=200)
    organisation_id = models.UUIDField(default=_uuid, unique=True)
    short_code = models.CharField(max_length=20, blank=True)
    country_code = models.CharField(max_length=2, default="US")
    version = models.CharField(max_length=10, choices=Version.choices, default=Version.US)
    base_currency = models.CharField(max_length=3, default="USD")
    created_at = models.DateTimeField(auto_now_add=True)
    # Limits (Xero: 5 concurrent, 60 a minute, 5,000 a day).
    limits_enabled = models.BooleanField(default=True)
    concurrent_limit = models.PositiveIntegerField(default=5)
    minute_limit = models.PositiveIntegerField(default=60)
    day_limit = models.PositiveIntegerField(default=5000)
    in_flight = models.IntegerField(default=0)
    minute_window = models.BigIntegerField(default=0)
    minute_count = models.PositiveIntegerField(default=0)
    day_window = models.BigIntegerField(default=0)
    day_count = models.PositiveIntegerField(default=0)
    request_count = models.BigIntegerField(default=0)
    faults = models.JSONField(default=dict, blank=True)
    # Webhooks.
    webhook_url = models.URLField(blank=True)
    webhook_key = models.CharField(max_length=200, blank=True)
    webhook_sequence = models.PositiveIntegerField(default=0)
    # Document numbering (INV-0001, CN-0001).
    next_invoice_number = models.PositiveIntegerField(default=1)
    next_credit_note_number = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return self.name


class AuthorizationCode(models.Model):
    code = models.CharField(max_length=100, unique=True)
    app = models.ForeignKey(XeroApp, on_delete=models.CASCADE)
    redirect_uri = models.CharField(max_length=500)
    scope = models.CharField(max_length=1000)
    code_challenge = models.CharField(max_length=200, blank=True)
    code_challenge_method = models.CharField(max_length=10, blank=True)
    organisations = models.ManyToManyField(XeroOrganisation)
    created_at = models.DateTimeField()
    used = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.code[:8]


class Grant(models.Model):
    """One consent: the app, the scopes and the organisations (as connections) it reaches."""

    app = models.ForeignKey(XeroApp, on_delete=models.CASCADE)
    scope = models.CharField(max_length=1000)
    auth_event_id = models.UUIDField(default=_uuid)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.app_id}:{self.auth_event_id}"


class Connection(models.Model):
    connection_id = models.UUIDField(default=_uuid, unique=True)
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="connections")
    organisation = models.ForeignKey(XeroOrganisation, on_delete=models.CASCADE)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["grant", "organisation"], name="sbx_xero_conn_uniq")
        ]

    def __str__(self) -> str:
        return str(self.connection_id)


class AccessToken(models.Model):
    token = models.CharField(max_length=200, unique=True)
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.token[:8]


class RefreshToken(models.Model):
    token = models.CharField(max_length=200, unique=True)
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE)
    created_at = models.DateTimeField()
    # The pair this token was exchanged for: replayed during the 30-minute grace period.
    rotated_at = models.DateTimeField(null=True, blank=True)
    replaced_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces"
    )
    access_token = models.OneToOneField(AccessToken, null=True, on_delete=models.SET_NULL)

    def __str__(self) -> str:
        return self.token[:8]


class OrgScoped(models.Model):
    organisation = models.ForeignKey(XeroOrganisation, on_delete=models.CASCADE)
    updated_at = models.DateTimeField()

    class Meta:
        abstract = True


class Currency(OrgScoped):
    code = models.CharField(max_length=3)
    description = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.code


class TaxRate(OrgScoped):
    name = models.CharField(max_length=100)
    tax_type = models.CharField(max_length=50)
    report_tax_type = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=20, default="ACTIVE")
    can_apply_to_revenue = models.BooleanField(default=True)
    can_apply_to_expenses = models.BooleanField(default=True)
    # [{"Name", "Rate" (str), "IsCompound", "IsNonRecoverable"}]
    components = models.JSONField(default=list)

    def __str__(self) -> str:
        return self.tax_type

    @property
    def effective_rate(self) -> Decimal:
        """Percent. A compound component is charged on the amount plus the simple components
        (as Xero's EffectiveRate reflects): GST 5 + QST 9.5 compound = 14.975. Rounded to 4
        places (the sandbox's choice; Xero's own rounding of it is not documented)."""
        simple = sum(
            (Decimal(str(c["Rate"])) for c in self.components if not c.get("IsCompound")),
            Decimal("0"),
        )
        compound = sum(
            (Decimal(str(c["Rate"])) for c in self.components if c.get("IsCompound")),
            Decimal("0"),
        )
        if not compound:
            return simple
        return (simple + compound * (1 + simple / 100)).quantize(Decimal("0.0001"))


class Account(OrgScoped):
    account_id = models.UUIDField(default=_uuid, unique=True)
    code = models.CharField(max_length=10, blank=True)
    name = models.CharField(max_length=150)
    type = models.CharField(max_length=30)
    status = models.CharField(max_length=20, default="ACTIVE")
    tax_type = models.CharField(max_length=50, blank=True)
    currency_code = models.CharField(max_length=3, blank=True)
    bank_account_number = models.CharField(max_length=50, blank=True)
    enable_payments_to_account = models.BooleanField(default=False)
    account_class = models.CharField(max_length=20, blank=True)

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def accepts_payments(self) -> bool:
        return self.type == "BANK" or self.enable_payments_to_account


class TrackingCategory(OrgScoped):
    tracking_category_id = models.UUIDField(default=_uuid, unique=True)
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=20, default="ACTIVE")

    def __str__(self) -> str:
        return self.name


class TrackingOption(models.Model):
    tracking_option_id = models.UUIDField(default=_uuid, unique=True)
    category = models.ForeignKey(TrackingCategory, on_delete=models.CASCADE, related_name="options")
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=20, default="ACTIVE")

    def __str__(self) -> str:
        return self.name


class BrandingTheme(OrgScoped):
    branding_theme_id = models.UUIDField(default=_uuid, unique=True)
    name = models.CharField(max_length=100)
    sort_order = models.IntegerField(default=0)

    def __str__(self) -> str:
        return self.name


class Contact(OrgScoped):
    contact_id = models.UUIDField(default=_uuid, unique=True)
    name = models.CharField(max_length=255)
    contact_number = models.CharField(max_length=50, blank=True)
    account_number = models.CharField(max_length=50, blank=True)
    email_address = models.CharField(max_length=255, blank=True)
    first_name = models.CharField(max_length=255, blank=True)
    last_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, default="ACTIVE")
    # Addresses, Phones, TaxNumber, DefaultCurrency and the like, as sent.
    extra = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(Lower("name"), "organisation", name="sbx_xero_contact_name")]

    def __str__(self) -> str:
        return self.name


class Item(OrgScoped):
    item_id = models.UUIDField(default=_uuid, unique=True)
    code = models.CharField(max_length=30)
    name = models.CharField(max_length=50, blank=True)
    description = models.TextField(blank=True)
    is_sold = models.BooleanField(default=True)
    is_purchased = models.BooleanField(default=True)
    # {"UnitPrice": str, "AccountCode", "TaxType"}
    sales_details = models.JSONField(default=dict)
    purchase_details = models.JSONField(default=dict)

    def __str__(self) -> str:
        return self.code


class Document(OrgScoped):
    """What invoices and credit notes share: a contact, lines and computed totals."""

    type = models.CharField(max_length=20)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT)
    status = models.CharField(max_length=20, default="DRAFT")
    line_amount_types = models.CharField(max_length=20, default="Exclusive")
    date = models.DateField()
    due_date = models.DateField(null=True, blank=True)
    reference = models.CharField(max_length=255, blank=True)
    currency_code = models.CharField(max_length=3)
    currency_rate = models.DecimalField(max_digits=18, decimal_places=10, default=Decimal(1))
    branding_theme_id = models.UUIDField(null=True, blank=True)
    sent_to_contact = models.BooleanField(default=False)
    # [{"LineItemID", "Description", "Quantity", "UnitAmount", "DiscountRate", "ItemCode",
    #   "AccountCode", "TaxType", "TaxAmount", "LineAmount", "Tracking": [...]}], amounts str.
    lines = models.JSONField(default=list)
    sub_total = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal(0))
    total_tax = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal(0))
    total = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal(0))
    total_discount = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal(0))
    fully_paid_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        abstract = True


class Invoice(Document):
    invoice_id = models.UUIDField(default=_uuid, unique=True)
    invoice_number = models.CharField(max_length=255, blank=True)
    amount_paid = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal(0))
    amount_credited = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal(0))

    class Meta:
        indexes = [models.Index(fields=["organisation", "invoice_number"])]

    def __str__(self) -> str:
        return self.invoice_number or str(self.invoice_id)

    @property
    def amount_due(self) -> Decimal:
        if self.status in ("VOIDED", "DELETED"):
            return Decimal("0.00")
        return self.total - self.amount_paid - self.amount_credited


class CreditNote(Document):
    credit_note_id = models.UUIDField(default=_uuid, unique=True)
    credit_note_number = models.CharField(max_length=255, blank=True)
    amount_allocated = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal(0))

    def __str__(self) -> str:
        return self.credit_note_number or str(self.credit_note_id)

    @property
    def remaining_credit(self) -> Decimal:
        if self.status not in ("AUTHORISED", "PAID"):
            return Decimal("0.00")
        return self.total - self.amount_allocated


class Payment(OrgScoped):
    payment_id = models.UUIDField(default=_uuid, unique=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="payments")
    account = models.ForeignKey(Account, on_delete=models.PROTECT)
    date = models.DateField()
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    currency_rate = models.DecimalField(max_digits=18, decimal_places=10, default=Decimal(1))
    reference = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, default="AUTHORISED")

    def __str__(self) -> str:
        return str(self.payment_id)


class Allocation(models.Model):
    allocation_id = models.UUIDField(default=_uuid, unique=True)
    credit_note = models.ForeignKey(
        CreditNote, on_delete=models.CASCADE, related_name="allocations"
    )
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="allocations")
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    date = models.DateField()

    def __str__(self) -> str:
        return str(self.allocation_id)


class IdempotencyRecord(models.Model):
    """A write's answer, replayed byte-for-byte for the same key and request."""

    organisation = models.ForeignKey(XeroOrganisation, on_delete=models.CASCADE)
    key = models.CharField(max_length=128)
    request_hash = models.CharField(max_length=64)
    status = models.PositiveIntegerField()
    body = models.BinaryField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "key"], name="sbx_xero_idem_uniq")
        ]

    def __str__(self) -> str:
        return self.key


class WebhookDelivery(models.Model):
    organisation = models.ForeignKey(XeroOrganisation, on_delete=models.CASCADE)
    created_at = models.DateTimeField()
    payload = models.JSONField()
    status = models.IntegerField(null=True)
    error = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"delivery {self.pk}"
