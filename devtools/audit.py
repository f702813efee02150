"""`make audit`: the locked dependency set against known vulnerabilities.

pip-audit checks every pin of requirements.lock first (its default service is PyPI's per-release
JSON API; PIP_AUDIT_VULNERABILITY_SERVICE=osv uses OSV). pip-audit *skips* a package it cannot
look up and still reports "No known vulnerabilities found", so a run from a network that blocks
those addresses would pass having audited nothing. Every package pip-audit skipped is looked up
again in PyPI's project JSON, whose vulnerability list covers the project's latest release: it
settles the pins that are that release. Whatever is left is listed as not audited.

Exit status: 1 when a locked version has a known vulnerability (always; upgrade it, see README);
2 when some pins could not be audited and PIP_AUDIT_REQUIRED=1; otherwise 0, with a loud warning
naming the pins nobody could vouch for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.deps import LOCK, canonical_name, locked_pins

PYPI_PROJECT_JSON = "https://pypi.org/pypi/{name}/json"
TIMEOUT_SECONDS = 15
EXIT_VULNERABLE = 1
EXIT_UNAUDITED = 2


@dataclass(frozen=True)
class Vulnerability:
    package: str
    version: str
    id: str
    fixed_in: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class LatestRelease:
    """What PyPI's project JSON says: its latest release and that release's vulnerabilities."""

    version: str
    vulnerabilities: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class Unaudited:
    """A pin nobody could vouch for, and why each source gave no verdict."""

    version: str
    pip_audit: str
    pypi: str


@dataclass
class AuditResult:
    vulnerabilities: list[Vulnerability] = field(default_factory=list)
    audited_by_pip_audit: int = 0
    audited_by_pypi_latest: int = 0
    unaudited: dict[str, Unaudited] = field(default_factory=dict)


def pip_audit_report(*, lock: Path) -> tuple[dict[str, Any] | None, str]:
    """pip-audit's JSON report of the lock, or None with what went wrong."""
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        command = [
            sys.executable,
            "-m",
            "pip_audit",
            "--requirement",
            str(lock),
            "--require-hashes",
            "--disable-pip",
            "--progress-spinner",
            "off",
            "--timeout",
            str(TIMEOUT_SECONDS),
            "--format",
            "json",
            "--output",
            str(report_path),
        ]
        completed = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, check=False
        )
        # 0: nothing found, 1: vulnerabilities found; both write the report.
        if completed.returncode in (0, 1) and report_path.exists():
            report: dict[str, Any] = json.loads(report_path.read_text())
            return report, ""
        last_line = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"pip-audit exited {completed.returncode}: {last_line}"


def latest_release(name: str) -> LatestRelease:
    url = PYPI_PROJECT_JSON.format(name=name)
    # A fixed https address on PyPI, never one taken from input.
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
        data: dict[str, Any] = json.load(response)
    vulnerabilities = tuple(
        (str(v["id"]), tuple(str(f) for f in v.get("fixed_in") or ()))
        for v in data.get("vulnerabilities") or ()
        if not v.get("withdrawn")
    )
    return LatestRelease(version=str(data["info"]["version"]), vulnerabilities=vulnerabilities)


def audit(
    *,
    pins: Mapping[str, str],
    report: Mapping[str, Any] | None,
    report_problem: str,
    lookup: Callable[[str], LatestRelease],
) -> AuditResult:
    result = AuditResult()
    skipped = dict.fromkeys(pins, report_problem or "pip-audit gave no verdict")
    for dependency in (report or {}).get("dependencies", []):
        name = canonical_name(str(dependency["name"]))
        if "skip_reason" in dependency:
            if name in skipped:
                skipped[name] = str(dependency["skip_reason"])
            continue
        skipped.pop(name, None)
        result.audited_by_pip_audit += 1
        result.vulnerabilities.extend(
            Vulnerability(
                package=name,
                version=str(dependency["version"]),
                id=str(vuln["id"]),
                fixed_in=tuple(str(f) for f in vuln.get("fix_versions") or ()),
                source="pip-audit",
            )
            for vuln in dependency.get("vulns", [])
        )
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = dict(zip(skipped, pool.map(_answer(lookup), skipped), strict=True))
    for name, answer in sorted(answers.items()):
        pinned = pins[name]
        if isinstance(answer, str):
            result.unaudited[name] = Unaudited(pinned, pip_audit=skipped[name], pypi=answer)
        elif answer.version != pinned:
            result.unaudited[name] = Unaudited(
                pinned, pip_audit=skipped[name], pypi=f"covers only its latest, {answer.version}"
            )
        else:
            result.audited_by_pypi_latest += 1
            result.vulnerabilities.extend(
                Vulnerability(
                    package=name, version=pinned, id=vuln_id, fixed_in=fixed, source="PyPI"
                )
                for vuln_id, fixed in answer.vulnerabilities
            )
    return result


def _answer(lookup: Callable[[str], LatestRelease]) -> Callable[[str], LatestRelease | str]:
    def answer(name: str) -> LatestRelease | str:
        try:
            return lookup(name)
        except (OSError, ValueError, KeyError) as error:  # URLError is an OSError
            return f"no answer ({error})"

    return answer


def exit_status(*, result: AuditResult, required: bool) -> int:
    if result.vulnerabilities:
        return EXIT_VULNERABLE
    if result.unaudited and required:
        return EXIT_UNAUDITED
    return 0


def render(*, result: AuditResult, pinned: int, required: bool) -> str:
    lines = [
        f"audit: {pinned} locked packages; {result.audited_by_pip_audit} audited by pip-audit, "
        f"{result.audited_by_pypi_latest} by PyPI's latest-release data, "
        f"{len(result.unaudited)} not audited"
    ]
    for v in result.vulnerabilities:
        fixed = ", ".join(v.fixed_in) or "no fixed release yet"
        lines.append(f"VULNERABLE {v.package}=={v.version}: {v.id} (fixed in {fixed}; {v.source})")
    if result.vulnerabilities:
        lines.append(
            "audit: FAILED. Upgrade each package to a fixed release (`make lock UPGRADE=1`, "
            "or widen its range in pyproject.toml), then commit requirements.lock."
        )
    if result.unaudited:
        lines.append(
            f"WARNING: {len(result.unaudited)} locked packages were NOT checked for known "
            "vulnerabilities: no vulnerability service answered for their pinned release."
        )
        first = min(result.unaudited.items())
        lines.append(f"WARNING:   pip-audit said, e.g. for {first[0]}: {first[1].pip_audit}")
        lines.extend(
            f"WARNING:   {name}=={u.version} (PyPI's project JSON: {u.pypi})"
            for name, u in sorted(result.unaudited.items())
        )
        lines.append(
            "WARNING: PIP_AUDIT_REQUIRED=1 is set: failing."
            if required
            else "WARNING: passing anyway; PIP_AUDIT_REQUIRED=1 makes this a failure."
        )
    return "\n".join(lines)


def main() -> int:
    pins = locked_pins(lock_text=LOCK.read_text())
    report, problem = pip_audit_report(lock=LOCK)
    result = audit(pins=pins, report=report, report_problem=problem, lookup=latest_release)
    required = os.environ.get("PIP_AUDIT_REQUIRED", "") == "1"
    print(render(result=result, pinned=len(pins), required=required))
    return exit_status(result=result, required=required)


if __name__ == "__main__":
    sys.exit(main())
