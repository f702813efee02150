"""CarryTheOne settings: every value comes from the environment (see the README's table).

One module for every environment. Development defaults (SQLite and a filesystem broker under
``var/``, console email) need no server; production sets ``DEBUG=0`` and must then provide
``SECRET_KEY`` and ``ALLOWED_HOSTS``. Each secret may instead be read from a file named by the
``<NAME>_FILE`` variable (Docker/Kubernetes secrets).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

# Lets generic Django classes (ModelAdmin[Model], QuerySet[Model]) be subscripted at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.FileAwareEnv()

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
# SQLite, the file cache and the filesystem broker live here; none of them creates its folder.
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG: bool = env.bool("DEBUG", default=False)
# The simulated Salesforce and Xero (sandbox/): their apps, tables, URLs and database exist only
# when this is on (`make run`, tests, benchmarks); never in production.
SANDBOX_ENABLED: bool = env.bool("SANDBOX_ENABLED", default=False)

_secret_key: str | None = env.str("SECRET_KEY", default=None)
if not _secret_key:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (or SECRET_KEY_FILE naming a file)."
        )
    _secret_key = "django-insecure-development-only-never-use-in-production"  # noqa: S105
SECRET_KEY: str = _secret_key

ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Public base URL, used in links inside emails and (later) OAuth redirect URIs.
SITE_URL: str = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    # django.contrib.admin behind the site's login, a staff check and TOTP (admin_site.py).
    "carrytheone.admin_apps.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_htmx",
    "carrytheone",
    "accounts",
    "billing",
    "integrations",
    "integrations.connections.xero.apps.XeroConfig",
    "integrations.connections.salesforce.apps.SalesforceIntegrationConfig",
    "alerts",
    "support",
]
SANDBOX_APPS = ["sandbox", "sandbox.xero", "sandbox.salesforce", "sandbox.stripe"]
if SANDBOX_ENABLED:
    INSTALLED_APPS += SANDBOX_APPS

MIDDLEWARE = [
    # First: every log line of the request, the other middlewares' included, has its id.
    "carrytheone.middleware.RequestLogContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "carrytheone.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "carrytheone.middleware.PrivatePagesNoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "carrytheone.urls"
WSGI_APPLICATION = "carrytheone.wsgi.application"
ASGI_APPLICATION = "carrytheone.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.current_account",
                "carrytheone.context_processors.site",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
_SQLITE = "django.db.backends.sqlite3"


def _database(url_var: str, default: str) -> dict[str, Any]:
    database: dict[str, Any] = env.db(url_var, default=default)
    if database["ENGINE"] == _SQLITE:
        # Several processes share the file under `make run` (web, worker, beat). WAL lets
        # readers run beside the one writer; IMMEDIATE takes the write lock when a transaction
        # starts, so two writers queue (up to the busy timeout) instead of one failing with
        # "database is locked" when it upgrades a read lock.
        database["OPTIONS"] = {
            "timeout": env.float("SQLITE_BUSY_TIMEOUT", default=20.0),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            **database.get("OPTIONS", {}),
        }
    else:
        # The development server (`make run`) starts a thread per request: a kept connection
        # would outlive its thread, and a burst of Outbound Messages or webhooks would exhaust
        # PostgreSQL's max_connections. Kept only where threads are reused (gunicorn, Celery).
        database["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0 if DEBUG else 60)
        database["CONN_HEALTH_CHECKS"] = True
        # Behind PgBouncer in transaction mode a server-side cursor (QuerySet.iterator) would
        # outlive the transaction that opened it on the pooled connection.
        database["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
            "DB_DISABLE_SERVER_SIDE_CURSORS", default=False
        )
    return database


DATABASES: dict[str, dict[str, Any]] = {
    "default": _database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if SANDBOX_ENABLED:
    # The simulators are other parties: they get a database of their own, so that their token
    # endpoint never waits on a lock the product holds (one SQLite file would serialise them).
    # With PostgreSQL they may share the product's database (row locks do not collide).
    _sandbox_url = env.str(
        "SANDBOX_DATABASE_URL",
        default=(
            f"sqlite:///{VAR_DIR / 'sandbox.sqlite3'}"
            if DATABASES["default"]["ENGINE"] == _SQLITE
            else ""
        ),
    )
    if _sandbox_url:
        DATABASES["sandbox"] = _database("SANDBOX_DATABASE_URL", _sandbox_url)
DATABASE_ROUTERS = ["carrytheone.dbrouter.SandboxRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits, heartbeats, short-lived locks) ---------------------------------------
REDIS_URL: str = env.str("REDIS_URL", default="")
CACHES: dict[str, dict[str, Any]]
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="c1"),
        }
    }
else:
    # A file cache is shared by the web, worker and beat processes of `make run`; a per-process
    # memory cache would make login rate limits and heartbeats invisible across them.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            # Django's default (300) would cull login throttle counts under a burst of logins.
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }

# --- Authentication ---------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

ACCOUNT_FORMS = {"login": "accounts.forms.LoginForm", "signup": "accounts.forms.SignupForm"}
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_USER_MODEL_EMAIL_FIELD = "email"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION: str = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[CarryTheOne] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
# Failed passwords (accounts/login_throttle.py; the README's security section states the
# policy): per client IP, per IP and address, per address from unknown devices (beyond it the
# address is "protected": unknown devices need the emailed link, known ones still sign in), per
# known device and address, and for everything per address (ASVS 2.2.1: at most 100 an hour).
LOGIN_FAILED_RATE_LIMIT: str = env.str(
    "LOGIN_FAILED_RATE_LIMIT",
    default="20/10m/ip,5/5m/ip_account,20/1h/account,10/15m/device,100/1h/account_all",
)
# Days a browser that signed in stays a known device (its failures count only against itself).
LOGIN_KNOWN_DEVICE_DAYS: int = env.int("LOGIN_KNOWN_DEVICE_DAYS", default=180)
# Seconds the one-time link in a lock-out notice works.
LOGIN_UNLOCK_LINK_TTL: int = env.int("LOGIN_UNLOCK_LINK_TTL", default=3600)
# allauth's own failed-login limit now guards only two-factor codes (passwords go through the
# throttle above): only someone who typed the right password gets that far.
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key"}
# Two-factor authentication (allauth MFA): any user may turn it on; staff must, before the
# admin opens (carrytheone/admin_site.py).
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "CarryTheOne"
# One 30-second step either side of now: phones' clocks drift.
MFA_TOTP_TOLERANCE = 1
# The operator admin's path (a guessable /admin/ draws scanners); without slashes around it.
ADMIN_URL: str = env.str("ADMIN_URL", default="admin").strip("/") + "/"
if ADMIN_URL == "/":
    raise ImproperlyConfigured("ADMIN_URL must name a path, e.g. ops-7f3a.")
# How many proxies of ours append to X-Forwarded-For (a TLS proxy in front: 1). The client's
# IP is the entry that many from the right (carrytheone/client_ip.py); 0 ignores the header.
TRUSTED_PROXY_COUNT: int = env.int("TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT

# --- Email ------------------------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL: str = env.str("DEFAULT_FROM_EMAIL", default="CarryTheOne <noreply@localhost>")
SERVER_EMAIL: str = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)

# --- I18N -------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security ---------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE: bool = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE: bool = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT: bool = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS: int = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS: bool = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD: bool = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    # Only behind a proxy that sets this header itself; otherwise clients could spoof https.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# CONTENT_SECURITY_POLICY is set below, once the OAuth hosts it names are known.

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL: str = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any]
if CELERY_BROKER_URL.startswith("filesystem://"):
    # One folder for in and out: producers and consumers in different processes meet there.
    _broker_dir = VAR_DIR / "celery" / "queue"
    _broker_dir.mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "store_processed": False,
        # Broadcast exchanges (worker control, pidbox); kombu's default is ./control.
        "control_folder": str(VAR_DIR / "celery" / "control"),
    }
else:
    # Longer than the longest task, so a slow task is not redelivered to a second worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_BACKEND: str | None = env.str("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_TIME_LIMIT: int = env.int("CELERY_TASK_TIME_LIMIT", default=600)
CELERY_TASK_SOFT_TIME_LIMIT: int = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=540)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Tasks are idempotent (the database is the truth), so a task interrupted by a crash is
# re-run rather than lost.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A task running when the broker connection breaks finishes (its late ack then reaches the
# reconnected pool) instead of being cancelled for redelivery: a Redis restarted empty has
# lost the unacked copy, and a surviving copy waits for visibility_timeout (an hour). Celery 6
# turns cancelling on by default; pinned here.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_WORKER_SEND_TASK_EVENTS = False
# Three queues, so a push never waits behind a backlog of syncs: ``push`` (what a person or a
# webhook waits for: push runs, Xero webhooks, write-backs), ``sync`` (polls, manual runs,
# back-fills and their continuations, configuration checks) and the default ``celery`` (beat's
# housekeeping, alerts, billing, email). A plain ``celery worker`` consumes all three; the
# Procfile and docker-compose.yml add a worker of its own for ``-Q push``. With several queues
# kombu's Redis transport (5.7, ``queue_order_strategy = "round_robin"``) sends one BRPOP over
# all of them and moves the queue that just delivered to the end of the list, so a general
# worker takes from each in turn: a deep ``sync`` queue cannot starve the other two.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (
    Queue("push", routing_key="push"),
    Queue("sync", routing_key="sync"),
    Queue("celery", routing_key="celery"),
)
CELERY_TASK_ROUTES: dict[str, dict[str, str]] = {
    "integrations.tasks.sync_push": {"queue": "push"},
    "integrations.tasks.process_xero_webhook": {"queue": "push"},
    "integrations.tasks.writeback": {"queue": "push"},
    "integrations.tasks.sync_integration": {"queue": "sync"},
    "integrations.tasks.check_configuration": {"queue": "sync"},
    "integrations.tasks.check_configurations": {"queue": "sync"},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Any number of beats may run (a standby on another machine): only the holder of a Redis lease
# sends, and a standby takes over within BEAT_LEADER_TTL seconds of its death (carrytheone.beat).
CELERY_BEAT_SCHEDULER = "carrytheone.beat:LeaderScheduler"
BEAT_LEADER_TTL: float = env.float("BEAT_LEADER_TTL", default=30.0)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "heartbeat": {
        "task": "carrytheone.tasks.heartbeat",
        "schedule": env.float("HEARTBEAT_INTERVAL", default=60.0),
        "options": {"expires": 60},
    },
    "sync-poll": {
        "task": "integrations.tasks.poll_integrations",
        "schedule": env.float("SYNC_POLL_INTERVAL", default=60.0),
        "options": {"expires": 60},
    },
    "config-check": {
        "task": "integrations.tasks.check_configurations",
        "schedule": env.float("CONFIG_CHECK_INTERVAL", default=3600.0),
        "options": {"expires": 600},
    },
    # Each notice is recorded once sent, so an hourly check never sends one twice.
    "trial-reminders": {
        "task": "billing.tasks.send_trial_reminders",
        "schedule": 3600.0,
        "options": {"expires": 1800},
    },
    # Stripe is called only for subscriptions whose integrations or volume band changed.
    "billing-items-sync": {
        "task": "billing.tasks.sync_all_subscription_items",
        "schedule": 3600.0,
        "options": {"expires": 1800},
    },
    # Incidents opened and cleared from what the integrations store (alerts.services).
    "alerts-evaluate": {
        "task": "alerts.tasks.evaluate_alerts",
        "schedule": env.float("ALERT_EVALUATE_INTERVAL", default=60.0),
        "options": {"expires": 60},
    },
    # Hourly: each account's digest goes once, in the first run after ALERT_DIGEST_HOUR.
    "alerts-digest": {
        "task": "alerts.tasks.send_digests",
        "schedule": 3600.0,
        "options": {"expires": 1800},
    },
    "closed-accounts-delete": {
        "task": "accounts.tasks.delete_closed_accounts",
        "schedule": 86400.0,
        "options": {"expires": 3600},
    },
    # Stripe webhook events settled longer ago than STRIPE_EVENT_RETENTION_DAYS.
    "stripe-events-prune": {
        "task": "billing.tasks.prune_stripe_events",
        "schedule": 86400.0,
        "options": {"expires": 3600},
    },
    # Log entries older than LOG_RETENTION_DAYS (open ones kept), empty runs, old webhook events.
    "sync-logs-prune": {
        "task": "integrations.tasks.prune_sync_logs",
        "schedule": 86400.0,
        "options": {"expires": 3600},
    },
}
# Seconds between checks of each running integration's configuration against what Xero and
# Salesforce hold now (a deleted tax rate, an archived account, a renamed field...).
CONFIG_CHECK_INTERVAL: float = env.float("CONFIG_CHECK_INTERVAL", default=3600.0)
# Seconds between polls of each integration, and how long a sync's claim lives unextended.
SYNC_POLL_INTERVAL: float = env.float("SYNC_POLL_INTERVAL", default=60.0)
# A claim renewed every SYNC_CLAIM_HEARTBEAT seconds while its run goes on, so a dead
# worker's claim expires within SYNC_CLAIM_TTL and the next poll proceeds.
SYNC_CLAIM_TTL: int = env.int("SYNC_CLAIM_TTL", default=30)
SYNC_CLAIM_HEARTBEAT: float = env.float("SYNC_CLAIM_HEARTBEAT", default=5.0)
# Bounded runs: a run stops reading at the first chunk boundary past this many opportunities
# (that needed work) or this many seconds, finishes its credit notes and payments, and queues
# its continuation at the back of the ``sync`` queue, so a 20,000-deal back-fill is many short
# tasks that other accounts' work interleaves with, not one long one.
SYNC_RUN_MAX_OPPORTUNITIES: int = env.int("SYNC_RUN_MAX_OPPORTUNITIES", default=2000)
SYNC_RUN_MAX_SECONDS: float = env.float("SYNC_RUN_MAX_SECONDS", default=60.0)
# An account's share of the workers: at most this many of its integrations sync at once (a
# claim beyond it is refused and retried shortly; 0 lifts the cap).
SYNC_MAX_RUNS_PER_ACCOUNT: int = env.int("SYNC_MAX_RUNS_PER_ACCOUNT", default=2)
# Owners and admins are emailed once when every run has failed for this many seconds (and
# once when syncing recovers); /healthz counts integrations failing for longer.
SYNC_FAILURE_ALERT_AFTER: float = env.float("SYNC_FAILURE_ALERT_AFTER", default=600.0)
# An integration that is on but has not completed a run for this long is shown as stalled.
SYNC_STALLED_AFTER: float = env.float("SYNC_STALLED_AFTER", default=900.0)
# Alerts (the alerts app): seconds between evaluations of every integration, the UTC hour
# from which the daily digests go out, and the timeout of a Slack-compatible webhook's POST.
ALERT_EVALUATE_INTERVAL: float = env.float("ALERT_EVALUATE_INTERVAL", default=60.0)
ALERT_DIGEST_HOUR: int = env.int("ALERT_DIGEST_HOUR", default=7)
ALERT_WEBHOOK_TIMEOUT: float = env.float("ALERT_WEBHOOK_TIMEOUT", default=5.0)
# A write whose answer was lost is looked up in Xero only after this many seconds, so a request
# Xero is still processing is not sent a second time.
SYNC_UNKNOWN_SETTLE_AFTER: float = env.float("SYNC_UNKNOWN_SETTLE_AFTER", default=120.0)

# Seconds a Xero contact or item, once found or created, is used by later runs without looking
# it up again (0: always look up). A Xero CONTACT webhook event or a refused invoice ends it
# sooner. Pushed deals of known customers and products then cost one Xero call each.
XERO_LOOKUP_TTL: int = env.int("XERO_LOOKUP_TTL", default=3600)
# Real-time push (Salesforce Outbound Messages): opportunities arriving within this many seconds
# go to Xero in one run (widened automatically while the Xero organisation's budget is low).
PUSH_BATCH_WINDOW_SECONDS: float = env.float("PUSH_BATCH_WINDOW_SECONDS", default=1.0)
# A larger Outbound Message body is refused (413); Salesforce's largest (100 notifications of
# an object with many fields) stays well below a megabyte.
PUSH_MAX_BODY_BYTES: int = env.int("PUSH_MAX_BODY_BYTES", default=1_048_576)
# Push counts as healthy while a message arrived within this many seconds; then polling slows
# to every PUSH_HEALTHY_POLL_INTERVAL seconds (the safety net for a lost message).
PUSH_HEALTHY_WITHIN: float = env.float("PUSH_HEALTHY_WITHIN", default=3600.0)
PUSH_HEALTHY_POLL_INTERVAL: float = env.float("PUSH_HEALTHY_POLL_INTERVAL", default=900.0)

# --- Product ----------------------------------------------------------------------------------
TRIAL_DAYS: int = env.int("TRIAL_DAYS", default=30)
# Days before the trial's end on which owners are reminded; the day it ends always is too.
TRIAL_REMINDER_DAYS: list[int] = sorted(
    {int(day) for day in env.list("TRIAL_REMINDER_DAYS", default=["7", "1"]) if day.strip()},
    reverse=True,
)
# Days the sync log is kept (a daily task prunes older entries; failed and unresolved ones,
# audit rows and the ledger stay), and how many rows each of its statements deletes at most.
LOG_RETENTION_DAYS: int = env.int("LOG_RETENTION_DAYS", default=90)
LOG_PRUNE_BATCH_SIZE: int = env.int("LOG_PRUNE_BATCH_SIZE", default=5000)
# Days a settled Stripe webhook event is kept (for support and reconciliation): longer than the
# sync log, since a billing question can come a year on. Pending and failed ones stay.
STRIPE_EVENT_RETENTION_DAYS: int = env.int("STRIPE_EVENT_RETENTION_DAYS", default=400)
# Days a closed account's data is kept (then deleted by a daily task).
ACCOUNT_RETENTION_DAYS: int = env.int("ACCOUNT_RETENTION_DAYS", default=30)
# Days a canceled or unpaid subscription keeps syncing before the billing pause.
BILLING_GRACE_DAYS: int = env.int("BILLING_GRACE_DAYS", default=7)
INVITATION_TTL_DAYS: int = env.int("INVITATION_TTL_DAYS", default=14)
# Where "Contact support" requests and customers' replies are emailed (our team's inbox).
SUPPORT_EMAIL: str = env.str("SUPPORT_EMAIL", default="support@carrytheone.example")
# Longest a staff member's read-only "view as support" of an account lasts before restarting.
VIEW_AS_MAX_SECONDS: int = env.int("VIEW_AS_MAX_SECONDS", default=3600)
# Fernet keys, newest first; used from the connections work on to encrypt OAuth tokens.
FIELD_ENCRYPTION_KEYS: list[str] = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# --- External services ------------------------------------------------------------------------
# The product reaches Xero and Salesforce only through these URLs. With SANDBOX_ENABLED they
# default to the simulators served by this same site (SANDBOX_BASE_URL); otherwise to the real
# services. Setting any of them explicitly wins either way.
SANDBOX_BASE_URL: str = env.str("SANDBOX_BASE_URL", default=SITE_URL).rstrip("/")
# The simulated Xero's access-token lifetime (Xero's is 30 minutes); shorter to see refreshes.
SANDBOX_XERO_TOKEN_SECONDS: float | None = env.float("SANDBOX_XERO_TOKEN_SECONDS", default=None)
_sx = f"{SANDBOX_BASE_URL}/sandbox/xero"
XERO_API_URL: str = env.str(
    "XERO_API_URL",
    default=f"{_sx}/api.xro/2.0" if SANDBOX_ENABLED else "https://api.xero.com/api.xro/2.0",
)
XERO_CONNECTIONS_URL: str = env.str(
    "XERO_CONNECTIONS_URL",
    default=f"{_sx}/connections" if SANDBOX_ENABLED else "https://api.xero.com/connections",
)
XERO_AUTHORIZE_URL: str = env.str(
    "XERO_AUTHORIZE_URL",
    default=(
        f"{_sx}/identity/connect/authorize"
        if SANDBOX_ENABLED
        else "https://login.xero.com/identity/connect/authorize"
    ),
)
XERO_TOKEN_URL: str = env.str(
    "XERO_TOKEN_URL",
    default=(
        f"{_sx}/identity/connect/token"
        if SANDBOX_ENABLED
        else "https://identity.xero.com/connect/token"
    ),
)
XERO_REVOKE_URL: str = env.str(
    "XERO_REVOKE_URL",
    default=(
        f"{_sx}/identity/connect/revocation"
        if SANDBOX_ENABLED
        else "https://identity.xero.com/connect/revocation"
    ),
)
SALESFORCE_LOGIN_URL: str = env.str(
    "SALESFORCE_LOGIN_URL",
    default=SANDBOX_BASE_URL if SANDBOX_ENABLED else "https://login.salesforce.com",
)
SALESFORCE_API_VERSION: str = env.str("SALESFORCE_API_VERSION", default="62.0")
# OAuth apps. With the sandbox on, they default to the simulators' public demo apps.
XERO_CLIENT_ID: str = env.str(
    "XERO_CLIENT_ID", default="carrytheone-sandbox" if SANDBOX_ENABLED else ""
)
XERO_CLIENT_SECRET: str = env.str(
    "XERO_CLIENT_SECRET", default="sandbox-secret-xero" if SANDBOX_ENABLED else ""
)
# Apps created since 2 March 2026 get granular scopes; older apps use accounting.transactions.
XERO_SCOPES: list[str] = env.list(
    "XERO_SCOPES",
    default=[
        "offline_access",
        "accounting.invoices",
        "accounting.payments",
        "accounting.contacts",
        "accounting.settings",
    ],
)
SALESFORCE_CLIENT_ID: str = env.str(
    "SALESFORCE_CLIENT_ID", default="carrytheone-sandbox" if SANDBOX_ENABLED else ""
)
SALESFORCE_CLIENT_SECRET: str = env.str(
    "SALESFORCE_CLIENT_SECRET", default="sandbox-secret-salesforce" if SANDBOX_ENABLED else ""
)
# The webhook key Xero's developer portal shows for the app's webhook (a secret: signs every
# delivery to /webhooks/xero/). Empty: every delivery is refused with 401. With the sandbox on it
# defaults to the key seed_demo gives the sandbox organisation.
XERO_WEBHOOK_KEY: str = env.str(
    "XERO_WEBHOOK_KEY", default="sandbox-xero-webhook-key" if SANDBOX_ENABLED else ""
)
# Where a person sees one invoice in Xero, for the write-back's invoice link and the record
# page; {invoice_id} and {short_code} (the organisation's ShortCode, so that Xero opens the
# right organisation) are replaced. With the sandbox on: the sandbox Xero's own invoice page.
XERO_INVOICE_URL: str = env.str(
    "XERO_INVOICE_URL",
    default=f"{_sx}/invoices/{{invoice_id}}/"
    if SANDBOX_ENABLED
    else "https://go.xero.com/organisationlogin/default.aspx?shortcode={short_code}"
    "&redirecturl=/AccountsReceivable/View.aspx?InvoiceID={invoice_id}",
)
# Where the record page links a Xero contact; {contact_id} and {short_code} are replaced (no
# link while the organisation's short code is not known). Empty: no link (the sandbox has no
# contact page).
XERO_CONTACT_URL: str = env.str(
    "XERO_CONTACT_URL",
    default=""
    if SANDBOX_ENABLED
    else "https://go.xero.com/app/{short_code}/contacts/contact/{contact_id}",
)
# Seconds a write-back waits for more webhook events of the same integration before it reads
# Xero (one read and one Salesforce call for the lot).
WRITEBACK_BATCH_SECONDS: float = env.float("WRITEBACK_BATCH_SECONDS", default=1.0)
# Stripe, used by the billing work (the `stripe` SDK's API base and keys). With the sandbox on they
# default to the simulated Stripe and its demo account's public test credentials.
STRIPE_API_BASE: str = env.str(
    "STRIPE_API_BASE",
    default=f"{SANDBOX_BASE_URL}/sandbox/stripe" if SANDBOX_ENABLED else "https://api.stripe.com",
).rstrip("/")
STRIPE_SECRET_KEY: str = env.str(
    "STRIPE_SECRET_KEY",
    default="sk_test_sandbox_carrytheone_0000000000000000" if SANDBOX_ENABLED else "",
)
STRIPE_WEBHOOK_SECRET: str = env.str(
    "STRIPE_WEBHOOK_SECRET",
    default="whsec_sandbox_carrytheone_0000000000000000" if SANDBOX_ENABLED else "",
)
# Where the simulated Stripe's demo webhook endpoint delivers (empty: no endpoint is seeded).
SANDBOX_STRIPE_WEBHOOK_URL: str = env.str(
    "SANDBOX_STRIPE_WEBHOOK_URL", default=f"{SITE_URL}/billing/stripe/webhook/"
)
# Seconds before an access token's expiry at which it is refreshed ahead of use.
TOKEN_REFRESH_MARGIN: int = env.int("TOKEN_REFRESH_MARGIN", default=120)
# Timeout, in seconds, of every call to Xero or Salesforce (connect, read).
EXTERNAL_HTTP_TIMEOUT: float = env.float("EXTERNAL_HTTP_TIMEOUT", default=30.0)
# Seconds a cached copy of a Xero organisation's settings (tax rates, accounts...) is used.
XERO_METADATA_MAX_AGE: float = env.float("XERO_METADATA_MAX_AGE", default=3600.0)
# Seconds a cached copy of a Salesforce org's Opportunity and Account fields (the panel's field
# choices and the configuration check) is used before describe is called again.
SALESFORCE_METADATA_MAX_AGE: float = env.float("SALESFORCE_METADATA_MAX_AGE", default=3600.0)


# --- Content-Security-Policy ------------------------------------------------------------------
def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


# Forms post only to us (SITE_URL: the OAuth callbacks the sandbox's consent pages redirect to),
# with one exception: "Connect Xero / Salesforce" posts to our view,
# which redirects to the provider's authorize page, and browsers apply form-action to the
# redirects that follow a form submission. So the configured authorize hosts are allowed, and
# every Salesforce login host a user may choose (test.salesforce.com, a My Domain; see
# integrations/salesforce/forms.py).
_FORM_ACTION = " ".join(
    dict.fromkeys(
        source
        for source in (
            "'self'",
            _origin(SITE_URL),
            _origin(XERO_AUTHORIZE_URL),
            _origin(SALESFORCE_LOGIN_URL),
            "https://*.salesforce.com",
            "https://*.force.com",
        )
        if source
    )
)
# No inline scripts or styles anywhere: everything is served from /static/.
CONTENT_SECURITY_POLICY: str = env.str(
    "CONTENT_SECURITY_POLICY",
    default=(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
        f"frame-ancestors 'none'; form-action {_FORM_ACTION}"
    ),
)

# --- API rate limits (integrations/ratelimit.py; shared through Redis, else files in VAR_DIR) --
# Xero's limits per organisation for all our workers together: calls a minute, at once, per 24 h.
XERO_LIMIT_PER_MINUTE: int = env.int("XERO_LIMIT_PER_MINUTE", default=60)
XERO_LIMIT_CONCURRENT: int = env.int("XERO_LIMIT_CONCURRENT", default=5)
XERO_LIMIT_PER_DAY: int = env.int("XERO_LIMIT_PER_DAY", default=5000)
# The day's last N calls are kept for new invoices: updates are refused once no more remain.
XERO_DAY_RESERVE: int = env.int("XERO_DAY_RESERVE", default=500)
# Seconds a call may wait for a slot before giving up with XeroRateLimited.
XERO_LIMIT_MAX_WAIT: float = env.float("XERO_LIMIT_MAX_WAIT", default=60.0)
# Share of a Salesforce org's daily API allowance left to the customer's other apps: syncing
# pauses while usage is above the rest, and looks again after 15 minutes.
SALESFORCE_API_HEADROOM: float = env.float("SALESFORCE_API_HEADROOM", default=0.2)

# --- Logging ----------------------------------------------------------------------------------
LOG_LEVEL: str = env.str("LOG_LEVEL", default="INFO")
# json: one JSON object per line (time, level, logger, message, account/integration/run/task/
# request ids), for a log collector; text: readable lines for a terminal (`make run`).
LOG_FORMAT: str = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or text.")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "strip_query_string": {"()": "carrytheone.log_filters.StripQueryString"},
        "log_context": {"()": "carrytheone.logcontext.ContextFilter"},
        "scrub_secrets": {"()": "carrytheone.log_filters.ScrubSecrets"},
    },
    "formatters": {
        "json": {"()": "carrytheone.log_format.JsonFormatter"},
        "text": {"()": "carrytheone.log_format.TextFormatter"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["log_context", "scrub_secrets"],
        },
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's defaults give this logger handlers of its own (a console handler with DEBUG,
        # error emails without), which would write its records unscrubbed: it goes through
        # the root's handlers like every other logger.
        "django": {"handlers": []},
        "django.db.backends": {"level": "WARNING"},
        # Its DEBUG lines carry request paths, and a Slack webhook's path is its credential.
        "urllib3.connectionpool": {"level": "INFO"},
        # redis-py gives this logger its own unscrubbed stdout handler unless it exists already
        # (redis.utils._set_info_logger): declared here, it writes through ours.
        "push_response": {"level": "INFO"},
        # runserver's request lines (make run), as Django logs them, minus query strings: the
        # OAuth callbacks' one-time code and state stay out of the log.
        "django.server": {
            "handlers": ["django.server"],
            "level": "INFO",
            "propagate": False,
            # A push endpoint's path is its credential: scrubbed like every other line.
            "filters": ["strip_query_string", "scrub_secrets"],
        },
    },
}

# Django's error reports (the technical 500 page, error emails) mask secrets as our logs do,
# with DEBUG on too.
DEFAULT_EXCEPTION_REPORTER_FILTER = "carrytheone.error_reports.ScrubbingExceptionReporterFilter"

# --- Sentry (optional) ------------------------------------------------------------------------
# Errors of the web, the workers and beat, with secrets scrubbed before sending
# (carrytheone/sentry.py). Nothing is sent without a DSN.
SENTRY_DSN: str = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from carrytheone.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="development" if DEBUG else "production"),
        release=env.str("SENTRY_RELEASE", default="") or None,
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )
