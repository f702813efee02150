"""The simulated Salesforce: orgs, connected apps, tokens, query cursors and the records.

Records keep their Salesforce id in ``sf_id``; the database primary key is internal. Text fields
store "" for Salesforce's null (Salesforce has no empty strings) and the API renders "" as null.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone


class SalesforceOrg(models.Model):
    """A simulated Salesforce org, with its limits, faults and outbound-message endpoint."""

    name = models.CharField(max_length=200, unique=True)
    pod = models.CharField(
        max_length=2, unique=True, help_text="Two characters inside every id of this org."
    )
    org_id = models.CharField(max_length=18, unique=True)
    user_id = models.CharField(max_length=18)
    username = models.CharField(max_length=200)
    display_name = models.CharField(max_length=200, default="Sandbox Admin")
    multi_currency = models.BooleanField(default=True)
    corporate_currency = models.CharField(max_length=3, default="USD")
    currencies = models.JSONField(default=list, blank=True)
    dated_exchange_rates = models.BooleanField(
        default=False,
        help_text="Advanced currency management: DatedConversionRate exists (multi-currency only).",
    )
    api_enabled = models.BooleanField(
        default=True, help_text="Off simulates Professional edition: API_DISABLED_FOR_ORG."
    )
    daily_api_max = models.PositiveIntegerField(default=100_000)
    api_usage = models.PositiveIntegerField(default=0)
    api_usage_day = models.DateField(null=True, blank=True)
    request_count = models.PositiveIntegerField(
        default=0, help_text="All API requests ever served; fault injection counts on it."
    )
    session_timeout_seconds = models.PositiveIntegerField(default=7200)
    child_page_size = models.PositiveIntegerField(
        default=200, help_text="Child subquery rows per parent before the child pages."
    )
    faults = models.JSONField(default=dict, blank=True)
    outbound_url = models.URLField(blank=True, default="")
    read_only_fields = models.JSONField(
        default=list,
        blank=True,
        help_text="Field-level security: Opportunity fields the API user may read but not edit "
        "(describe says updateable false; writes are refused).",
    )
    id_sequence = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name

    @property
    def currency_codes(self) -> list[str]:
        if not self.multi_currency:
            return [self.corporate_currency]
        codes = [str(c) for c in self.currencies or []]
        return codes if self.corporate_currency in codes else [self.corporate_currency, *codes]


class ConnectedApp(models.Model):
    """An OAuth client. An empty ``callback_urls`` accepts any redirect URI (sandbox only)."""

    name = models.CharField(max_length=200)
    consumer_key = models.CharField(max_length=200, unique=True)
    consumer_secret = models.CharField(max_length=200)
    callback_urls = models.JSONField(default=list, blank=True)
    require_secret = models.BooleanField(
        default=True, help_text="Require the secret in the web-server flow (Salesforce default)."
    )

    def __str__(self) -> str:
        return self.name

    def accepts_redirect(self, redirect_uri: str) -> bool:
        return not self.callback_urls or redirect_uri in self.callback_urls


class AuthorizationCode(models.Model):
    code_hash = models.CharField(max_length=64, unique=True)
    app = models.ForeignKey(ConnectedApp, on_delete=models.CASCADE)
    org = models.ForeignKey(SalesforceOrg, on_delete=models.CASCADE)
    redirect_uri = models.TextField()
    scope = models.CharField(max_length=500, blank=True, default="")
    code_challenge = models.CharField(max_length=200, blank=True, default="")
    expires_at = models.DateTimeField()
    used = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"code for {self.app} in {self.org}"


class RefreshToken(models.Model):
    """Salesforce's default: refresh tokens do not rotate and live until revoked."""

    token_hash = models.CharField(max_length=64, unique=True)
    app = models.ForeignKey(ConnectedApp, on_delete=models.CASCADE)
    org = models.ForeignKey(SalesforceOrg, on_delete=models.CASCADE)
    scope = models.CharField(max_length=500, blank=True, default="")
    revoked = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"refresh token for {self.app} in {self.org}"


class AccessToken(models.Model):
    token_hash = models.CharField(max_length=64, unique=True)
    app = models.ForeignKey(ConnectedApp, on_delete=models.CASCADE, null=True, blank=True)
    org = models.ForeignKey(SalesforceOrg, on_delete=models.CASCADE)
    refresh_token = models.ForeignKey(RefreshToken, on_delete=models.CASCADE, null=True, blank=True)
    scope = models.CharField(max_length=500, blank=True, default="")
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"session in {self.org} until {self.expires_at:%Y-%m-%d %H:%M}"


class QueryCursor(models.Model):
    """The rest of a query's result, by primary key, so any process can serve the next page."""

    class Kind(models.TextChoices):
        ROOT = "root"
        CHILD = "child"

    locator = models.CharField(max_length=18, unique=True)
    org = models.ForeignKey(SalesforceOrg, on_delete=models.CASCADE)
    kind = models.CharField(max_length=5, choices=Kind.choices)
    soql = models.TextField()
    include_deleted = models.BooleanField(default=False)
    child_index = models.PositiveIntegerField(default=0)
    pks = models.JSONField(default=list)
    batch_size = models.PositiveIntegerField(default=2000)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.locator


class SObject(models.Model):
    """Fields every simulated record has."""

    org = models.ForeignKey(SalesforceOrg, on_delete=models.CASCADE)
    sf_id = models.CharField(max_length=18, unique=True)
    created_date = models.DateTimeField(default=timezone.now)
    last_modified_date = models.DateTimeField(default=timezone.now)
    system_modstamp = models.DateTimeField(default=timezone.now, db_index=True)
    is_deleted = models.BooleanField(default=False)
    deleted_date = models.DateTimeField(null=True, blank=True)
    currency_iso_code = models.CharField(max_length=3, blank=True, default="")

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.sf_id


class Account(SObject):
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=255, blank=True, default="")
    billing_street = models.CharField(max_length=255, blank=True, default="")
    billing_city = models.CharField(max_length=40, blank=True, default="")
    billing_state = models.CharField(max_length=80, blank=True, default="")
    billing_postal_code = models.CharField(max_length=20, blank=True, default="")
    billing_country = models.CharField(max_length=80, blank=True, default="")
    phone = models.CharField(max_length=40, blank=True, default="")
    website = models.CharField(max_length=255, blank=True, default="")
    region = models.CharField(max_length=255, blank=True, default="")

    def __str__(self) -> str:
        return self.name


class Contact(SObject):
    account = models.ForeignKey(Account, on_delete=models.SET_NULL, null=True, blank=True)
    first_name = models.CharField(max_length=40, blank=True, default="")
    last_name = models.CharField(max_length=80)
    name = models.CharField(max_length=121)
    email = models.CharField(max_length=80, blank=True, default="")
    phone = models.CharField(max_length=40, blank=True, default="")

    def __str__(self) -> str:
        return self.name


class Product2(SObject):
    name = models.CharField(max_length=255)
    product_code = models.CharField(max_length=255, blank=True, default="")
    description = models.TextField(blank=True, default="")
    is_active = models.BooleanField(default=True)
    family = models.CharField(max_length=255, blank=True, default="")

    def __str__(self) -> str:
        return self.name


class Pricebook2(SObject):
    name = models.CharField(max_length=255)
    description = models.CharField(max_length=255, blank=True, default="")
    is_active = models.BooleanField(default=True)
    is_standard = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name


class PricebookEntry(SObject):
    pricebook = models.ForeignKey(Pricebook2, on_delete=models.CASCADE)
    product = models.ForeignKey(Product2, on_delete=models.CASCADE)
    unit_price = models.DecimalField(max_digits=18, decimal_places=2)
    is_active = models.BooleanField(default=True)
    use_standard_price = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pricebook", "product", "currency_iso_code"], name="sf_pbe_unique"
            )
        ]


class Opportunity(SObject):
    account = models.ForeignKey(Account, on_delete=models.SET_NULL, null=True, blank=True)
    pricebook = models.ForeignKey(Pricebook2, on_delete=models.SET_NULL, null=True, blank=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, default="")
    stage_name = models.CharField(max_length=255)
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    probability = models.DecimalField(max_digits=3, decimal_places=0, null=True, blank=True)
    close_date = models.DateField()
    is_closed = models.BooleanField(default=False)
    is_won = models.BooleanField(default=False)
    payment_method = models.CharField(max_length=255, blank=True, default="")
    region = models.CharField(max_length=255, blank=True, default="")
    # Custom fields a Salesforce admin would add for what Xero says of the invoice; written
    # over the API only (a product's write-back), shown on the opportunity's page.
    xero_invoice_number = models.CharField(max_length=255, blank=True, default="")
    xero_status = models.CharField(max_length=255, blank=True, default="")
    xero_amount_due = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    xero_amount_paid = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    xero_paid_date = models.DateField(null=True, blank=True)
    xero_invoice_url = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["org", "system_modstamp"], name="sf_opp_org_stamp")]
        verbose_name_plural = "opportunities"

    def __str__(self) -> str:
        return self.name


class OpportunityLineItem(SObject):
    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE)
    pricebook_entry = models.ForeignKey(PricebookEntry, on_delete=models.RESTRICT)
    product = models.ForeignKey(Product2, on_delete=models.RESTRICT)
    sort_order = models.PositiveIntegerField(default=0)
    quantity = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal(1))
    unit_price = models.DecimalField(max_digits=18, decimal_places=2)
    list_price = models.DecimalField(max_digits=18, decimal_places=2)
    discount = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    total_price = models.DecimalField(max_digits=18, decimal_places=2)
    description = models.CharField(max_length=255, blank=True, default="")
    service_date = models.DateField(null=True, blank=True)


class OpportunityContactRole(SObject):
    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE)
    role = models.CharField(max_length=255, blank=True, default="")
    is_primary = models.BooleanField(default=False)


class OpportunityStage(SObject):
    """A value of the org's Stage picklist with what Salesforce knows of it (won, closed):
    describe's picklist entries do not say which stages are won; this setup object does."""

    api_name = models.CharField(max_length=255)
    master_label = models.CharField(max_length=255)
    is_active = models.BooleanField(default=True)
    is_closed = models.BooleanField(default=False)
    is_won = models.BooleanField(default=False)
    default_probability = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "api_name"], name="sf_stage_unique")]

    def __str__(self) -> str:
        return self.master_label


class CurrencyType(SObject):
    """A currency of a multi-currency org, with its static rate against the corporate one."""

    iso_code = models.CharField(max_length=3)
    conversion_rate = models.DecimalField(
        max_digits=18,
        decimal_places=6,
        help_text="Units of this currency per 1 unit of the corporate currency.",
    )
    decimal_places = models.PositiveSmallIntegerField(default=2)
    is_active = models.BooleanField(default=True)
    is_corporate = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "iso_code"], name="sf_currencytype_unique")
        ]

    def __str__(self) -> str:
        return self.iso_code


class DatedConversionRate(SObject):
    """One period's rate (advanced currency management): from ``start_date`` up to, not
    including, ``next_start_date``; Salesforce keeps the periods of a currency contiguous."""

    iso_code = models.CharField(max_length=3)
    conversion_rate = models.DecimalField(
        max_digits=18,
        decimal_places=6,
        help_text="Units of this currency per 1 unit of the corporate currency.",
    )
    start_date = models.DateField()
    next_start_date = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["org", "iso_code", "start_date"], name="sf_datedrate_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.iso_code} from {self.start_date}"


class OutboundDelivery(models.Model):
    """One outbound SOAP message to the org's endpoint, retried until acknowledged."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    org = models.ForeignKey(SalesforceOrg, on_delete=models.CASCADE)
    url = models.URLField()
    notification_id = models.CharField(max_length=18, unique=True)
    record_id = models.CharField(max_length=18)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.record_id} → {self.url} ({self.status})"
