"""Every wizard step and rule table given generated POST bodies: the page again with its
errors (200) or a redirect after saving, never a 5xx; the stored configuration unchanged by an
invalid post, and always one the sync can load."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from integrations.core.config import SyncConfig
from integrations.core.models import Integration
from integrations.setup import steps
from integrations.setup.forms.rules import RULE_FORMS, RULE_MODELS
from integrations.setup.steps import STEPS
from tests.hostile import FUZZ_PAGES, HUGE_INTS, WIRE_TEXT

# The wizard tests' fixtures: an integration with both caches filled, and every provider URL
# pointing where nothing listens (the autouse ``_nowhere``), so no example reaches a network.
from tests.integrations.setup.test_wizard import VALID, _nowhere, _url, integration

__all__ = ["_nowhere", "integration"]

pytestmark = pytest.mark.django_db

CONFIG_STEPS = [s.key for s in STEPS if s.kind == "config"]
POSTED = st.one_of(
    WIRE_TEXT,
    HUGE_INTS.map(str),
    st.sampled_from(["", "on", "off", "true", "0", "-1", "1e9", "NaN", "2026-02-30", "x" * 5000]),
)


def _stored(integration: Integration) -> dict[str, Any]:
    integration.refresh_from_db()
    config: dict[str, Any] = integration.config
    SyncConfig.from_json(config)  # always loadable by the sync, whatever was posted
    return {k: v for k, v in config.items() if k != steps.DONE_KEY}


def _mangled(base: dict[str, str], names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """The step's valid answers with some fields replaced, dropped, repeated or added."""
    return st.builds(
        lambda changed, dropped, extra, repeated: {
            **{k: v for k, v in {**base, **changed}.items() if k not in dropped},
            **extra,
            **{k: [v, v + "x"] for k, v in repeated.items()},
        },
        st.dictionaries(st.sampled_from(names), POSTED, max_size=3),
        st.sets(st.sampled_from(names), max_size=2),
        st.dictionaries(
            st.one_of(WIRE_TEXT, st.sampled_from(["_reload", "writeback_fields:"])),
            POSTED,
            max_size=2,
        ),
        st.dictionaries(st.sampled_from(names), st.text(max_size=5), max_size=1),
    )


@pytest.mark.parametrize("key", CONFIG_STEPS)
def test_a_step_answers_any_post_with_its_errors_or_a_redirect(
    integration: Integration, owner_client: Client, key: str
) -> None:
    base = VALID[key][0]
    names = sorted({*base, *steps.step(key).keys, "stage_confirmed", "tax_field"})
    url = _url(integration, steps.step(key).url_name)

    @FUZZ_PAGES
    @given(data=_mangled(base, names))
    def check(data: dict[str, Any]) -> None:
        before = _stored(integration)
        response = owner_client.post(url, data)
        assert response.status_code in (200, 302), response.status_code
        if response.status_code == 200:
            assert _stored(integration) == before
        else:
            _stored(integration)

    check()


RULE_TABLES = sorted(RULE_FORMS)


def _rule_post(table: str) -> st.SearchStrategy[dict[str, Any]]:
    fields = list(RULE_FORMS[table]._meta.fields or ())
    return st.builds(
        lambda row, action, values, rows: {
            "table": table,
            "row": row,
            "action": action,
            **{f"{table}-{row or 'new'}-{name}": v for name, v in values.items()},
            **rows,
        },
        st.one_of(st.just(""), POSTED),
        st.one_of(st.sampled_from(["save", "refresh", "delete", "add", "remove"]), WIRE_TEXT),
        st.dictionaries(st.sampled_from(fields), POSTED, max_size=len(fields)),
        st.dictionaries(
            st.sampled_from(
                [f"{table}-new-{f}-rows" for f in fields]
                + [f"{table}-new-{f}-0-key" for f in fields]
                + [f"{table}-new-{f}-0-value" for f in fields]
            ),
            st.one_of(POSTED, st.sampled_from(["999999999", "-1", "201"])),
            max_size=3,
        ),
    )


@pytest.mark.parametrize("table", RULE_TABLES)
def test_a_rule_table_answers_any_post_without_a_server_error(
    integration: Integration, owner_client: Client, table: str
) -> None:
    model = RULE_MODELS[table]
    url = _url(integration, "setup_rules")

    @FUZZ_PAGES
    @given(data=_rule_post(table))
    def check(data: dict[str, Any]) -> None:
        count = model._default_manager.filter(integration=integration).count()
        before = _stored(integration)
        response = owner_client.post(url, data)
        # 400: Django's own refusal of a field name longer than a request header may be.
        assert response.status_code in (200, 302, 400, 404), response.status_code
        after = model._default_manager.filter(integration=integration).count()
        assert after - count in (-1, 0, 1)
        assert _stored(integration) == before  # a rule row never rewrites the configuration

    check()
