from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from carrytheone.health import check_broker, check_database, last_worker_heartbeat
from integrations.core.health import integrations_failing


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer, 503 otherwise, with the details as JSON.

    The worker heartbeat and the integrations whose syncing keeps failing are reported but do
    not fail the check: a load balancer should keep sending traffic to a healthy web process
    while workers restart or a customer's Xero is down. ``status`` says ``degraded`` then.
    """
    checks = {"database": check_database(), "broker": check_broker()}
    healthy = all(result.ok for result in checks.values())
    failing = len(integrations_failing()) if checks["database"].ok else None
    status = "ok" if healthy else "unavailable"
    if healthy and failing:
        status = "degraded"
    body = {
        "status": status,
        "checks": {name: result.as_dict() for name, result in checks.items()},
        "worker_last_heartbeat": last_worker_heartbeat(),
        "integrations_failing": failing,
        "integrations_failing_after_seconds": settings.SYNC_FAILURE_ALERT_AFTER,
    }
    return JsonResponse(body, status=200 if healthy else 503)


@never_cache
@require_GET
def healthz_detail(request: HttpRequest) -> JsonResponse:
    """For our staff: which integrations have been failing, since when, and why."""
    from integrations.core.health import integrations_failing

    if not (request.user.is_authenticated and request.user.is_staff):
        raise Http404
    return JsonResponse(
        {
            "integrations_failing": [
                {
                    "account": integration.account.slug,
                    "integration": integration.pk,
                    "name": integration.name,
                    "failing_since": integration.failing_since.isoformat()
                    if integration.failing_since
                    else None,
                    "last_success_at": integration.last_success_at.isoformat()
                    if integration.last_success_at
                    else None,
                    "last_failure": integration.last_failure,
                }
                for integration in integrations_failing()
            ],
            "worker_last_heartbeat": last_worker_heartbeat(),
        }
    )


@require_GET
def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Browsers ask for /favicon.ico on pages that name no icon (the admin's, a JSON answer):
    the site's icon rather than a 404 in every console."""
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))
