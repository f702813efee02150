"""The locked dependency set, `requirements.lock`: every package `make install` puts into .venv.

It pins the runtime and dev dependencies, and pip and the build backend that install the project,
each with the hashes of all its files on PyPI, resolved once for Python 3.11+ on every platform
(uv's universal resolution: markers say where a pin applies), so CI, `make run` and `make test`
install the same files everywhere. `make lock` rewrites it; `make lint` fails when pyproject.toml's
dependency lists changed since (the lock's header carries a fingerprint of them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
# The runtime dependencies alone, at the versions of LOCK (resolved under it as a constraint):
# what the Dockerfile installs, without the test and lint tools.
PROD_LOCK = ROOT / "requirements-prod.lock"
PYPROJECT = ROOT / "pyproject.toml"

# Installed from the lock before the project itself (`pip install --no-build-isolation`), so
# nothing `make install` runs comes from an unpinned download.
INSTALLERS = ("pip",)

# Part of the fingerprint: changing how the lock is resolved calls for a new lock too.
RESOLUTION = (
    "--universal",
    "--python-version",
    "3.11",
    "--generate-hashes",
    "--default-index",
    "https://pypi.org/simple",
    "--no-config",
    "--no-header",
)

FINGERPRINT_PREFIX = "# pyproject fingerprint: sha256:"
HEADERS = {
    LOCK: "# Every package `make install` puts into .venv: runtime, dev, pip and setuptools.\n",
    PROD_LOCK: "# The runtime packages alone, at requirements.lock's versions (the Dockerfile).\n",
}
HEADER_TAIL = "# Written by `make lock` (devtools/deps.py, uv pip compile); do not edit by hand.\n"
_INSTALLERS_NOTE = "make install (pip, build backend)"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


class LockError(Exception):
    pass


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installer_requirements(*, pyproject: dict[str, object]) -> list[str]:
    build_system = pyproject.get("build-system")
    requires = build_system.get("requires", []) if isinstance(build_system, dict) else []
    return [*INSTALLERS, *(str(r) for r in requires)]


def fingerprint(*, pyproject_text: str) -> str:
    """What the lock was resolved from: pyproject's dependency lists and the resolution options."""
    pyproject = tomllib.loads(pyproject_text)
    project = pyproject.get("project", {})
    inputs = {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "installers": installer_requirements(pyproject=pyproject),
        "resolution": list(RESOLUTION),
    }
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def recorded_fingerprint(*, lock_text: str) -> str | None:
    for line in lock_text.splitlines():
        if line.startswith(FINGERPRINT_PREFIX):
            return line.removeprefix(FINGERPRINT_PREFIX).strip()
    return None


def check(*, pyproject_text: str, lock_text: str | None, name: str = LOCK.name) -> str | None:
    """Why the lock no longer matches pyproject.toml, or None when it does."""
    if lock_text is None:
        return f"{name} is missing: run `make lock`."
    recorded = recorded_fingerprint(lock_text=lock_text)
    if recorded is None:
        return f"{name} has no pyproject fingerprint line: run `make lock`."
    if recorded != fingerprint(pyproject_text=pyproject_text):
        return (
            f"pyproject.toml's dependencies changed since {name} was written: "
            "run `make lock` and commit the lock files."
        )
    return None


def locked_pins(*, lock_text: str) -> dict[str, str]:
    """Canonical package name -> pinned version, whatever the pin's environment marker."""
    return {canonical_name(name): version for name, version in _PIN.findall(lock_text)}


def write_locks(*, upgrade: bool, upgrade_packages: Sequence[str]) -> None:
    pyproject_text = PYPROJECT.read_text()
    installers = installer_requirements(pyproject=tomllib.loads(pyproject_text))
    header_line = f"{FINGERPRINT_PREFIX}{fingerprint(pyproject_text=pyproject_text)}\n"
    upgrades = [
        *(["--upgrade"] if upgrade else []),
        *(arg for package in upgrade_packages for arg in ("--upgrade-package", package)),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        installers_in = Path(tmp) / "installers.in"
        installers_in.write_text("".join(f"{r}\n" for r in installers))
        full = _compile(
            lock=LOCK,
            inputs=[str(PYPROJECT), str(installers_in), "--all-extras"],
            extra=upgrades,
            tmp=Path(tmp),
        )
        LOCK.write_text(HEADERS[LOCK] + HEADER_TAIL + header_line + full)
        # Constrained by the lock just written, so each runtime pin is the version CI tested.
        prod = _compile(
            lock=PROD_LOCK,
            inputs=[str(PYPROJECT), str(installers_in), "--constraint", LOCK.name],
            extra=[],
            tmp=Path(tmp),
        )
        PROD_LOCK.write_text(HEADERS[PROD_LOCK] + HEADER_TAIL + header_line + prod)


def _compile(*, lock: Path, inputs: Sequence[str], extra: Sequence[str], tmp: Path) -> str:
    output = tmp / lock.name
    # uv keeps the versions already in its output file where they still satisfy pyproject,
    # so a lock changes only as much as pyproject did, unless an upgrade is asked for.
    if lock.exists():
        shutil.copyfile(lock, output)
    command = [
        sys.executable,
        "-m",
        "uv",
        "pip",
        "compile",
        "--quiet",
        *inputs,
        *RESOLUTION,
        "--output-file",
        str(output),
        *extra,
    ]
    completed = subprocess.run(command, cwd=ROOT, check=False)  # noqa: S603
    if completed.returncode != 0:
        raise LockError(f"uv pip compile for {lock.name} failed (exit {completed.returncode})")
    return output.read_text().replace(f"-r {tmp / 'installers.in'}", _INSTALLERS_NOTE)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.deps", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    lock = commands.add_parser("lock", help="rewrite requirements.lock from pyproject.toml")
    lock.add_argument("--upgrade", action="store_true", help="newest versions pyproject allows")
    lock.add_argument("--upgrade-package", action="append", default=[], metavar="NAME")
    commands.add_parser("check", help="fail when requirements.lock is older than pyproject.toml")
    args = parser.parse_args(argv)
    if args.command == "lock":
        try:
            write_locks(upgrade=args.upgrade, upgrade_packages=args.upgrade_package)
        except LockError as error:
            print(f"make lock: {error}", file=sys.stderr)
            return 1
        for lock_path in (LOCK, PROD_LOCK):
            pins = locked_pins(lock_text=lock_path.read_text())
            print(f"wrote {lock_path.name}: {len(pins)} packages")
        return 0
    pyproject_text = PYPROJECT.read_text()
    problems = [
        problem
        for lock_path in (LOCK, PROD_LOCK)
        if (
            problem := check(
                pyproject_text=pyproject_text,
                lock_text=lock_path.read_text() if lock_path.exists() else None,
                name=lock_path.name,
            )
        )
    ]
    for problem in problems:
        print(f"lock check: {problem}", file=sys.stderr)
    if problems:
        return 1
    print("lock check: requirements.lock and requirements-prod.lock match pyproject.toml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
