import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

from carrytheone import logcontext

# A proxy's request id is taken as it is when it looks like one (no spaces, quotes or newlines
# that could forge a log line); anything else gets an id of ours.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class RequestLogContextMiddleware:
    """Binds a request id to every log line of the request (``carrytheone.logcontext``).

    The id is the proxy's ``X-Request-ID`` when it sends one, else a new one; either way it is
    returned in ``X-Request-ID`` so a person reporting a problem can quote it. The account id is
    added by ``accounts.access.account_view`` once the view's account is known.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        with logcontext.bind(request_id=request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class ContentSecurityPolicyMiddleware:
    """Adds the ``Content-Security-Policy`` header from settings to every response.

    Django 5.2 has no built-in CSP support; the control panel uses no inline script or style,
    so a strict same-origin policy costs nothing and blunts any XSS that slips through.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


class PrivatePagesNoStoreMiddleware:
    """``Cache-Control: no-store`` (and friends) on every response to a signed-in request.

    Dashboards, integration pages and sync logs hold one customer's data: a shared proxy or the
    browser's back button after logout must not serve them again. A view that chose its own
    ``Cache-Control`` keeps it; static files (WhiteNoise answers them before this runs, and
    ``STATIC_URL`` is skipped in case it does not) stay cacheable. Placed after
    ``AuthenticationMiddleware``, so ``request.user`` reflects a login or logout in this request.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.has_header("Cache-Control") or request.path.startswith(settings.STATIC_URL):
            return response
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response
