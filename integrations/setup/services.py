"""Configuration changes with their audit trail: who changed which setting, from what to what.

Every write here records :class:`~integrations.core.models.ConfigChange` rows in the same
transaction as the change itself, so the history never misses a change nor shows one that was
rolled back. Values are stored as short readable text; a key that looks like a credential is
never stored at all (the configuration holds none today: this keeps it so if one is added).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from django.db import models, transaction

from accounts.models import User
from integrations.core.config import ConfigError, SyncConfig
from integrations.core.models import ConfigChange, Integration, PauseCause
from integrations.core.pauses import integration_resume
from integrations.rules.models import PaymentMethod, TaxRule, TrackingRule

RULE_KINDS: Final = ("payment_methods", "tax_rules", "tracking_rules")
MAX_TEXT: Final = 500
HIDDEN: Final = "(hidden)"
# Keys never recorded with their value, wherever they appear (config, rules, nested mappings).
_SECRET_KEY = re.compile(
    r"secret|token|password|passwd|credential|api[_-]?key|private[_-]?key|signing[_-]?key",
    re.IGNORECASE,
)
# Bookkeeping columns a caller may pass along with a rule's fields (model_to_dict) that say
# nothing a person changed.
_NOT_RULE_FIELDS: Final = frozenset({"id", "pk", "integration", "integration_id"})


# Keys that change which opportunities count: after a change the read starts over, so that
# opportunities the old scope left out are found (the ledger keeps everything else unsent).
READ_SCOPE_KEYS: Final = ("stage", "start_date")


def config_update(
    *,
    integration: Integration,
    data: dict[str, Any],
    user: User | None,
    replace: bool = False,
) -> Integration:
    """Validates and stores new settings and records one ConfigChange per key whose value
    changed, all in one transaction — the one way the configuration is written.

    ``data`` may hold only the keys being changed (``replace``: it is the whole configuration,
    and keys left out return to their defaults, as the operator admin edits it). Raises
    ``ConfigError`` naming the bad field; then nothing is stored or recorded. The integration
    passed is updated in place (its stored configuration is re-read under a row lock first, so
    concurrent edits are not lost).
    """
    with transaction.atomic():
        Integration.objects.select_for_update().only("pk").get(pk=integration.pk)
        integration.refresh_from_db(fields=["config", "watermark"])
        before = _effective_config(integration.config)
        _store_config(integration, data, replace=replace)
        after = _effective_config(integration.config)
        changes = [
            ConfigChange(
                integration=integration,
                user=user,
                what=f"config.{key}"[:300],
                old=_text(key, before.get(key)),
                new=_text(key, after.get(key)),
            )
            for key in sorted(set(before) | set(after))
            if before.get(key) != after.get(key)
        ]
        ConfigChange.objects.bulk_create(changes)
    return integration


def _store_config(integration: Integration, data: dict[str, Any], *, replace: bool) -> None:
    stored = {} if replace else dict(integration.config or {})
    new = SyncConfig.from_json({**stored, **data})
    old = SyncConfig.from_json(integration.config or {})
    fields = ["config"]
    # Keys of other layers (tracking, payments) stay as they were stored.
    integration.config = {**stored, **data, **new.to_json()}
    if any(getattr(old, key) != getattr(new, key) for key in READ_SCOPE_KEYS):
        integration.watermark = None
        fields.append("watermark")
    integration.save(update_fields=fields)
    # A configuration that could not be used paused syncing: a changed one is tried again.
    integration_resume(integration_id=integration.pk, cause=PauseCause.CONFIGURATION)


# --- rule rows -------------------------------------------------------------------------------


def rule_label(table: str, row: models.Model) -> str:
    """The row as problems and the audit log name it: ``tax_rules:US/NY``."""
    if isinstance(row, PaymentMethod):
        return f"{table}:{row.name}"
    if isinstance(row, TaxRule):
        place = f"{row.country}/{row.region}" if row.region else row.country
        return f"{table}:{place}"
    if isinstance(row, TrackingRule):
        return f"{table}:{row.category_name}"
    return f"{table}:{row.pk}"


def rule_snapshot(row: models.Model, fields: Sequence[str]) -> dict[str, Any]:
    """The row's editable values, for the audit log's before/after."""
    return {name: getattr(row, name) for name in fields}


def rule_row_save(
    *,
    integration: Integration,
    user: User | None,
    table: str,
    row: models.Model,
    fields: Sequence[str],
    before: dict[str, Any] | None,
) -> str:
    """Saves a rule row (validated by its form) with its audit rows, in one transaction;
    ``before`` is its snapshot as stored (None: a new row). Returns the row's label."""
    with transaction.atomic():
        row.save()
        label = rule_label(table, row).split(":", 1)[1]
        rule_saved(
            integration=integration,
            user=user,
            kind=table,
            label=label,
            before=before,
            after=rule_snapshot(row, fields),
        )
    return label


def rule_row_delete(
    *,
    integration: Integration,
    user: User | None,
    table: str,
    row: models.Model,
    fields: Sequence[str],
) -> str:
    """Deletes a rule row with its audit rows, in one transaction; returns the row's label."""
    label = rule_label(table, row).split(":", 1)[1]
    before = rule_snapshot(row, fields)
    with transaction.atomic():
        row.delete()
        rule_saved(
            integration=integration, user=user, kind=table, label=label, before=before, after=None
        )
    return label


def rule_saved(
    *,
    integration: Integration,
    user: User | None,
    kind: str,
    label: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Records a rule row created (``before`` None), changed, or deleted (``after`` None).

    ``label`` names the row as people know it: the payment method's name, ``US/TX`` for a tax
    rule (``US`` for a whole country), the tracking category. A created or deleted row gets a
    row saying so (``tax_rules:US/TX``: "created" / "deleted") and one per field that holds a
    value; a changed row one per changed field (``payment_methods:Credit Card.apply_payment``).
    Call it inside the transaction that saves the rule, so both commit or neither.
    """
    if kind not in RULE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(RULE_KINDS)}, not {kind!r}")
    if before is None and after is None:
        return
    subject = f"{kind}:{label.strip()}"
    old = _rule_fields(before)
    new = _rule_fields(after)
    changes: list[ConfigChange] = []
    if before is None or after is None:
        changes.append(
            ConfigChange(
                integration=integration,
                user=user,
                what=subject[:300],
                old="",
                new="created" if before is None else "deleted",
            )
        )
    for key in sorted(set(old) | set(new)):
        old_text = _text(key, old.get(key)) if key in old else ""
        new_text = _text(key, new.get(key)) if key in new else ""
        if old_text != new_text:
            changes.append(
                ConfigChange(
                    integration=integration,
                    user=user,
                    what=f"{subject}.{key}"[:300],
                    old=old_text,
                    new=new_text,
                )
            )
    with transaction.atomic():
        ConfigChange.objects.bulk_create(changes)


def config_history(integration: Integration, *, limit: int = 50) -> list[ConfigChange]:
    """The integration's latest changes, newest first, with their users."""
    return list(
        ConfigChange.objects.filter(integration=integration)
        .select_related("user")
        .order_by("-at", "-id")[:limit]
    )


def _effective_config(stored: Any) -> dict[str, Any]:
    """The stored settings with defaults filled in, so a default made explicit is no change."""
    raw = dict(stored) if isinstance(stored, Mapping) else {}
    try:
        return {**raw, **SyncConfig.from_json(raw).to_json()}
    except ConfigError:
        return raw


def _rule_fields(values: Mapping[str, Any] | None) -> dict[str, Any]:
    if values is None:
        return {}
    return {str(k): v for k, v in values.items() if str(k) not in _NOT_RULE_FIELDS}


def _text(key: str, value: Any) -> str:
    """A value as short readable text; a credential-like key's value is never written."""
    if _SECRET_KEY.search(key):
        return HIDDEN if value not in (None, "", {}, []) else ""
    return _plain(_scrub(value))[:MAX_TEXT]


def _scrub(value: Any) -> Any:
    """Hides credential-like keys inside nested mappings too."""
    if isinstance(value, Mapping):
        return {
            str(k): (HIDDEN if _SECRET_KEY.search(str(k)) else _scrub(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal | float):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        if not value:
            return ""
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return str(value)


__all__ = [
    "config_history",
    "config_update",
    "rule_label",
    "rule_row_delete",
    "rule_row_save",
    "rule_saved",
    "rule_snapshot",
]
