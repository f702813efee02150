"""Items: one lookup for the chunk's item codes, one batch create for those missing (when
configured). A line whose item exists in neither stays, without its item code, and says so."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from integrations.connections.xero import where
from integrations.connections.xero.records import Item
from integrations.sync import protocol
from integrations.sync.context import RunContext
from integrations.sync.models import ItemLink, SyncLogEntry, XeroOperation
from integrations.sync.protocol import Element, Handler, register
from integrations.sync.translate import ItemDraft, content_hash, item_for

if TYPE_CHECKING:
    from integrations.sync.steps.chunk import Work

Kind = XeroOperation.Kind
Outcome = SyncLogEntry.Outcome


def match(ctx: RunContext, work: list[Work]) -> None:
    drafts: dict[str, ItemDraft] = {}
    for w in work:
        # By code, not by position: the draft may hold fewer lines than the opportunity
        # (negative lines kept apart for a credit note).
        by_code: dict[str, ItemDraft] = {}
        for line in w.opportunity.lines:
            made = item_for(line, ctx.config)
            by_code.setdefault(made.code, made)
        for draft_line in w.draft.lines:
            code = draft_line.item_code
            if code and code not in ctx.items and code in by_code:
                drafts.setdefault(code, by_code[code])
    if drafts:
        _recall(ctx, drafts)
        drafts = {code: d for code, d in drafts.items() if code not in ctx.items}
    if drafts:
        for clause in where.any_of("Code", drafts):
            for item in ctx.xero.items_where(clause):
                ctx.items.add(item.code)
        missing = [d for code, d in drafts.items() if code not in ctx.items]
        if missing and ctx.config.create_missing_items:
            protocol.write(
                ctx,
                Kind.ITEM,
                [
                    Element(
                        subject=d.code,
                        body=d.to_xero(),
                        content_hash=content_hash(d.to_xero()),
                        lookup={"code": d.code},
                    )
                    for d in missing
                ],
                lambda bodies, key: ctx.xero.create_items(bodies, key=key),
            )
        _remember(ctx, [code for code in drafts if code in ctx.items])
        for draft in missing:
            if draft.shortened_from:
                ctx.log(
                    Outcome.WARNING,
                    f"Product code {draft.shortened_from!r} is longer than Xero's 30 "
                    f"characters: its Xero item is {draft.code!r} (the same every time).",
                    step="item",
                )
    for w in work:
        dropped = [
            ln.item_code for ln in w.draft.lines if ln.item_code and ln.item_code not in ctx.items
        ]
        if dropped:
            lines = tuple(
                ln if ln.item_code in ctx.items else dataclasses.replace(ln, item_code="")
                for ln in w.draft.lines
            )
            w.draft = dataclasses.replace(w.draft, lines=lines)
            ctx.log(
                Outcome.WARNING,
                f"No Xero item for {', '.join(sorted(set(dropped)))}: the invoice lines carry "
                "no item code (turn on creating missing items, or add them in Xero).",
                ledger=w.ledger,
                step="item",
            )


def _recall(ctx: RunContext, drafts: Mapping[str, ItemDraft]) -> None:
    """Codes an earlier run saw in Xero, while fresh (``XERO_LOOKUP_TTL``, as contacts)."""
    fresh = timezone.now() - dt.timedelta(seconds=settings.XERO_LOOKUP_TTL)
    ctx.items.update(
        ItemLink.objects.filter(
            integration=ctx.integration, code__in=list(drafts), verified_at__gte=fresh
        ).values_list("code", flat=True)
    )


def _remember(ctx: RunContext, codes: Sequence[str]) -> None:
    if not codes or settings.XERO_LOOKUP_TTL <= 0:
        return
    now = timezone.now()
    ItemLink.objects.bulk_create(
        [ItemLink(integration=ctx.integration, code=code, verified_at=now) for code in codes],
        update_conflicts=True,
        unique_fields=["integration", "code"],
        update_fields=["verified_at"],
    )


def forget(*, integration_id: int) -> None:
    """Every item code is looked up again (an invoice was refused: an item may be why)."""
    ItemLink.objects.filter(integration_id=integration_id).delete()


class ItemHandler(Handler):
    kind = Kind.ITEM
    settles_waiting = True
    waiting_picked_up_by = "settle: looked up by Code at the start of the next run"

    def lookup(self, ctx: RunContext, ops: list[XeroOperation]) -> Mapping[int, Item]:
        have: dict[str, Item] = {}
        for clause in where.any_of("Code", [op.subject for op in ops]):
            for item in ctx.xero.items_where(clause):
                have[item.code] = item
        return {op.pk: have[op.subject] for op in ops if op.subject in have}

    def done(self, ctx: RunContext, op: XeroOperation, answer: Item, *, found: bool) -> None:
        ctx.items.add(op.subject)

    def failed(self, ctx: RunContext, op: XeroOperation, errors: Sequence[str]) -> None:
        ctx.log(
            Outcome.WARNING,
            f"Xero did not create item {op.subject!r} ({'; '.join(errors)}): the lines carry no "
            "item code.",
            step="item",
        )


register(ItemHandler())
