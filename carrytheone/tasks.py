from celery import shared_task

from carrytheone.health import record_worker_heartbeat


@shared_task(name="carrytheone.tasks.heartbeat", ignore_result=False)
def heartbeat() -> str:
    """Records that a worker is consuming the queue; beat sends it every minute."""
    return record_worker_heartbeat().isoformat()
