"""gunicorn's settings for the web process.

gunicorn reads ``./gunicorn.conf.py`` from its working directory: the Dockerfile's ``/app``
(docker-compose's ``web``) and the benchmark's sandbox server both start it from here.
"""

import gunicorn.http.wsgi

# No product name or version in the Server header (nor in the WSGI environ): nothing for a
# scanner to match against gunicorn's known bugs. gunicorn reads these module globals for
# every response, in the workers forked after this file runs.
gunicorn.http.wsgi.SERVER = ""
gunicorn.http.wsgi.SERVER_SOFTWARE = ""

# The access log names the path only (%(U)s), never the query string: the OAuth callbacks
# carry a one-time ``code`` and ``state`` in theirs. No Referer either: it may hold a URL with
# a query string. Client address, time, method, path, protocol, status, size, duration, agent.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)s "%(a)s"'
# ...and the path scrubbed of secrets (a push endpoint's path is its token).
logger_class = "carrytheone.gunicorn_logging.ScrubbedLogger"

# No control socket: gunicorn 24+ opens one at ~/.gunicorn/gunicorn.ctl by default, outside the
# checkout and shared by every gunicorn of the user (`make run`, the tests' servers, the
# benchmark), so they would take it from one another; nothing here uses `gunicornc`.
control_socket_disable = True
