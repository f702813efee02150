"""Private PostgreSQL clusters and Redis servers for ``make chaos``, on their own ports.

``make chaos`` crashes and restarts them, so they must never be the machine's own: each is a
throwaway server in a temporary folder, started here and stopped at the end. A restart keeps the
port, so every process of the stack reconnects to the same address, as after a real outage.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.3)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start within {timeout:.0f} s")


def postgres_bin() -> Path:
    """The newest PostgreSQL server binaries installed (Debian's layout)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if not found:
        found_initdb = shutil.which("initdb")
        if found_initdb is None:
            raise SystemExit("make chaos needs PostgreSQL's server binaries (initdb, pg_ctl)")
        return Path(found_initdb).parent
    return Path(found[-1]).parent


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


@dataclass
class PrivatePostgres:
    """A cluster of its own (``initdb`` in a temporary folder), trust authentication."""

    name: str
    port: int = field(default_factory=free_port)
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="c1-chaos-pg-")))
    restarts: int = 0
    # More server settings (``-c name=value ...``): ``make loadtest`` sizes memory for its load.
    options: str = ""

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def logfile(self) -> Path:
        return self.folder / "server.log"

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        # PostgreSQL refuses to run as root: as the postgres user then.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(  # noqa: S603 - PostgreSQL's own binaries, our arguments
            [*prefix, *argv], capture_output=True, check=check, timeout=120
        )

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, user="postgres")
        self._run(
            str(postgres_bin() / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def start(self) -> None:
        # fsync off: a crash here is the postmaster's (stop -m immediate), not the machine's,
        # so the operating system still holds every write; the server restarts through its
        # crash recovery all the same.
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=300 -c shared_buffers=64MB"
        )
        if self.options:
            options = f"{options} {self.options}"
        self._run(
            str(postgres_bin() / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.logfile),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        _wait(lambda: _answers(self.port), f"PostgreSQL {self.name}")

    def stop(self, mode: str = "fast") -> None:
        """``immediate`` is a crash (no checkpoint; recovery at the next start)."""
        self._run(
            str(postgres_bin() / "pg_ctl"),
            "-D",
            str(self.data),
            "-m",
            mode,
            "-w",
            "stop",
            check=False,
        )

    def restart(self, mode: str, down_seconds: float) -> None:
        self.stop(mode)
        time.sleep(down_seconds)
        self.start()
        self.restarts += 1

    def create_database(self, database: str) -> None:
        self._run(
            str(postgres_bin() / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            database,
        )

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class PrivateRedis:
    """``redis-server`` with no persistence: a restart loses every key and queued message."""

    port: int = field(default_factory=free_port)
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="c1-chaos-redis-")))
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise SystemExit("make chaos needs redis-server (Debian: apt-get install redis-server)")
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our arguments
                [
                    redis_server,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.folder),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait(lambda: _answers(self.port), "Redis")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart_losing_data(self, down_seconds: float) -> None:
        self.kill()
        time.sleep(down_seconds)
        self.start()
        self.restarts += 1

    def destroy(self) -> None:
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
