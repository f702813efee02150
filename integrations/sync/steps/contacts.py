"""Contacts: ContactNumber (our earlier link) → exact name → email; otherwise created.

One lookup for the chunk (numbers, names and emails ORed together) — none at all in a large
first sync, which reads the organisation's contacts once (:func:`index_organisation`) — and
writes of at most 50 contacts each: our ContactNumber onto contacts matched by name or email
(POST), and the contacts that are missing (PUT: a POST without ContactID would update whichever
contact has that name, an archived one included). Archived contacts are never used. A contact
found by name that carries another ContactNumber is another record with the same name: the
configured rule either links to it anyway or creates "Name (Account id)" (Xero forbids two
active contacts with one name); logged either way. Both writes are prerequisites: a lost one is
settled by looking the number up.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from integrations.connections.xero import where
from integrations.connections.xero.api import CONTACTS_PER_PAGE
from integrations.connections.xero.records import Contact
from integrations.sync import protocol
from integrations.sync.context import ContactDirectory, RunContext
from integrations.sync.models import ContactLink, SyncLogEntry, XeroOperation
from integrations.sync.protocol import Element, Handler, register
from integrations.sync.translate import ContactDraft, content_hash

if TYPE_CHECKING:
    from integrations.sync.steps.chunk import Work

Kind = XeroOperation.Kind
Outcome = SyncLogEntry.Outcome
BATCH = 50


def match(ctx: RunContext, work: list[Work]) -> None:
    """Sets each work's ``contact_id`` (or its ``problem``)."""
    wanted = {w.contact.contact_number: w.contact for w in work}
    missing = {n: c for n, c in wanted.items() if n not in ctx.contacts}
    if missing:
        _recall(ctx, missing)
        missing = {n: c for n, c in missing.items() if n not in ctx.contacts}
    if missing:
        claims, creates = _find(ctx, missing, work)
        if claims:
            _claim(ctx, claims)
        if creates:
            _create(ctx, creates, work)
        _remember(ctx, [n for n in missing if n in ctx.contacts])
    for w in work:
        if w.contact.contact_number in ctx.contacts:
            w.contact_id, w.contact_name = ctx.contacts[w.contact.contact_number]


def _recall(ctx: RunContext, missing: Mapping[str, ContactDraft]) -> None:
    """Contacts found or created by an earlier run, while their links are fresh."""
    fresh = timezone.now() - dt.timedelta(seconds=settings.XERO_LOOKUP_TTL)
    for number, contact_id, name in ContactLink.objects.filter(
        integration=ctx.integration, contact_number__in=list(missing), verified_at__gte=fresh
    ).values_list("contact_number", "xero_contact_id", "name"):
        ctx.contacts[number] = (contact_id, name)


def _remember(ctx: RunContext, numbers: Sequence[str]) -> None:
    """The contacts this run found or created in Xero, for the runs after it."""
    if not numbers or settings.XERO_LOOKUP_TTL <= 0:
        return
    now = timezone.now()
    ContactLink.objects.bulk_create(
        [
            ContactLink(
                integration=ctx.integration,
                contact_number=number,
                xero_contact_id=ctx.contacts[number][0],
                name=ctx.contacts[number][1][:255],
                verified_at=now,
            )
            for number in numbers
        ],
        update_conflicts=True,
        unique_fields=["integration", "contact_number"],
        update_fields=["xero_contact_id", "name", "verified_at"],
    )


def forget(*, integration_id: int, contact_ids: Sequence[str], before: dt.datetime) -> int:
    """Links to these Xero contacts last verified before ``before`` are stale (a CONTACT
    event or a refused invoice said the contact changed); returns how many."""
    deleted, _ = ContactLink.objects.filter(
        integration_id=integration_id,
        xero_contact_id__in=[c.lower() for c in contact_ids if c],
        verified_at__lt=before,
    ).delete()
    return deleted


def index_organisation(ctx: RunContext, *, budget: int) -> bool:
    """Reads every contact of the organisation into ``ctx.directory``, 1,000 a page, if that
    takes at most ``budget`` calls (what the per-chunk lookups it replaces would cost); False,
    and no directory, when the organisation has more contacts than that is worth."""
    directory = ContactDirectory()
    for page in range(1, budget + 1):
        contacts = ctx.xero.contacts_page(page)
        for contact in contacts:
            directory.add(contact)
        if len(contacts) < CONTACTS_PER_PAGE:
            ctx.directory = directory
            return True
    return False


def _find(
    ctx: RunContext, missing: dict[str, ContactDraft], work: list[Work]
) -> tuple[list[tuple[str, str]], list[ContactDraft]]:
    """Links what the lookup finds; returns (ContactID, number) claims and drafts to create."""
    if ctx.directory is not None:
        known = ctx.directory
    else:
        known = ContactDirectory()
        terms = [where.equals("ContactNumber", n) for n in missing]
        terms += [where.equals("Name", c.name) for c in missing.values()]
        terms += [where.equals("EmailAddress", c.email) for c in missing.values() if c.email]
        for clause in where.join_or(terms):
            for contact in ctx.xero.contacts_where(clause):
                known.add(contact)
    by_number, by_name, by_email = known.by_number, known.by_name, known.by_email
    creates: list[ContactDraft] = []
    claims: list[tuple[str, str]] = []
    for number, draft in missing.items():
        if number in by_number:
            found = by_number[number]
            ctx.contacts[number] = (found.contact_id, found.name)
            continue
        named = by_name.get(draft.name.lower())
        mailed = by_email.get(draft.email.lower()) if draft.email else None
        chosen = named
        if chosen is None and mailed is not None and not mailed.number:
            chosen = mailed
        if chosen is None:
            creates.append(draft)
            continue
        if not chosen.number:
            ctx.contacts[number] = (chosen.contact_id, chosen.name)
            claims.append((chosen.contact_id, number))
            # Numbered now, as a lookup later in the run would find it.
            numbered = dataclasses.replace(chosen, number=number)
            known.by_name[chosen.name.lower()] = numbered
            if chosen.email:
                known.by_email[chosen.email.lower()] = numbered
            continue
        if ctx.config.contact_name_collision == "link":
            ctx.contacts[number] = (chosen.contact_id, chosen.name)
            message = (
                f"Xero contact {chosen.name!r} belongs to another record "
                f"(ContactNumber {chosen.number}); the invoice is addressed to it, as configured."
            )
        else:
            suffix = f" ({number})"
            renamed = dataclasses.replace(
                draft, name=draft.name[: 255 - len(suffix)].rstrip() + suffix
            )
            creates.append(renamed)
            message = (
                f"Xero contact {chosen.name!r} belongs to another record "
                f"(ContactNumber {chosen.number}); a contact named {renamed.name!r} is used for "
                "this customer, as configured."
            )
        for w in work:
            if w.contact.contact_number == number:
                ctx.log(Outcome.WARNING, message, ledger=w.ledger, step="contact")
    return claims, creates


def _claim(ctx: RunContext, claims: list[tuple[str, str]]) -> None:
    """Our ContactNumber onto contacts matched by name or email: the next run finds them by
    number even after a rename. The links stand for this run whatever the answer."""
    elements = [
        Element(
            subject=f"{contact_id}:{number}"[:255],
            body={"ContactID": contact_id, "ContactNumber": number},
            content_hash=content_hash({"ContactID": contact_id, "ContactNumber": number}),
            lookup={"contact_id": contact_id, "number": number},
        )
        for contact_id, number in claims
    ]
    for start in range(0, len(elements), BATCH):
        protocol.write(
            ctx,
            Kind.CONTACT_NUMBER,
            elements[start : start + BATCH],
            lambda bodies, key: ctx.xero.write_contacts(bodies, key=key, create=False),
        )


def _create(ctx: RunContext, creates: list[ContactDraft], work: list[Work]) -> None:
    elements = [
        Element(
            subject=draft.contact_number,
            body=draft.to_xero(),
            content_hash=content_hash(draft.to_xero()),
            lookup={"number": draft.contact_number, "name": draft.name},
        )
        for draft in creates
    ]
    results: list[tuple[XeroOperation, Contact | None]] = []
    for start in range(0, len(elements), BATCH):
        results += protocol.write(
            ctx,
            Kind.CONTACT,
            elements[start : start + BATCH],
            lambda bodies, key: ctx.xero.write_contacts(bodies, key=key, create=True),
        )
    for op, answer in results:
        if answer is not None and ctx.directory is not None:
            ctx.directory.add(answer)
        if answer is None:
            name = op.lookup.get("name")
            for w in work:
                if w.contact.contact_number != op.subject:
                    continue
                if op.state == XeroOperation.State.UNKNOWN:
                    # It may exist: the next run's settle looks it up before anything else.
                    w.waits = f"Waiting for Xero's answer about the contact {name!r}."
                else:
                    w.problem = f"Xero refused the contact {name!r}: " + (
                        op.last_error or "no reason given"
                    )


class ContactHandler(Handler):
    kind = Kind.CONTACT
    settles_waiting = True
    waiting_picked_up_by = "settle: looked up by ContactNumber at the start of the next run"

    def lookup(self, ctx: RunContext, ops: list[XeroOperation]) -> Mapping[int, Contact]:
        numbers = {str(op.lookup.get("number", "")) for op in ops}
        found: dict[str, Contact] = {}
        for clause in where.any_of("ContactNumber", sorted(numbers)):
            for contact in ctx.xero.contacts_where(clause):
                if contact.status != "ARCHIVED":
                    found.setdefault(contact.number, contact)
        return {
            op.pk: found[str(op.lookup.get("number"))]
            for op in ops
            if str(op.lookup.get("number")) in found
        }

    def done(self, ctx: RunContext, op: XeroOperation, answer: Contact, *, found: bool) -> None:
        ctx.contacts[op.subject] = (answer.contact_id, answer.name)

    def failed(self, ctx: RunContext, op: XeroOperation, errors: Sequence[str]) -> None:
        """Each invoice needing it fails with Xero's words (the chunk's step says so)."""


class ContactNumberHandler(Handler):
    kind = Kind.CONTACT_NUMBER
    settles_waiting = True
    waiting_picked_up_by = "settle: looked up at the start of the next run, else cancelled"

    def lookup(self, ctx: RunContext, ops: list[XeroOperation]) -> Mapping[int, Any]:
        numbers = sorted({str(op.lookup.get("number", "")) for op in ops})
        have: dict[str, Contact] = {}
        for clause in where.any_of("ContactNumber", numbers):
            for contact in ctx.xero.contacts_where(clause):
                have[contact.number] = contact
        found: dict[int, Any] = {}
        for op in ops:
            numbered = have.get(str(op.lookup.get("number")))
            if numbered is not None and numbered.contact_id == op.lookup.get("contact_id"):
                found[op.pk] = numbered
        return found

    def done(self, ctx: RunContext, op: XeroOperation, answer: Any, *, found: bool) -> None:
        """The link already stands in this run; the next run finds the contact by number."""

    def failed(self, ctx: RunContext, op: XeroOperation, errors: Sequence[str]) -> None:
        # Without the number the next run matches by name again and tries once more.
        ctx.log(
            Outcome.WARNING,
            f"Xero did not take our ContactNumber {op.lookup.get('number')} on a contact found "
            f"by name or email ({'; '.join(errors)}); it is matched by name again next time.",
            step=op.kind,
        )


register(ContactHandler())
register(ContactNumberHandler())
