"""Test settings: the production settings module, with test defaults for the environment.

``DATABASE_URL`` and ``REDIS_URL`` are honoured when set (CI sets both); otherwise tests run on
SQLite with a per-process memory cache.
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-production")
os.environ.setdefault("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
os.environ.setdefault("SANDBOX_ENABLED", "1")
# Nothing listens here: a test that forgets to point a URL at its live server fails fast
# instead of talking to a `make run` on port 8000.
os.environ.setdefault("SANDBOX_BASE_URL", "http://127.0.0.1:9")
# The simulators share the test database (one test transaction covers both); the subprocess
# tests that reproduce `make run` give them their own file, as `make run` does.
os.environ.setdefault("SANDBOX_DATABASE_URL", "")
# A fixed test key (never used anywhere else).
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "dGVzdC1vbmx5LWtleS1kby1ub3QtdXNlLTMyYnl0ZXM=")
# Production's Xero limits would make suites of many calls wait; limiter tests set their own.
os.environ.setdefault("XERO_LIMIT_PER_MINUTE", "100000")
os.environ.setdefault("XERO_LIMIT_PER_DAY", "10000000")
os.environ.setdefault(
    "VAR_DIR", os.path.join(tempfile.gettempdir(), f"carrytheone-test-{os.getpid()}")
)

# pytest-xdist (`make test`): the controller imports these settings before it starts the workers,
# which inherit its environment; each worker gwN then gets a VAR_DIR of its own and the Redis
# database N after the session's (gw0 the given one, gw1 the next, modulo Redis's 16): the autouse
# cache.clear() is a FLUSHDB, and Celery's queues and the limiter's windows live there too, so two
# workers on one database would wipe and consume each other's. In os.environ, before the settings
# import, so the cache, the broker and every process a test starts follow it; once per worker
# (TEST_XDIST_WORKER), so such a process keeps what it was given instead of shifting it again.
TEST_SESSION_REDIS_URL = os.environ.setdefault(
    "TEST_SESSION_REDIS_URL", os.environ.get("REDIS_URL", "")
)
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and os.environ.get("TEST_XDIST_WORKER") != _worker:
    os.environ["TEST_XDIST_WORKER"] = _worker
    os.environ["VAR_DIR"] = f"{os.environ['VAR_DIR']}-{_worker}"
    if TEST_SESSION_REDIS_URL:
        _base, _, _number = TEST_SESSION_REDIS_URL.rpartition("/")
        if not _number.isdigit():  # no database in the URL: database 0
            _base, _number = TEST_SESSION_REDIS_URL.rstrip("/"), "0"
        os.environ["REDIS_URL"] = f"{_base}/{(int(_number) + int(_worker[2:])) % 16}"

from carrytheone.settings import *  # noqa: E402, F403
from carrytheone.settings import REDIS_URL  # noqa: E402

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if not REDIS_URL:
    # Large enough never to cull: a test sending hundreds of logins must not see its login
    # throttle counts evicted (production's Redis must not evict them either).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 1_000_000},
        }
    }
SECURE_SSL_REDIRECT = False
STATIC_ROOT = VAR_DIR / "static"  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
