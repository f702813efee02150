"""The product's processes as `make run` starts them — web, worker, beat — each a real process
with its own environment, for tests that must see what a person running the product sees.

Nothing is patched: the processes load ``carrytheone.settings`` (not the test settings), talk
to each other through the database and the broker, and reach the simulators over HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Stack:
    """``var_dir`` holds everything the processes write (databases, broker, logs)."""

    var_dir: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: dict[str, IO[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        base = {
            key: os.environ[key]
            for key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
            if key in os.environ
        }
        return {
            **base,
            "DJANGO_SETTINGS_MODULE": "carrytheone.settings",
            "PYTHONUNBUFFERED": "1",
            # What `make run` sets (Makefile RUN_ENV).
            "DEBUG": "1",
            "SANDBOX_ENABLED": "1",
            "ACCOUNT_EMAIL_VERIFICATION": "optional",
            "PORT": str(self.port),
            "SITE_URL": self.url,
            "VAR_DIR": str(self.var_dir),
            **self.env_overrides,
        }

    def manage(self, *args: str, timeout: float = 180) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"manage.py {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stdout.decode()[-3000:]}\n{done.stderr.decode()[-5000:]}"
            )
        return done.stdout.decode()

    def query(self, code: str) -> Any:
        """Runs ``code`` in a Django shell of the stack; its last line must print JSON."""
        out = self.manage("shell", "-c", code).strip().splitlines()
        return json.loads(out[-1]) if out else None

    def start(self, name: str, argv: list[str]) -> None:
        log = (self.var_dir / f"{name}.log").open("ab")
        self._logs[name] = log
        self.processes[name] = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def start_web(self) -> None:
        # As the Procfile: gunicorn, one worker of threads, without its reloader in tests.
        self.start(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "carrytheone.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--worker-class",
                "gthread",
                "--workers",
                "1",
                "--threads",
                "8",
                "--timeout",
                "120",
                "--access-logfile",
                "-",
            ],
        )
        self.wait_for(self._answers, timeout=60, what="the web server to answer")

    def start_worker(self, *, concurrency: int = 2) -> None:
        self.start(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "carrytheone",
                "worker",
                "--loglevel=INFO",
                f"--concurrency={concurrency}",
                "--without-mingle",
                "--without-gossip",
            ],
        )

    def start_beat(self) -> None:
        self.start(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "carrytheone",
                "beat",
                "--loglevel=INFO",
                f"--schedule={self.var_dir / 'celerybeat-schedule'}",
            ],
        )

    def _answers(self) -> bool:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def log(self, name: str) -> str:
        path = self.var_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for(
        self, condition: Callable[[], Any], *, timeout: float, what: str, every: float = 1.0
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise AssertionError(
                        f"{name} exited ({process.returncode}):\n{self.log(name)[-4000:]}"
                    )
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {n}\n{self.log(n)[-3000:]}" for n in self.processes)
                raise AssertionError(f"timed out waiting for {what}\n{logs}")
            time.sleep(every)

    def stop_process(self, name: str) -> None:
        """Stops one of the stack's processes as a deploy would (SIGTERM: a worker finishes its
        task), so that work queued meanwhile waits for the next one started."""
        _terminate([self.processes.pop(name)], grace=30)
        self._logs.pop(name).close()

    def stop(self) -> None:
        _terminate(list(self.processes.values()), grace=15)
        for log in self._logs.values():
            log.close()
        self.processes.clear()


def _terminate(processes: list[subprocess.Popen[bytes]], *, grace: float) -> None:
    """SIGTERM to all at once, then each killed if it has not exited within ``grace``."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
