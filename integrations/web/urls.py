from django.urls import include, path

from integrations.web import log_views, record_views, views, webhooks

app_name = "integrations"

urlpatterns = [
    # Signed by Xero (integrations.sync.writeback), not tenant-scoped: events name their tenant.
    path("webhooks/xero/", webhooks.xero_webhook, name="xero_webhook"),
    path("a/<slug:account_slug>/integrations/", views.integration_list, name="list"),
    path("a/<slug:account_slug>/integrations/new/", views.integration_create, name="create"),
    path(
        "a/<slug:account_slug>/integrations/<int:integration_id>/",
        views.integration_detail,
        name="detail",
    ),
    path(
        "a/<slug:account_slug>/integrations/<int:integration_id>/sync/",
        views.integration_sync_now,
        name="sync_now",
    ),
    path(
        "a/<slug:account_slug>/integrations/<int:integration_id>/backfill/",
        views.backfill_start,
        name="backfill",
    ),
    path(
        "a/<slug:account_slug>/integrations/<int:integration_id>/backfill/cancel/",
        views.backfill_cancel,
        name="backfill_cancel",
    ),
    path(
        "a/<slug:account_slug>/integrations/<int:integration_id>/backfill/progress/",
        views.backfill_progress,
        name="backfill_progress",
    ),
    path(
        "a/<slug:account_slug>/integrations/<int:integration_id>/log/",
        log_views.sync_log,
        name="log",
    ),
    path(
        "a/<slug:account_slug>/integrations/<int:integration_id>/log/export.csv",
        log_views.log_export,
        name="log_export",
    ),
    path(
        "a/<slug:account_slug>/integrations/<int:integration_id>/log/retry/",
        log_views.log_retry_search,
        name="log_retry_search",
    ),
    path(
        "a/<slug:account_slug>/integrations/<int:integration_id>/runs/<int:run_id>/retry/",
        log_views.log_retry_run,
        name="log_retry_run",
    ),
    path(
        "a/<slug:account_slug>/integrations/<int:integration_id>/records/<int:ledger_id>/",
        views.record_detail,
        name="record",
    ),
    path(
        "a/<slug:account_slug>/integrations/<int:integration_id>/records/<int:ledger_id>/resync/",
        record_views.record_resync,
        name="record_resync",
    ),
    path(
        "a/<slug:account_slug>/integrations/<int:integration_id>/log/<int:entry_id>/dismiss/",
        views.log_dismiss,
        name="log_dismiss",
    ),
    path(
        "a/<slug:account_slug>/integrations/<int:integration_id>/log/<int:entry_id>/retry/",
        views.log_retry,
        name="log_retry",
    ),
    path(
        "a/<slug:account_slug>/integrations/<int:integration_id>/connections/"
        "<int:connection_id>/disconnect/",
        views.connection_disconnect,
        name="disconnect",
    ),
    path("", include("integrations.setup.urls")),
]
