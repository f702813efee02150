"""Measuring the engine from outside it: HTTP requests counted and timed, and peak memory.

Installed in the benchmark's own processes only (never in product code): it wraps the two HTTP
layers the product uses — urllib3's ``PoolManager.urlopen`` (the xero-python SDK) and
``requests.Session.send`` (simple-salesforce and the OAuth token refreshes). Both read the
whole answer before returning, so the time inside them is the time spent waiting on the
sandbox; everything else (SDK (de)serialisation, translation, the ledger in the database) is
the engine's own time.
"""

from __future__ import annotations

import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3


@dataclass
class HttpProbe:
    """Counts and times every HTTP request of this process while installed."""

    xero_calls: int = 0
    """Accounting API requests (what Xero's limits count)."""
    salesforce_calls: int = 0
    """Salesforce REST API requests (``/services/data/...``)."""
    other_calls: int = 0
    """Anything else, e.g. OAuth token refreshes."""
    wait_seconds: float = 0.0
    by_kind: Counter[str] = field(default_factory=Counter)
    """Requests per ``METHOD /Resource`` (``PUT /Invoices``, ``GET /Contacts``...)."""
    on_request: Callable[[str], None] | None = None
    """Called with each request's kind after it is answered (progress reports)."""
    _depth: int = 0
    _undo: list[Callable[[], None]] = field(default_factory=list)

    def _timed(self, method: str, url: str, send: Callable[[], Any]) -> Any:
        if self._depth:
            # A redirect followed inside the outer request: already being timed.
            return send()
        self._depth += 1
        start = time.perf_counter()
        try:
            return send()
        finally:
            self._depth -= 1
            self.wait_seconds += time.perf_counter() - start
            if "/api.xro/" in url:
                self.xero_calls += 1
            elif "/services/data/" in url:
                self.salesforce_calls += 1
            else:
                self.other_calls += 1
            kind = f"{method.upper()} {_resource(url)}"
            self.by_kind[kind] += 1
            if self.on_request is not None:
                self.on_request(kind)

    def install(self) -> HttpProbe:
        probe = self
        urlopen = urllib3.PoolManager.urlopen
        send = requests.Session.send

        def timed_urlopen(
            manager: urllib3.PoolManager, method: str, url: str, *args: Any, **kwargs: Any
        ) -> Any:
            return probe._timed(method, url, lambda: urlopen(manager, method, url, *args, **kwargs))

        def timed_send(
            session: requests.Session, request: requests.PreparedRequest, **kwargs: Any
        ) -> requests.Response:
            answer: requests.Response = probe._timed(
                str(request.method or ""),
                str(request.url or ""),
                lambda: send(session, request, **kwargs),
            )
            return answer

        urllib3.PoolManager.urlopen = timed_urlopen  # type: ignore[method-assign,assignment]
        requests.Session.send = timed_send  # type: ignore[method-assign,assignment]

        def undo() -> None:
            urllib3.PoolManager.urlopen = urlopen  # type: ignore[method-assign]
            requests.Session.send = send  # type: ignore[method-assign]

        self._undo.append(undo)
        return self

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()


def _resource(url: str) -> str:
    """``/Invoices`` for a Xero URL, ``/query`` for a Salesforce one (no ids, no query)."""
    path = urlsplit(url).path
    for marker in ("/api.xro/2.0", "/services/data/"):
        if marker in path:
            rest = path.split(marker, 1)[1].strip("/").split("/")
            if marker.startswith("/services"):
                rest = rest[1:]  # the API version
            return "/" + (rest[0] if rest else "")
    return path


def _proc_status_mb(field: str) -> float | None:
    """A ``VmHWM``/``VmRSS`` line of ``/proc/self/status`` in MB (Linux), else None."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB.

    On Linux ``VmHWM`` (the high-water mark of this program's own memory): ``ru_maxrss``
    would also count the parent's memory copied at ``fork`` before ``exec``. Elsewhere
    ``getrusage``'s ``ru_maxrss``.
    """
    found = _proc_status_mb("VmHWM")
    if found is not None:
        return found
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def rss_mb() -> float:
    """This process's resident set size now, in MB (the peak so far where that is unknown)."""
    found = _proc_status_mb("VmRSS")
    return found if found is not None else peak_rss_mb()
