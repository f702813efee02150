"""The organisation's settings a chunk's invoices need: currencies to enable and tracking
options to create (as configured), written through the protocol before the invoices use them.

Both are prerequisites: re-derived whenever a chunk needs them, so an operation of theirs left
waiting or unknown is settled by looking it up (found → done, else cancelled and planned again
when needed). The cached copy of the organisation's settings is updated in place, not re-read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from integrations.connections.providers import ProviderError
from integrations.connections.xero.metadata import (
    metadata_note_currency,
    metadata_note_option,
    organisation_metadata,
)
from integrations.connections.xero.records import Currency, TrackingOption
from integrations.sync import protocol
from integrations.sync.context import RunContext
from integrations.sync.models import SyncLogEntry, XeroOperation
from integrations.sync.protocol import Element, Handler, register

if TYPE_CHECKING:
    from integrations.sync.steps.chunk import Work

Kind = XeroOperation.Kind
Outcome = SyncLogEntry.Outcome


def prepare(ctx: RunContext, work: list[Work]) -> None:
    """Currencies to enable and tracking options to create, before the invoices use them."""
    currencies = sorted(
        {
            w.draft.currency_code
            for w in work
            if w.draft.currency_code and w.draft.currency_code not in ctx.metadata.currencies
        }
    )
    for code in currencies:
        blocked = _enable(ctx, code)
        if blocked:
            _hold([w for w in work if w.draft.currency_code == code], *blocked)
    wanted: dict[tuple[str, str], list[Work]] = {}
    for w in work:
        for pair in w.new_options:
            wanted.setdefault(pair, []).append(w)
    for (category, option), needing in sorted(wanted.items()):
        info = ctx.metadata.tracking_categories.get(category)
        if info is None or info.option(option) is not None:
            continue
        blocked = _create_option(ctx, info.category_id, category, option)
        if blocked:
            _hold(needing, *blocked)


def _hold(work: list[Work], message: str, unknown: bool) -> None:
    """A refusal fails the invoices needing it; a lost answer makes them wait for the next
    run, whose settle looks the write up first."""
    for w in work:
        if unknown:
            w.waits = message
        else:
            w.problem = message


def _enable(ctx: RunContext, code: str) -> tuple[str, bool] | None:
    """None when the currency is enabled now; else why not, and whether the outcome is
    unknown."""
    results = protocol.write(
        ctx,
        Kind.CURRENCY,
        [Element(subject=code, body={"Code": code}, content_hash=code, lookup={"code": code})],
        lambda bodies, key: [ctx.xero.enable_currency(code, key=key)],
    )
    op, answer = results[0]
    if answer is not None:
        return None
    if code in _current_currencies(ctx):
        # Refused because it is there already (our copy was stale), or its answer was lost
        # after it was enabled: just as good.
        metadata_note_currency(ctx.integration.xero_connection, code)
        ctx.metadata = _with_currency(ctx, code)
        return None
    if op.state == XeroOperation.State.UNKNOWN:
        return f"Waiting for Xero's answer about enabling currency {code}.", True
    return (
        f"Currency {code} could not be enabled in Xero: {op.last_error or 'no reason given'}",
        False,
    )


def _create_option(
    ctx: RunContext, category_id: str, category: str, option: str
) -> tuple[str, bool] | None:
    subject = f"{category_id}:{option.lower()}"[:255]
    results = protocol.write(
        ctx,
        Kind.TRACKING_OPTION,
        [
            Element(
                subject=subject,
                body={"Name": option},
                content_hash=subject,
                lookup={"category_id": category_id, "category": category, "name": option},
            )
        ],
        lambda bodies, key: [ctx.xero.create_tracking_option(category_id, option, key=key)],
    )
    op, answer = results[0]
    if answer is not None:
        return None
    if op.state == XeroOperation.State.UNKNOWN:
        return f"Waiting for Xero's answer about tracking option {option!r} in {category!r}.", True
    return (
        f"Tracking option {option!r} could not be created in {category!r}: "
        f"{op.last_error or 'no reason given'}",
        False,
    )


def _current_currencies(ctx: RunContext) -> set[str]:
    try:
        return {c.code for c in ctx.xero.currencies()}
    except ProviderError:
        return set()


def _with_currency(ctx: RunContext, code: str) -> Any:
    return dataclasses.replace(ctx.metadata, currencies=frozenset({*ctx.metadata.currencies, code}))


class CurrencyHandler(Handler):
    kind = Kind.CURRENCY
    settles_waiting = True
    waiting_picked_up_by = "settle: looked up at the start of the next run, else cancelled"

    def lookup(self, ctx: RunContext, ops: list[XeroOperation]) -> Mapping[int, Currency]:
        have = {c.code: c for c in ctx.xero.currencies()}
        return {op.pk: have[op.subject] for op in ops if op.subject in have}

    def done(self, ctx: RunContext, op: XeroOperation, answer: Currency, *, found: bool) -> None:
        metadata_note_currency(ctx.integration.xero_connection, op.subject)
        ctx.metadata = _with_currency(ctx, op.subject)
        ctx.log(Outcome.UPDATED, f"Currency {op.subject} enabled in Xero.", step=op.kind)

    def failed(self, ctx: RunContext, op: XeroOperation, errors: Sequence[str]) -> None:
        ctx.log(
            Outcome.WARNING,
            f"Xero did not enable currency {op.subject}: {'; '.join(errors)}",
            step=op.kind,
        )


class TrackingOptionHandler(Handler):
    kind = Kind.TRACKING_OPTION
    settles_waiting = True
    waiting_picked_up_by = "settle: looked up at the start of the next run, else cancelled"

    def lookup(self, ctx: RunContext, ops: list[XeroOperation]) -> Mapping[int, TrackingOption]:
        found: dict[int, TrackingOption] = {}
        categories: dict[str, Any] = {}
        for op in ops:
            category_id = str(op.lookup.get("category_id", ""))
            if category_id not in categories:
                categories[category_id] = ctx.xero.tracking_category(category_id)
            category = categories[category_id]
            name = str(op.lookup.get("name", "")).lower()
            for option in category.options if category is not None else ():
                if option.name.lower() == name:
                    found[op.pk] = option
        return found

    def done(
        self, ctx: RunContext, op: XeroOperation, answer: TrackingOption, *, found: bool
    ) -> None:
        category = str(op.lookup.get("category", ""))
        metadata_note_option(
            ctx.integration.xero_connection,
            str(op.lookup.get("category_id", "")),
            option_id=answer.option_id,
            name=answer.name,
        )
        connection = ctx.integration.xero_connection
        assert connection is not None
        # The cached copy was updated in place: reading it costs no call.
        ctx.metadata = organisation_metadata(connection)
        ctx.log(
            Outcome.UPDATED,
            f"Tracking option {answer.name!r} created in {category!r}.",
            step=op.kind,
        )

    def failed(self, ctx: RunContext, op: XeroOperation, errors: Sequence[str]) -> None:
        ctx.log(
            Outcome.WARNING,
            f"Xero did not create tracking option {op.lookup.get('name')!r}: {'; '.join(errors)}",
            step=op.kind,
        )


register(CurrencyHandler())
register(TrackingOptionHandler())
