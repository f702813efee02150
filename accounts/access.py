"""The one way tenant views reach tenant data.

Every view under ``/a/<account_slug>/`` is wrapped by :func:`account_view`. A user who is not a
member of the account gets 404 (we do not confirm that the account exists); a member whose role
is too low gets 403. Objects inside the account are fetched with :func:`get_for_account`, which
also answers 404 for an object of another account.

CarryTheOne staff viewing an account as support (``accounts.staff_access``) get an unsaved
SUPPORT membership instead, and only GET and HEAD: every other request is refused here, for
every view at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from django.contrib.auth.decorators import login_required
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponseBase

from accounts.models import Account, Membership, Role, User
from accounts.staff_access import staff_view_membership
from carrytheone import logcontext

P = ParamSpec("P")
M = TypeVar("M", bound=Model)

SESSION_ACCOUNT_KEY = "current_account_slug"
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


class AccountRequest(HttpRequest):
    """An ``HttpRequest`` inside an account; for type checkers only."""

    user: User
    account: Account
    membership: Membership


def get_membership(
    user: User, account_slug: str, *, session: SessionBase | None = None
) -> Membership:
    """The user's membership of the account, or 404 (also once the account is closed).

    With ``session``, a staff member's view of the account as support counts too.
    """
    if not user.is_authenticated:
        raise Http404
    membership = (
        Membership.objects.select_related("account")
        .filter(user=user, account__slug=account_slug, account__closed_at__isnull=True)
        .first()
    )
    if membership is None and session is not None:
        membership = staff_view_membership(session=session, user=user, account_slug=account_slug)
    if membership is None:
        raise Http404("No such account.")
    return membership


# HttpResponseBase: a view may stream (StreamingHttpResponse is no HttpResponse).
AccountViewFunc = Callable[Concatenate[AccountRequest, P], HttpResponseBase]


def account_view(role: Role) -> Callable[[AccountViewFunc[P]], Callable[..., HttpResponseBase]]:
    """Decorates a view that takes ``account_slug``: login, membership (404), role (403)."""

    def decorator(
        view: AccountViewFunc[P],
    ) -> Callable[..., HttpResponseBase]:
        @login_required
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
            slug = kwargs.pop("account_slug")
            assert isinstance(slug, str)
            assert isinstance(request.user, User)
            membership = get_membership(request.user, slug, session=request.session)
            if membership.is_staff_view and request.method not in READ_ONLY_METHODS:
                raise PermissionDenied("Viewing as CarryTheOne support is read-only.")
            logcontext.add(account_id=membership.account_id)
            if not membership.has_role(role):
                raise PermissionDenied(f"This page needs the {role.label} role.")
            account_request: Any = request
            account_request.account = membership.account
            account_request.membership = membership
            if not membership.is_staff_view:
                request.session[SESSION_ACCOUNT_KEY] = slug
            return view(account_request, *args, **kwargs)

        wrapper.required_role = role  # type: ignore[attr-defined]
        return wrapper

    return decorator


def get_for_account(source: type[M] | QuerySet[M], account: Account, **lookup: Any) -> M:
    """One object that belongs to ``account``, or 404 — also when it exists in another one."""
    queryset = source._default_manager.all() if isinstance(source, type) else source
    try:
        return queryset.get(account=account, **lookup)
    except (ObjectDoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc
