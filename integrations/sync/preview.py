"""What the sync would send for one opportunity, computed as the engine does, written nowhere.

For the configuration panel's preview: a person picks an opportunity and sees the contact, items,
invoice (with the tax and totals Xero will compute), payment and credit note the current
configuration produces. Reads Salesforce (the opportunity) and the cached Xero organisation
settings; makes no Xero write and records no sync run, ledger row or log entry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from integrations.connections.salesforce.client import SalesforceClient, salesforce_client
from integrations.connections.salesforce.reader import (
    ReadSpec,
    org_has_currency,
    select_clause,
    soql_literal,
    to_record,
)
from integrations.connections.salesforce.records import Opportunity, RateTable
from integrations.connections.xero.metadata import organisation_metadata
from integrations.core.config import SyncConfig
from integrations.core.models import Integration
from integrations.rules.payments import payment_account_for, payment_date
from integrations.rules.problems import RuleProblem
from integrations.rules.selectors import rule_set_for
from integrations.rules.specs import RuleSet, fields_needed
from integrations.sync import calendar
from integrations.sync.models import LedgerEntry
from integrations.sync.steps.decide import decide, rate_between
from integrations.sync.translate import (
    ContactDraft,
    InvoiceDraft,
    InvoiceLineDraft,
    InvoiceTotals,
    ItemDraft,
    TranslationError,
    contact_for,
    credit_lines_for,
    invoice_for,
    item_for,
)

MAX_MATCHES = 20


@dataclass(frozen=True)
class OpportunityMatch:
    salesforce_id: str
    name: str
    stage: str
    close_date: dt.date | None
    amount: Decimal | None
    account_name: str
    is_won: bool


@dataclass(frozen=True)
class PaymentPreview:
    method: str
    account_code: str
    account_name: str
    date: dt.date
    amount: Decimal
    currency: str
    problem: str = ""


@dataclass(frozen=True)
class Preview:
    opportunity: Opportunity
    counts: bool
    """Whether the opportunity counts (won stage, start date) and would be synced now."""
    existing_invoice: str = ""
    """The invoice number already in Xero for it (an update, not a new invoice)."""
    not_invoiced_by: str = ""
    """The payment method that says no invoice, if any."""
    problems: tuple[str, ...] = ()
    """Why it would wait or fail instead of being sent."""
    contact: ContactDraft | None = None
    items: tuple[ItemDraft, ...] = ()
    invoice: InvoiceDraft | None = None
    totals: InvoiceTotals | None = None
    invoice_json: dict[str, Any] = dataclasses.field(default_factory=dict)
    payment: PaymentPreview | None = None
    credit_lines: tuple[InvoiceLineDraft, ...] = ()
    credit_total: Decimal | None = None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def preview_opportunity(*, integration_id: int, query: str) -> list[OpportunityMatch]:
    """Opportunities whose name contains ``query`` (most recently closed first), won or not."""
    integration = Integration.objects.select_related("salesforce_connection").get(pk=integration_id)
    text = query.strip()
    if not text or integration.salesforce_connection is None:
        return []
    pattern = soql_literal(f"%{_escape_like(text[:80])}%")
    # The search text goes in as an escaped SOQL literal (quotes, backslashes, wildcards).
    soql = (
        "SELECT Id, Name, StageName, CloseDate, Amount, IsWon, Account.Name FROM Opportunity "  # noqa: S608
        f"WHERE Name LIKE {pattern} ORDER BY CloseDate DESC NULLS LAST LIMIT {MAX_MATCHES}"
    )
    with salesforce_client(integration.salesforce_connection) as salesforce:
        page = next(salesforce.query_pages(soql))
    matches = []
    for raw in page.get("records", []):
        account = raw.get("Account") or {}
        matches.append(
            OpportunityMatch(
                salesforce_id=str(raw["Id"]),
                name=str(raw.get("Name") or ""),
                stage=str(raw.get("StageName") or ""),
                close_date=dt.date.fromisoformat(raw["CloseDate"])
                if raw.get("CloseDate")
                else None,
                amount=Decimal(str(raw["Amount"])) if raw.get("Amount") is not None else None,
                account_name=str(account.get("Name") or ""),
                is_won=bool(raw.get("IsWon")),
            )
        )
    return matches


def preview_document(*, integration_id: int, salesforce_id: str) -> Preview:
    """The documents the current configuration makes of one opportunity; raises LookupError
    when Salesforce has no such opportunity."""
    integration = Integration.objects.select_related(
        "salesforce_connection", "xero_connection"
    ).get(pk=integration_id)
    if integration.salesforce_connection is None or integration.xero_connection is None:
        raise LookupError("Connect both Salesforce and Xero first.")
    config = SyncConfig.from_json(integration.config)
    rules = rule_set_for(integration.pk)
    metadata = organisation_metadata(integration.xero_connection)
    with salesforce_client(integration.salesforce_connection) as salesforce:
        opportunity = _read_one(salesforce, config, rules, salesforce_id)
        rates: list[RateTable] = []

        def rate(opp: Opportunity, currency: str) -> Decimal:
            if not rates:
                rates.append(salesforce.conversion_rates())
            return rate_between(
                rates[0], opp, currency, metadata.base_currency, today=calendar.today()
            )

        counts = opportunity.stage == config.stage if config.stage else opportunity.is_won
        if config.start_date and opportunity.close_date:
            counts = counts and opportunity.close_date >= config.start_date
        ledger = LedgerEntry.objects.filter(
            integration=integration, salesforce_id=opportunity.salesforce_id
        ).first()
        existing = ledger.xero_invoice_number if ledger and ledger.xero_invoice_id else ""
        try:
            decision = decide(opportunity, config, rules, metadata, rate=rate)
        except RuleProblem as problem:
            return Preview(opportunity, counts, existing, problems=(problem.message,))
    if decision.method is not None and not decision.method.create_invoice:
        return Preview(opportunity, counts, existing, not_invoiced_by=decision.method.name)
    try:
        contact = contact_for(opportunity, config)
        invoice = invoice_for(opportunity, config, rules=decision.rules)
        credit = (
            credit_lines_for(opportunity, config, decision.rules)
            if decision.rules.negative_lines_apart
            else ()
        )
    except TranslationError as exc:
        return Preview(opportunity, counts, existing, problems=(str(exc),))
    tax_rates = metadata.tax_rate_percentages()
    totals = invoice.expected_totals(tax_rates)
    items = tuple(
        {
            item.code: item for item in (item_for(line, config) for line in opportunity.lines)
        }.values()
    )
    payment = None
    if decision.method is not None and decision.method.apply_payment:
        try:
            account = payment_account_for(decision.method, decision.currency, metadata)
            payment = PaymentPreview(
                method=decision.method.name,
                account_code=account.code,
                account_name=account.name,
                date=payment_date(invoice.date, decision.method.clearing_delay_days),
                amount=totals.total,
                currency=decision.currency,
            )
        except RuleProblem as problem:
            payment = PaymentPreview(
                method=decision.method.name,
                account_code="",
                account_name="",
                date=invoice.date,
                amount=totals.total,
                currency=decision.currency,
                problem=problem.message,
            )
    credit_total = None
    if credit:
        credit_draft = dataclasses.replace(invoice, lines=credit, type="ACCRECCREDIT")
        credit_total = credit_draft.expected_totals(tax_rates).total
    return Preview(
        opportunity=opportunity,
        counts=counts,
        existing_invoice=existing,
        contact=contact,
        items=items,
        invoice=invoice,
        totals=totals,
        invoice_json=invoice.to_xero(),
        payment=payment,
        credit_lines=credit,
        credit_total=credit_total,
    )


def _read_one(
    salesforce: SalesforceClient, config: SyncConfig, rules: RuleSet, salesforce_id: str
) -> Opportunity:
    """The opportunity as the engine reads it (same SELECT), whatever its stage."""
    describe = salesforce.describe("Opportunity")
    opportunity_fields, account_fields = fields_needed(config, rules)
    if config.reference_field != "Name" and config.reference_field not in opportunity_fields:
        opportunity_fields = (*opportunity_fields, config.reference_field)
    spec = ReadSpec(
        multi_currency=org_has_currency(describe),
        opportunity_fields=opportunity_fields,
        account_fields=account_fields,
    )
    soql = f"{select_clause(spec)} WHERE Id = {soql_literal(salesforce_id)}"
    for page in salesforce.query_pages(soql):
        for raw in page.get("records", []):
            return to_record(raw, spec, salesforce)
    raise LookupError(f"Salesforce has no opportunity {salesforce_id}.")
