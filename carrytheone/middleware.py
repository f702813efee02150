from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers


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
