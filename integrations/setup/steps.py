"""The setup wizard's steps: what each one covers, which are done, where a problem belongs.

A step is done once someone saved it (recorded in the integration's stored configuration under
:data:`DONE_KEY`, a key the sync ignores), and every step counts as done on an integration that
is already switched on. The connection steps are done while their connection is active.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing.tasks import queue_items_sync
from integrations.connections.models import Connection
from integrations.core.models import ConfigChange, Integration

DONE_KEY: Final = "setup_done"
"""Stored configuration key: the keys of the steps someone saved (not a SyncConfig key)."""

RULE_TABLES: Final = ("payment_methods", "tax_rules", "tracking_rules")


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    intro: str
    kind: Literal["connect", "config", "push", "review"] = "config"
    keys: tuple[str, ...] = ()
    """The SyncConfig keys this step sets."""
    rules: str = ""
    """The rule table this step edits, if any."""

    @property
    def url_name(self) -> str:
        return f"setup_{self.key}"

    @property
    def path(self) -> str:
        return self.key.replace("_", "-")


STEPS: Final = (
    Step(
        "xero",
        "Connect Xero",
        "The Xero organisation invoices are created in.",
        kind="connect",
    ),
    Step(
        "salesforce",
        "Connect Salesforce",
        "The Salesforce org whose won opportunities are read.",
        kind="connect",
    ),
    Step(
        "opportunities",
        "Which opportunities",
        "Which won opportunities become invoices, and from when.",
        keys=("stage", "stage_confirmed", "start_date"),
    ),
    Step(
        "customers",
        "Customers and products",
        "How Salesforce Accounts become Xero contacts and products become Xero items.",
        keys=("contact_name_collision", "create_missing_items"),
    ),
    Step(
        "invoices",
        "Invoices",
        "What every invoice looks like in Xero.",
        keys=(
            "invoice_status",
            "invoice_number_pattern",
            "reference_field",
            "payment_terms_days",
            "branding_theme_id",
            "sales_account_code",
            "line_amount_types",
        ),
    ),
    Step(
        "payments",
        "Payment methods",
        "How customers pay, whether to invoice them, and whether to record the payment in Xero.",
        keys=("payment_method_field", "default_payment_method"),
        rules="payment_methods",
    ),
    Step(
        "tax",
        "Tax",
        "Which Xero tax rate the invoice lines carry.",
        keys=("tax_mode", "default_tax_type", "tax_field", "export_tax_type"),
        rules="tax_rules",
    ),
    Step(
        "currencies",
        "Currencies",
        "Invoices in the opportunity's currency, and at whose exchange rate.",
        keys=("default_currency", "enable_missing_currencies", "use_salesforce_rates"),
    ),
    Step(
        "tracking",
        "Tracking",
        "Tag invoice lines with Xero tracking categories (at most two), for reports by region, "
        "team or channel.",
        rules="tracking_rules",
    ),
    Step(
        "credit_notes",
        "Credit notes",
        "What happens in Xero when an invoiced deal is withdrawn or shrinks.",
        keys=(
            "credit_note_on_withdrawal",
            "void_unpaid_instead",
            "credit_note_on_amount_drop",
            "negative_lines",
        ),
    ),
    Step(
        "push",
        "Real-time push",
        "Optional: Salesforce tells us the moment a deal is won, so its invoice is in Xero within "
        "seconds instead of at the next poll.",
        kind="push",
    ),
    Step(
        "writeback",
        "Write-back to Salesforce",
        "Optional: show on each opportunity what Xero says of its invoice (number, status, "
        "amounts paid and due), updated within seconds of a change in Xero.",
        keys=("writeback_enabled", "writeback_fields"),
    ),
    Step(
        "review",
        "Review and switch on",
        "Everything checked against your Xero and Salesforce; syncing starts when you switch "
        "it on.",
        kind="review",
    ),
)

BY_KEY: Final = {step.key: step for step in STEPS}
# Push is saved like a setting step (by continuing past it), though it is optional.
CONFIGURED_STEPS: Final = tuple(s.key for s in STEPS if s.kind in ("config", "push"))
STEP_OF_SETTING: Final = {key: step for step in STEPS for key in step.keys}
STEP_OF_TABLE: Final = {step.rules: step for step in STEPS if step.rules}
# Problems about something other than a setting, by where they are fixed.
_OTHER: Final = {
    "xero_connection": "xero",
    "xero": "xero",
    "salesforce_connection": "salesforce",
    "salesforce": "salesforce",
    "Account.BillingCountry": "tax",
}


def step(key: str) -> Step:
    return BY_KEY[key]


def next_step(current: Step) -> Step:
    index = STEPS.index(current)
    return STEPS[min(index + 1, len(STEPS) - 1)]


def step_for_field(field: str) -> Step:
    """The step where a problem's ``field`` is fixed: a SyncConfig key, a rule table or a
    ``<table>:<row>`` label; anything else belongs to the review."""
    table = field.split(":", 1)[0] if ":" in field else field
    if table in STEP_OF_TABLE:
        return STEP_OF_TABLE[table]
    if field in STEP_OF_SETTING:
        return STEP_OF_SETTING[field]
    if table in STEP_OF_SETTING:  # ``writeback_fields:<source>``
        return STEP_OF_SETTING[table]
    if field in _OTHER:
        return BY_KEY[_OTHER[field]]
    if field in BY_KEY:  # a problem naming the step itself ("currencies")
        return BY_KEY[field]
    return BY_KEY["review"]


def done_steps(integration: Integration) -> set[str]:
    """The keys of the steps that are done (see the module's docstring)."""
    done: set[str] = set()
    for connection, key in (
        (integration.xero_connection, "xero"),
        (integration.salesforce_connection, "salesforce"),
    ):
        if connection is not None and connection.status == Connection.Status.ACTIVE:
            done.add(key)
    saved = (integration.config or {}).get(DONE_KEY) or []
    configured = set(CONFIGURED_STEPS)
    if integration.is_enabled:
        done |= configured | {"review"}
    else:
        done |= configured & {str(k) for k in saved}
    return done


def resume_step(integration: Integration) -> Step:
    """The first step not done yet (the review when all are)."""
    done = done_steps(integration)
    for candidate in STEPS:
        # Push is optional (the poll works without it): it never holds the wizard back.
        if candidate.key not in done and candidate.kind != "push":
            return candidate
    return BY_KEY["review"]


def mark_done(integration: Integration, keys: Iterable[str]) -> None:
    """Records steps as saved, under a row lock so that a concurrent save keeps its keys."""
    with transaction.atomic():
        config = (
            Integration.objects.select_for_update()
            .values_list("config", flat=True)
            .get(pk=integration.pk)
        )
        config = dict(config or {})
        saved = [str(k) for k in config.get(DONE_KEY) or []]
        added = [k for k in keys if k not in saved]
        if not added:
            integration.config = {**(integration.config or {}), DONE_KEY: saved}
            return
        config[DONE_KEY] = saved + added
        Integration.objects.filter(pk=integration.pk).update(config=config)
    integration.config = config


def switch_on(*, integration: Integration, user: User | None = None) -> None:
    """Syncing on. The caller has checked the configuration (see the review view)."""
    _switch(integration=integration, on=True, user=user)


def switch_off(*, integration: Integration, user: User | None = None) -> None:
    _switch(integration=integration, on=False, user=user)


def _switch(*, integration: Integration, on: bool, user: User | None) -> None:
    now = timezone.now()
    with transaction.atomic():
        changed = (
            Integration.objects.filter(pk=integration.pk)
            .exclude(is_enabled=on)
            .update(
                is_enabled=on,
                switched_off_at=None if on else now,
                switched_off_by=None if on else user,
            )
        )
        if changed:
            if on:
                # Every step was checked by the review that allowed this: the wizard keeps its
                # ticks when syncing is later switched off.
                mark_done(integration, CONFIGURED_STEPS)
            # Switching on or off is the most consequential change: it belongs in the history.
            ConfigChange.objects.create(
                integration=integration,
                user=user,
                what="syncing",
                old="off" if on else "on",
                new="on" if on else "off",
            )
            # What Stripe bills follows the switched-on integrations (after commit).
            queue_items_sync(integration.account_id)
    integration.is_enabled = on
    integration.switched_off_at = None if on else now
    integration.switched_off_by = None if on else user
