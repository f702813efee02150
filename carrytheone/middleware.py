import base64
import hashlib
import html
import re
import uuid
from collections.abc import Callable, Iterable

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


# Django's own debug pages (technical 500 and 404, the CSRF failure page) carry this tag; the
# panel's templates never do.
_DJANGO_DEBUG_PAGE = b'<meta name="robots" content="NONE,NOARCHIVE">'
_INLINE_BLOCK = re.compile(rb"<(style|script)(?:\s[^>]*)?>(.*?)</\1>", re.DOTALL | re.IGNORECASE)
_INLINE_HANDLER = re.compile(rb'\son[a-z]+="([^"]*)"', re.IGNORECASE)


def _hashes(sources: Iterable[bytes]) -> str:
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(source).digest()).decode()}'"
        for source in dict.fromkeys(sources)
    )


def debug_page_policy(policy: str, content: bytes) -> str:
    """``policy`` also allowing exactly the inline styles and scripts of one Django debug page.

    Hashes rather than ``'unsafe-inline'``: the page's traceback shows request data, and only
    the blocks Django wrote run, never something echoed from the request.
    """
    blocks = [(m.group(1).lower(), m.group(2)) for m in _INLINE_BLOCK.finditer(content)]
    styles = [body for kind, body in blocks if kind == b"style"]
    scripts = [body for kind, body in blocks if kind == b"script"]
    handlers = [
        html.unescape(m.group(1).decode()).encode() for m in _INLINE_HANDLER.finditer(content)
    ]
    extra = {
        "style-src": _hashes(styles),
        "script-src": ("'unsafe-hashes' " if handlers else "") + _hashes(scripts + handlers),
    }
    directives = []
    for directive in policy.split(";"):
        name = directive.strip().split(" ", 1)[0]
        if extra.get(name, "").strip():
            directive = f"{directive.rstrip()} {extra[name].strip()}"
        directives.append(directive)
    return ";".join(directives)


class ContentSecurityPolicyMiddleware:
    """Adds the ``Content-Security-Policy`` header from settings to every response.

    Django 5.2 has no built-in CSP support; the control panel uses no inline script or style,
    so a strict same-origin policy costs nothing and blunts any XSS that slips through. With
    ``DEBUG`` on, Django's own error pages (all inline styles and scripts) get a policy that
    allows their blocks by hash, so a developer reads them styled.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            if settings.DEBUG and self._is_django_debug_page(response):
                policy = debug_page_policy(policy, response.content)
            response["Content-Security-Policy"] = policy
        return response

    @staticmethod
    def _is_django_debug_page(response: HttpResponse) -> bool:
        return (
            response.status_code >= 400
            and not response.streaming
            and response.get("Content-Type", "").startswith("text/html")
            and _DJANGO_DEBUG_PAGE in response.content[:2000]
        )


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
