"""Writes to the simulated org (HackSoft style: keyword-only ``<entity>_<action>``).

Every change to an opportunity, its line items or contact roles bumps the opportunity's
``SystemModstamp``: the product's incremental sync reads on it, so a change that did not move
the stamp would be invisible to it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import string
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import F, Sum
from django.utils import timezone

from sandbox.db import atomic
from sandbox.salesforce import outbound
from sandbox.salesforce.describe import STAGES
from sandbox.salesforce.ids import KEY_PREFIXES, base62, make_id
from sandbox.salesforce.models import (
    AccessToken,
    Account,
    ConnectedApp,
    Contact,
    Opportunity,
    OpportunityContactRole,
    OpportunityLineItem,
    OpportunityStage,
    Pricebook2,
    PricebookEntry,
    Product2,
    RefreshToken,
    SalesforceOrg,
    SObject,
)

DEMO_CONSUMER_KEY = "carrytheone-sandbox"
DEMO_CONSUMER_SECRET = "sandbox-secret-salesforce"  # noqa: S105 - public sandbox credential
CENT = Decimal("0.01")
_TOKEN_CHARS = string.ascii_letters + string.digits + "._"
STAGE_INFO = {name: (probability, closed, won) for name, probability, closed, won in STAGES}


def now_ms() -> dt.datetime:
    """Salesforce keeps milliseconds; storing more would make SOQL literals miss rows."""
    now = timezone.now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


# --- orgs and ids -----------------------------------------------------------------------------


def org_create(
    *,
    name: str,
    pod: str | None = None,
    multi_currency: bool = True,
    corporate_currency: str = "USD",
    currencies: list[str] | None = None,
    **fields: Any,
) -> SalesforceOrg:
    if pod is None:
        taken = set(SalesforceOrg.objects.values_list("pod", flat=True))
        pod = next(p for p in (base62(i, 2) for i in range(100, 62 * 62)) if p not in taken)
    org = SalesforceOrg.objects.create(
        name=name,
        pod=pod,
        org_id=make_id(KEY_PREFIXES["Organization"], pod, 1),
        user_id=make_id(KEY_PREFIXES["User"], pod, 1),
        username=fields.pop("username", f"admin@{pod.lower()}.sandbox.example"),
        multi_currency=multi_currency,
        corporate_currency=corporate_currency,
        currencies=list(currencies or [corporate_currency]) if multi_currency else [],
        **fields,
    )
    pricebook_ensure_standard(org=org)
    stages_seed(org=org)
    return org


def stages_seed(*, org: SalesforceOrg) -> None:
    """The org's OpportunityStage rows, as in a new org (ids outside the org's sequence, so
    records created later keep the ids they always had)."""
    stamp = org.created_at
    OpportunityStage.objects.bulk_create(
        OpportunityStage(
            org=org,
            sf_id=make_id(KEY_PREFIXES["OpportunityStage"], org.pod, index),
            api_name=name,
            master_label=name,
            is_active=True,
            is_closed=closed,
            is_won=won,
            default_probability=probability,
            sort_order=index,
            created_date=stamp,
            last_modified_date=stamp,
            system_modstamp=stamp,
        )
        for index, (name, probability, closed, won) in enumerate(STAGES, start=1)
    )


def allocate_ids(*, org: SalesforceOrg, sobject: str, count: int = 1) -> list[str]:
    with atomic():
        SalesforceOrg.objects.filter(pk=org.pk).update(id_sequence=F("id_sequence") + count)
        last = SalesforceOrg.objects.values_list("id_sequence", flat=True).get(pk=org.pk)
    prefix = KEY_PREFIXES[sobject]
    return [make_id(prefix, org.pod, n) for n in range(last - count + 1, last + 1)]


def _new(model: type[SObject], *, org: SalesforceOrg, **fields: Any) -> Any:
    stamp = now_ms()
    obj = model(
        org=org,
        sf_id=allocate_ids(org=org, sobject=model.__name__)[0],
        created_date=stamp,
        last_modified_date=stamp,
        system_modstamp=stamp,
        **fields,
    )
    if org.multi_currency and not obj.currency_iso_code:
        obj.currency_iso_code = org.corporate_currency
    obj.full_clean(exclude=["org"])
    obj.save()
    return obj


def _touch(obj: SObject) -> None:
    stamp = now_ms()
    if stamp <= obj.system_modstamp:
        # Two changes inside one millisecond must still move the stamp forward.
        stamp = obj.system_modstamp + dt.timedelta(milliseconds=1)
    obj.last_modified_date = obj.system_modstamp = stamp


def _update(obj: SObject, fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        setattr(obj, key, value)
    _touch(obj)
    obj.full_clean(exclude=["org"])
    obj.save()


# --- accounts, contacts, products -------------------------------------------------------------


def account_create(*, org: SalesforceOrg, name: str, **fields: Any) -> Account:
    return _new(Account, org=org, name=name, **fields)  # type: ignore[no-any-return]


def account_update(*, account: Account, **fields: Any) -> Account:
    _update(account, fields)
    return account


def contact_create(
    *, org: SalesforceOrg, last_name: str, first_name: str = "", **fields: Any
) -> Contact:
    name = f"{first_name} {last_name}".strip()
    return _new(  # type: ignore[no-any-return]
        Contact, org=org, first_name=first_name, last_name=last_name, name=name, **fields
    )


def pricebook_ensure_standard(*, org: SalesforceOrg) -> Pricebook2:
    found = Pricebook2.objects.filter(org=org, is_standard=True).first()
    if found:
        return found
    return _new(Pricebook2, org=org, name="Standard Price Book", is_standard=True)  # type: ignore[no-any-return]


def product_create(
    *, org: SalesforceOrg, name: str, prices: dict[str, Decimal] | None = None, **fields: Any
) -> Product2:
    product: Product2 = _new(Product2, org=org, name=name, **fields)
    product_set_prices(product=product, prices=prices or {})
    return product


def product_update(
    *, product: Product2, prices: dict[str, Decimal] | None = None, **fields: Any
) -> Product2:
    _update(product, fields)
    if prices:
        product_set_prices(product=product, prices=prices)
    return product


def product_set_prices(*, product: Product2, prices: dict[str, Decimal]) -> None:
    org = product.org
    standard = pricebook_ensure_standard(org=org)
    for currency, price in prices.items():
        if currency not in org.currency_codes:
            raise ValidationError(f"{currency} is not a currency of {org.name}.")
        code = currency if org.multi_currency else ""
        entry = PricebookEntry.objects.filter(
            pricebook=standard, product=product, currency_iso_code=code
        ).first()
        if entry:
            _update(entry, {"unit_price": price})
        else:
            _new(
                PricebookEntry,
                org=org,
                pricebook=standard,
                product=product,
                unit_price=price,
                currency_iso_code=code,
            )


# --- opportunities ----------------------------------------------------------------------------


def apply_stage(opportunity: Opportunity, stage_name: str, *, set_probability: bool) -> None:
    if stage_name not in STAGE_INFO:
        raise ValidationError({"stage_name": f"{stage_name!r} is not a stage."})
    probability, closed, won = STAGE_INFO[stage_name]
    opportunity.stage_name = stage_name
    opportunity.is_closed = closed
    opportunity.is_won = won
    if set_probability:
        opportunity.probability = Decimal(probability)


def opportunity_save(
    *, org: SalesforceOrg, opportunity: Opportunity | None = None, **fields: Any
) -> Opportunity:
    """Create (``opportunity`` None) or update an opportunity; derives IsWon/IsClosed."""
    stage = fields.pop("stage_name", None)
    with atomic():
        if opportunity is None:
            opportunity = Opportunity(org=org, **fields)
            apply_stage(
                opportunity,
                stage or "Prospecting",
                set_probability=fields.get("probability") is None,
            )
            stamp = now_ms()
            opportunity.sf_id = allocate_ids(org=org, sobject="Opportunity")[0]
            opportunity.created_date = opportunity.last_modified_date = stamp
            opportunity.system_modstamp = stamp
            if org.multi_currency and not opportunity.currency_iso_code:
                opportunity.currency_iso_code = org.corporate_currency
            if opportunity.pricebook_id is None:
                opportunity.pricebook = pricebook_ensure_standard(org=org)
            opportunity.full_clean(exclude=["org"])
            opportunity.save()
        else:
            if (
                "currency_iso_code" in fields
                and fields["currency_iso_code"] != opportunity.currency_iso_code
                and opportunity.opportunitylineitem_set.filter(is_deleted=False).exists()
            ):
                raise ValidationError(
                    {"currency_iso_code": "Remove the line items before changing the currency."}
                )
            for key, value in fields.items():
                setattr(opportunity, key, value)
            if stage is not None and stage != opportunity.stage_name:
                apply_stage(opportunity, stage, set_probability=fields.get("probability") is None)
            _touch(opportunity)
            opportunity.full_clean(exclude=["org"])
            opportunity.save()
        outbound.notify(opportunity)
    return opportunity


def opportunity_set_stage(*, opportunity: Opportunity, stage_name: str) -> Opportunity:
    return opportunity_save(org=opportunity.org, opportunity=opportunity, stage_name=stage_name)


def _bump(opportunity: Opportunity) -> None:
    """A child changed: recompute Amount from the line items and move the stamp."""
    items = opportunity.opportunitylineitem_set.filter(is_deleted=False)
    if items.exists():
        opportunity.amount = items.aggregate(total=Sum("total_price"))["total"]
    _touch(opportunity)
    opportunity.save(update_fields=["amount", "last_modified_date", "system_modstamp"])
    outbound.notify(opportunity)


def opportunity_delete(*, opportunity: Opportunity) -> None:
    """To the recycle bin, with its line items and contact roles, as Salesforce cascades."""
    with atomic():
        stamp = now_ms()
        for model in (OpportunityLineItem, OpportunityContactRole):
            model.objects.filter(opportunity=opportunity, is_deleted=False).update(
                is_deleted=True, deleted_date=stamp, system_modstamp=stamp
            )
        opportunity.is_deleted = True
        opportunity.deleted_date = stamp
        _touch(opportunity)
        opportunity.save()


def opportunity_undelete(*, opportunity: Opportunity) -> None:
    with atomic():
        stamp = now_ms()
        for model in (OpportunityLineItem, OpportunityContactRole):
            model.objects.filter(
                opportunity=opportunity, is_deleted=True, deleted_date=opportunity.deleted_date
            ).update(is_deleted=False, deleted_date=None, system_modstamp=stamp)
        opportunity.is_deleted = False
        opportunity.deleted_date = None
        _touch(opportunity)
        opportunity.save()
        outbound.notify(opportunity)


def line_total(quantity: Decimal, unit_price: Decimal, discount: Decimal | None) -> Decimal:
    subtotal = quantity * unit_price
    if discount:
        subtotal = subtotal * (Decimal(100) - discount) / Decimal(100)
    return subtotal.quantize(CENT, rounding=ROUND_HALF_UP)


def _entry_for(opportunity: Opportunity, product: Product2) -> PricebookEntry:
    entry = PricebookEntry.objects.filter(
        pricebook=opportunity.pricebook_id or pricebook_ensure_standard(org=opportunity.org),
        product=product,
        currency_iso_code=opportunity.currency_iso_code,
        is_active=True,
    ).first()
    if entry is None:
        raise ValidationError(
            f"{product.name} has no active {opportunity.currency_iso_code or 'price'} "
            "entry in the opportunity's price book."
        )
    return entry


def line_items_add(
    *, opportunity: Opportunity, items: list[dict[str, Any]]
) -> list[OpportunityLineItem]:
    """Add line items in bulk: each dict has ``product`` (or ``pricebook_entry``), ``quantity``
    and optionally ``unit_price``, ``discount``, ``description``, ``service_date``."""
    org = opportunity.org
    with atomic():
        ids = allocate_ids(org=org, sobject="OpportunityLineItem", count=len(items))
        stamp = now_ms()
        start = opportunity.opportunitylineitem_set.count()
        rows = []
        for n, (sf_id, item) in enumerate(zip(ids, items, strict=True)):
            entry = item.get("pricebook_entry") or _entry_for(opportunity, item["product"])
            if entry.currency_iso_code != opportunity.currency_iso_code:
                raise ValidationError("The price book entry's currency is not the opportunity's.")
            quantity = Decimal(item.get("quantity", 1))
            unit_price = Decimal(item.get("unit_price") or entry.unit_price)
            discount = item.get("discount")
            rows.append(
                OpportunityLineItem(
                    org=org,
                    sf_id=sf_id,
                    created_date=stamp,
                    last_modified_date=stamp,
                    system_modstamp=stamp,
                    opportunity=opportunity,
                    pricebook_entry=entry,
                    product_id=entry.product_id,
                    sort_order=start + n + 1,
                    quantity=quantity,
                    unit_price=unit_price,
                    list_price=entry.unit_price,
                    discount=None if discount is None else Decimal(discount),
                    total_price=line_total(quantity, unit_price, discount),
                    description=item.get("description", ""),
                    service_date=item.get("service_date"),
                    currency_iso_code=opportunity.currency_iso_code,
                )
            )
        created = OpportunityLineItem.objects.bulk_create(rows)
        _bump(opportunity)
    return created


def line_item_add(*, opportunity: Opportunity, **item: Any) -> OpportunityLineItem:
    return line_items_add(opportunity=opportunity, items=[item])[0]


def line_item_update(*, line_item: OpportunityLineItem, **fields: Any) -> OpportunityLineItem:
    with atomic():
        for key, value in fields.items():
            setattr(line_item, key, value)
        line_item.total_price = line_total(
            line_item.quantity, line_item.unit_price, line_item.discount
        )
        _update(line_item, {})
        _bump(line_item.opportunity)
    return line_item


def line_item_delete(*, line_item: OpportunityLineItem) -> None:
    with atomic():
        line_item.is_deleted = True
        line_item.deleted_date = now_ms()
        _update(line_item, {})
        _bump(line_item.opportunity)


def contact_role_add(
    *, opportunity: Opportunity, contact: Contact, role: str = "", is_primary: bool = False
) -> OpportunityContactRole:
    with atomic():
        if is_primary:
            OpportunityContactRole.objects.filter(opportunity=opportunity, is_primary=True).update(
                is_primary=False, system_modstamp=now_ms()
            )
        created: OpportunityContactRole = _new(
            OpportunityContactRole,
            org=opportunity.org,
            opportunity=opportunity,
            contact=contact,
            role=role,
            is_primary=is_primary,
        )
        _bump(opportunity)
    return created


def contact_role_delete(*, contact_role: OpportunityContactRole) -> None:
    with atomic():
        contact_role.is_deleted = True
        contact_role.deleted_date = now_ms()
        _update(contact_role, {})
        _bump(contact_role.opportunity)


# --- tokens -----------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _random(length: int) -> str:
    return "".join(secrets.choice(_TOKEN_CHARS) for _ in range(length))


def session_create(
    *,
    org: SalesforceOrg,
    app: ConnectedApp | None,
    refresh_token: RefreshToken | None = None,
    scope: str = "",
) -> tuple[str, AccessToken]:
    """A Salesforce session id: the org's 15-character id, ``!``, then an opaque secret."""
    raw = f"{org.org_id[:15]}!AQ{_random(94)}"
    issued = timezone.now()
    token = AccessToken.objects.create(
        token_hash=token_hash(raw),
        app=app,
        org=org,
        refresh_token=refresh_token,
        scope=scope,
        issued_at=issued,
        expires_at=issued + dt.timedelta(seconds=org.session_timeout_seconds),
    )
    return raw, token


def refresh_token_create(
    *, org: SalesforceOrg, app: ConnectedApp, scope: str
) -> tuple[str, RefreshToken]:
    raw = f"5Aep861{_random(80)}"
    token = RefreshToken.objects.create(token_hash=token_hash(raw), app=app, org=org, scope=scope)
    return raw, token


def session_lookup(raw: str) -> AccessToken | None:
    """The live session for ``raw``; None when unknown, revoked or expired."""
    token = (
        AccessToken.objects.select_related("org", "refresh_token")
        .filter(token_hash=token_hash(raw), revoked=False)
        .first()
    )
    if token is None or token.expires_at <= timezone.now():
        return None
    if token.refresh_token is not None and token.refresh_token.revoked:
        return None
    return token


def token_revoke(raw: str) -> bool:
    """Revoke an access token, or a refresh token and every session issued from it."""
    digest = token_hash(raw)
    if AccessToken.objects.filter(token_hash=digest).update(revoked=True):
        return True
    refresh = RefreshToken.objects.filter(token_hash=digest).first()
    if refresh is None:
        return False
    refresh.revoked = True
    refresh.save(update_fields=["revoked"])
    AccessToken.objects.filter(refresh_token=refresh).update(revoked=True)
    return True


def identity_url(base_url: str, org: SalesforceOrg) -> str:
    return f"{base_url}/id/{org.org_id}/{org.user_id}"


def token_response(
    *,
    org: SalesforceOrg,
    app: ConnectedApp,
    access_token: str,
    refresh_token: str | None,
    scope: str,
    base_url: str,
) -> dict[str, Any]:
    identity = identity_url(base_url, org)
    issued_at = str(int(timezone.now().timestamp() * 1000))
    digest = hmac.new(
        app.consumer_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
    ).digest()
    body: dict[str, Any] = {"access_token": access_token}
    if refresh_token:
        body["refresh_token"] = refresh_token
    body.update(
        {
            "signature": base64.b64encode(digest).decode(),
            "scope": scope,
            "instance_url": base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }
    )
    return body


def demo_app() -> ConnectedApp:
    app, _ = ConnectedApp.objects.get_or_create(
        consumer_key=DEMO_CONSUMER_KEY,
        defaults={"name": "CarryTheOne (sandbox)", "consumer_secret": DEMO_CONSUMER_SECRET},
    )
    return app


def issue_token(*, org_name: str | None) -> dict[str, Any]:
    """A fresh session (and refresh token) for the demo connected app, for scripts and tests."""
    orgs = SalesforceOrg.objects.order_by("pk")
    org = orgs.filter(name=org_name).first() if org_name else orgs.first()
    if org is None:
        raise LookupError(
            f"No sandbox Salesforce org named {org_name!r}."
            if org_name
            else "No sandbox Salesforce org: run `manage.py sandbox_reset --seed demo`."
        )
    app = demo_app()
    scope = "api refresh_token"
    refresh_raw, refresh = refresh_token_create(org=org, app=app, scope=scope)
    access_raw, _ = session_create(org=org, app=app, refresh_token=refresh, scope=scope)
    body = token_response(
        org=org,
        app=app,
        access_token=access_raw,
        refresh_token=refresh_raw,
        scope=scope,
        base_url=settings.SANDBOX_BASE_URL,
    )
    return {
        key: body[key]
        for key in (
            "access_token",
            "refresh_token",
            "instance_url",
            "id",
            "token_type",
            "issued_at",
        )
    }
