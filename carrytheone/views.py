from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from carrytheone.health import check_broker, check_database, last_worker_heartbeat


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer, 503 otherwise, with the details as JSON.

    The worker heartbeat is reported but does not fail the check: a load balancer should keep
    sending traffic to a healthy web process while workers restart.
    """
    checks = {"database": check_database(), "broker": check_broker()}
    healthy = all(result.ok for result in checks.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": {name: result.as_dict() for name, result in checks.items()},
        "worker_last_heartbeat": last_worker_heartbeat(),
    }
    return JsonResponse(body, status=200 if healthy else 503)
