"""Optional error reporting to Sentry (``SENTRY_DSN``), with secrets scrubbed before sending.

Sentry's own defaults already leave cookies, bodies and users out (no ``send_default_pii``);
:func:`before_send` goes further with the same rule as our logs (``carrytheone.scrub``): any key
named like a credential (``Authorization``, ``Cookie``, ``token``, ``client_secret``,
``code_verifier``, ``password``...) and any value that looks like a token, in headers, query
strings, breadcrumbs, exception messages and stack-frame variables alike.
"""

from __future__ import annotations

from typing import Any

from carrytheone.scrub import scrub_data


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """The event with every secret masked (also used for transactions)."""
    scrubbed: dict[str, Any] = scrub_data(event)
    request = scrubbed.get("request")
    if isinstance(request, dict):
        # Never the session or CSRF cookies, even masked: nothing there helps debugging.
        request.pop("cookies", None)
    return scrubbed


def sentry_init(
    *, dsn: str, environment: str, release: str | None, traces_sample_rate: float
) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        integrations=[DjangoIntegration(), CeleryIntegration(monitor_beat_tasks=False)],
        # No personal data (users, cookies, bodies): the SDK's default, which it now deprecates
        # passing as send_default_pii=False; data_collection would opt into collecting more.
        traces_sample_rate=traces_sample_rate,
        before_send=before_send,  # type: ignore[arg-type]
        before_send_transaction=before_send,  # type: ignore[arg-type]
    )
