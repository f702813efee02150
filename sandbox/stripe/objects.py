"""Stripe's object shapes (the keys and types of stripe-mock's fixtures, ``spec/fixtures3.json``).

Builders only: each returns a new object's JSON with Stripe's defaults. What happens to the
objects afterwards is in :mod:`sandbox.stripe.billing`.
"""

from __future__ import annotations

from typing import Any

ADDRESS_NULL = {
    "city": None,
    "country": None,
    "line1": None,
    "line2": None,
    "postal_code": None,
    "state": None,
}
DEFAULT_CURRENCY = "gbp"


def customer(
    *, cid: str, created: int, email: str | None, name: str | None, prefix: str
) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "customer",
        "address": dict(ADDRESS_NULL),
        "balance": 0,
        "created": created,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": email,
        "invoice_prefix": prefix,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": name,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def product(*, pid: str, created: int, name: str) -> dict[str, Any]:
    return {
        "id": pid,
        "object": "product",
        "active": True,
        "created": created,
        "default_price": None,
        "description": None,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": {},
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": created,
        "url": None,
    }


def price(*, pid: str, created: int, product_id: str, currency: str) -> dict[str, Any]:
    return {
        "id": pid,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": product_id,
        "recurring": None,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time",
        "unit_amount": None,
        "unit_amount_decimal": None,
    }


def plan_of(price_data: dict[str, Any]) -> dict[str, Any]:
    """The legacy ``plan`` Stripe still puts beside ``price`` on subscription items."""
    recurring = price_data.get("recurring") or {}
    return {
        "id": price_data["id"],
        "object": "plan",
        "active": price_data["active"],
        "amount": price_data.get("unit_amount"),
        "amount_decimal": price_data.get("unit_amount_decimal"),
        "billing_scheme": price_data["billing_scheme"],
        "created": price_data["created"],
        "currency": price_data["currency"],
        "interval": recurring.get("interval", "month"),
        "interval_count": recurring.get("interval_count", 1),
        "livemode": False,
        "metadata": price_data.get("metadata") or {},
        "meter": recurring.get("meter"),
        "nickname": price_data.get("nickname"),
        "product": price_data["product"],
        "tiers_mode": price_data.get("tiers_mode"),
        "transform_usage": None,
        "trial_period_days": recurring.get("trial_period_days"),
        "usage_type": recurring.get("usage_type", "licensed"),
    }


def checkout_session(
    *, sid: str, created: int, expires_at: int, url: str, params: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": sid,
        "object": "checkout.session",
        "adaptive_pricing": None,
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": 0,
        "amount_total": 0,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": None,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": params.get("customer"),
        "customer_account": None,
        "customer_creation": None if params.get("customer") else "always",
        "customer_details": None,
        "customer_email": params.get("customer_email"),
        "discounts": [],
        "expires_at": expires_at,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": None,
        "livemode": False,
        "locale": None,
        "managed_payments": None,
        "metadata": {},
        "mode": params.get("mode"),
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": params.get("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": url,
        "wallet_options": None,
    }


def checkout_item(
    *, iid: str, price_data: dict[str, Any], product_name: str, quantity: int | None, amount: int
) -> dict[str, Any]:
    return {
        "id": iid,
        "object": "item",
        "adjustable_quantity": None,
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": price_data["currency"],
        "description": product_name,
        "metadata": {},
        "price": price_data["id"],
        "quantity": quantity,
    }


def portal_session(
    *, sid: str, created: int, customer_id: str, return_url: str | None, url: str
) -> dict[str, Any]:
    return {
        "id": sid,
        "object": "billing_portal.session",
        "configuration": "bpc_sandbox_default",
        "created": created,
        "customer": customer_id,
        "customer_account": None,
        "flow": None,
        "livemode": False,
        "locale": None,
        "on_behalf_of": None,
        "return_url": return_url,
        "url": url,
    }


def subscription(
    *, sid: str, created: int, customer_id: str, currency: str, anchor: int
) -> dict[str, Any]:
    return {
        "id": sid,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": anchor,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic"},
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "days_until_due": None,
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": {"type": "self"},
        },
        "items": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sid}",
        },
        "latest_invoice": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": {},
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": created,
        "status": "incomplete",
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


def subscription_item(
    *, iid: str, created: int, subscription_id: str, price_id: str, quantity: int | None
) -> dict[str, Any]:
    return {
        "id": iid,
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": created,
        "current_period_end": 0,
        "current_period_start": 0,
        "discounts": [],
        "metadata": {},
        "price": price_id,
        "quantity": quantity,
        "subscription": subscription_id,
        "tax_rates": [],
    }


def invoice(
    *,
    iid: str,
    created: int,
    customer_data: dict[str, Any],
    subscription_id: str | None,
    currency: str,
    billing_reason: str,
    period_start: int,
    period_end: int,
    hosted_url: str | None,
) -> dict[str, Any]:
    return {
        "id": iid,
        "object": "invoice",
        "account_country": "GB",
        "account_name": "CarryTheOne (sandbox)",
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "custom_fields": None,
        "customer": customer_data["id"],
        "customer_account": None,
        "customer_address": None,
        "customer_email": customer_data.get("email"),
        "customer_name": customer_data.get("name"),
        "customer_phone": None,
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": hosted_url,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/invoices/{iid}/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": (
            {
                "quote_details": None,
                "subscription_details": {"metadata": {}, "subscription": subscription_id},
                "type": "subscription_details",
            }
            if subscription_id
            else None
        ),
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": period_end,
        "period_start": period_start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subscription": None,
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": customer_data.get("test_clock"),
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": created,
    }


def invoice_line(
    *,
    lid: str,
    invoice_id: str | None,
    amount: int,
    currency: str,
    description: str,
    period: tuple[int, int],
    quantity: int | None,
    price_data: dict[str, Any],
    subscription_id: str | None,
    item_id: str | None,
    proration: bool,
) -> dict[str, Any]:
    return {
        "id": lid,
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {},
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": subscription_id,
                "subscription_item": item_id,
            },
            "type": "subscription_item_details",
        },
        "period": {"end": period[1], "start": period[0]},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {"price": price_data["id"], "product": price_data["product"]},
            "type": "price_details",
            "unit_amount_decimal": price_data.get("unit_amount_decimal"),
        },
        "quantity": quantity,
        "quantity_decimal": None if quantity is None else str(quantity),
        "subscription": subscription_id,
        "subtotal": amount,
        "taxes": [],
    }


CARD_BRANDS = {"4": "visa", "5": "mastercard", "3": "amex"}


def payment_method(
    *, pid: str, created: int, number: str, exp_month: int, exp_year: int, name: str | None
) -> dict[str, Any]:
    brand = CARD_BRANDS.get(number[:1], "unknown")
    return {
        "id": pid,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": dict(ADDRESS_NULL),
            "email": None,
            "name": name,
            "phone": None,
            "tax_id": None,
        },
        "card": {
            "brand": brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass",
            },
            "country": "US",
            "display_brand": brand,
            "exp_month": exp_month,
            "exp_year": exp_year,
            "fingerprint": f"sbx{number[-8:]}",
            "funding": "credit",
            "generated_from": None,
            "last4": number[-4:],
            "networks": {"available": [brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": created,
        "customer": None,
        "customer_account": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }


def webhook_endpoint(
    *, wid: str, created: int, url: str, events: list[str], api_version: str | None
) -> dict[str, Any]:
    return {
        "id": wid,
        "object": "webhook_endpoint",
        "api_version": api_version,
        "application": None,
        "created": created,
        "description": None,
        "enabled_events": events,
        "livemode": False,
        "metadata": {},
        "status": "enabled",
        "url": url,
    }


def event(
    *,
    eid: str,
    created: int,
    api_version: str,
    type_: str,
    obj: dict[str, Any],
    previous: dict[str, Any] | None,
    pending: int,
    request_id: str | None,
    idempotency_key: str | None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": eid,
        "object": "event",
        "api_version": api_version,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": pending,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": type_,
    }


def test_clock(*, cid: str, created: int, frozen_time: int, name: str | None) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "test_helpers.test_clock",
        "created": created,
        "deletes_after": created + 30 * 86400,
        "frozen_time": frozen_time,
        "livemode": False,
        "name": name,
        "status": "ready",
        "status_details": {},
    }


def meter(*, mid: str, created: int, params: dict[str, Any]) -> dict[str, Any]:
    mapping = params.get("customer_mapping") or {}
    value = params.get("value_settings") or {}
    aggregation = params.get("default_aggregation") or {}
    return {
        "id": mid,
        "object": "billing.meter",
        "created": created,
        "customer_mapping": {
            "event_payload_key": mapping.get("event_payload_key", "stripe_customer_id"),
            "type": "by_id",
        },
        "default_aggregation": {"formula": aggregation.get("formula", "sum")},
        "display_name": params.get("display_name"),
        "event_name": params.get("event_name"),
        "event_time_window": params.get("event_time_window"),
        "livemode": False,
        "status": "active",
        "status_transitions": {"deactivated_at": None},
        "updated": created,
        "value_settings": {"event_payload_key": value.get("event_payload_key", "value")},
    }


def meter_event(
    *, created: int, event_name: str, identifier: str, payload: dict[str, str], timestamp: int
) -> dict[str, Any]:
    return {
        "object": "billing.meter_event",
        "created": created,
        "event_name": event_name,
        "identifier": identifier,
        "livemode": False,
        "payload": payload,
        "timestamp": timestamp,
    }
