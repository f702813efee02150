"""The provider registry and the contract every provider package fulfils.

A provider is stateless: what one customer authorised lives in a ``Connection``. Adding a
provider means a package (``integrations/<key>/``) and one line in ``PROVIDERS``; nothing else
changes.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from django.utils import timezone
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from integrations.connections.models import Connection

PROVIDERS: dict[str, str] = {
    "xero": "integrations.connections.xero.provider.XeroProvider",
    "salesforce": "integrations.connections.salesforce.provider.SalesforceProvider",
}


class ProviderError(Exception):
    """A failure talking to a provider, with what to do about it.

    ``permanent``: retrying the same call will not help. ``needs_reauth``: only a person
    authorising again will help. ``message`` is meant for people.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        needs_reauth: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent or needs_reauth
        self.needs_reauth = needs_reauth
        self.retry_after = retry_after


class ReauthorizationRequired(ProviderError):
    def __init__(self, message: str) -> None:
        super().__init__(message, needs_reauth=True)


@dataclass(frozen=True)
class TokenSet:
    """What a token endpoint answered, in the form stored (encrypted) on a Connection.

    The tokens stay out of its ``repr``: Django's technical 500 page and Sentry show the local
    variables of every frame, and a flow that fails holding a TokenSet must not show them.
    """

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: dt.datetime
    scopes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_response(cls, data: dict[str, Any], *, previous_refresh: str = "") -> TokenSet:
        """The tokens of a token endpoint's answer; ValueError for one that holds none."""
        access_token, refresh_token = data.get("access_token"), data.get("refresh_token")
        if not isinstance(access_token, str) or not access_token:
            raise ValueError("the token answer holds no access_token")
        if refresh_token is not None and not isinstance(refresh_token, str):
            raise ValueError("the token answer's refresh_token is not text")
        try:
            expires_in = int(data.get("expires_in") or 0)
            expires_at = timezone.now() + dt.timedelta(seconds=expires_in or 3600)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError("the token answer's expires_in is not a number of seconds") from exc
        scope = data.get("scope") or ""
        scopes = [str(s) for s in scope] if isinstance(scope, list) else str(scope).split()
        known = {"access_token", "refresh_token", "expires_in", "expires_at", "scope"}
        return cls(
            access_token=access_token,
            # Salesforce does not rotate refresh tokens: a refresh answer omits it.
            refresh_token=refresh_token or previous_refresh,
            expires_at=expires_at,
            scopes=scopes,
            extra={k: v for k, v in data.items() if k not in known and k != "token_type"},
        )

    def to_credentials(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at.isoformat(),
            **self.extra,
        }

    @staticmethod
    def expires_at_of(credentials: dict[str, Any]) -> dt.datetime | None:
        value = credentials.get("expires_at")
        return dt.datetime.fromisoformat(value) if value else None


class Provider(ABC):
    key: ClassVar[str]
    name: ClassVar[str]
    direction: ClassVar[Literal["source", "target"]]

    @abstractmethod
    def refresh(self, *, credentials: dict[str, Any]) -> TokenSet:
        """Exchanges the stored refresh token for new tokens.

        Raises :class:`ReauthorizationRequired` when the grant is gone (``invalid_grant``) and
        :class:`ProviderError` for anything else.
        """

    @abstractmethod
    def check(self, *, connection: Connection) -> None:
        """One cheap live call proving the connection works now; raises :class:`ProviderError`
        (or :class:`ReauthorizationRequired`) saying why not."""

    @abstractmethod
    def revoke(self, *, credentials: dict[str, Any], external_id: str) -> None:
        """Revokes the grant (and, for Xero, removes the tenant connection) at the provider.

        Best effort: never raises for an already dead grant or an unreachable provider.
        """


@cache
def get_provider(key: str) -> Provider:
    try:
        path = PROVIDERS[key]
    except KeyError as exc:
        raise LookupError(f"Unknown provider {key!r}") from exc
    provider_class: type[Provider] = import_string(path)
    return provider_class()
