import io
import json

from devtools.audit import (
    EXIT_UNAUDITED,
    EXIT_VULNERABLE,
    LatestRelease,
    audit,
    exit_status,
    latest_release,
    render,
)

PINS = {"django": "5.2.1", "requests": "2.34.2", "urllib3": "2.8.0"}


def _no_lookup(name):
    raise AssertionError(f"looked up {name} although pip-audit audited it")


def _report(*dependencies):
    return {"dependencies": list(dependencies), "fixes": []}


def test_a_vulnerability_found_by_pip_audit_fails():
    report = _report(
        {
            "name": "Django",
            "version": "5.2.1",
            "vulns": [{"id": "PYSEC-2025-1", "fix_versions": ["5.2.2"], "aliases": []}],
        },
        {"name": "requests", "version": "2.34.2", "vulns": []},
        {"name": "urllib3", "version": "2.8.0", "vulns": []},
    )
    result = audit(pins=PINS, report=report, report_problem="", lookup=_no_lookup)
    assert result.audited_by_pip_audit == 3
    assert [(v.package, v.id, v.fixed_in) for v in result.vulnerabilities] == [
        ("django", "PYSEC-2025-1", ("5.2.2",))
    ]
    assert exit_status(result=result, required=False) == EXIT_VULNERABLE
    assert "VULNERABLE django==5.2.1: PYSEC-2025-1 (fixed in 5.2.2" in render(
        result=result, pinned=3, required=False
    )


def test_pins_pip_audit_skipped_are_settled_by_pypis_latest_release_data():
    skipped = "Dependency not found on PyPI and could not be audited"
    report = _report(*({"name": name, "skip_reason": skipped} for name in PINS))
    latest = {
        "django": LatestRelease(version="6.1.3", vulnerabilities=()),
        "requests": LatestRelease(version="2.34.2", vulnerabilities=()),
        "urllib3": LatestRelease(version="2.8.0", vulnerabilities=(("GHSA-x", ("2.8.1",)),)),
    }
    result = audit(pins=PINS, report=report, report_problem="", lookup=latest.__getitem__)
    assert result.audited_by_pip_audit == 0
    assert result.audited_by_pypi_latest == 2
    assert [(v.package, v.id, v.source) for v in result.vulnerabilities] == [
        ("urllib3", "GHSA-x", "PyPI")
    ]
    # django 5.2.1 is not PyPI's latest release: its project JSON says nothing about it.
    assert list(result.unaudited) == ["django"]
    assert result.unaudited["django"].pip_audit == skipped
    assert exit_status(result=result, required=False) == EXIT_VULNERABLE


def test_unaudited_pins_warn_and_fail_only_when_required():
    def unreachable(name):
        raise OSError("Name or service not known")

    result = audit(
        pins=PINS,
        report=None,
        report_problem="pip-audit exited 1: ConnectionError",
        lookup=unreachable,
    )
    assert sorted(result.unaudited) == sorted(PINS)
    assert not result.vulnerabilities
    assert exit_status(result=result, required=False) == 0
    assert exit_status(result=result, required=True) == EXIT_UNAUDITED
    text = render(result=result, pinned=3, required=False)
    assert "3 not audited" in text
    assert "WARNING: 3 locked packages were NOT checked" in text
    assert "WARNING:   urllib3==2.8.0 (PyPI's project JSON: no answer (Name or service" in text
    assert "PIP_AUDIT_REQUIRED=1 is set: failing" in render(result=result, pinned=3, required=True)


def test_a_clean_audit_passes_quietly():
    latest = {name: LatestRelease(version=v, vulnerabilities=()) for name, v in PINS.items()}
    result = audit(pins=PINS, report=None, report_problem="x", lookup=latest.__getitem__)
    assert result.audited_by_pypi_latest == 3
    assert exit_status(result=result, required=True) == 0
    assert "WARNING" not in render(result=result, pinned=3, required=True)


def test_pypis_project_json_is_read_without_withdrawn_advisories(monkeypatch):
    body = {
        "info": {"version": "2.8.0"},
        "vulnerabilities": [
            {"id": "GHSA-live", "fixed_in": ["2.8.1"], "withdrawn": None},
            {"id": "GHSA-gone", "fixed_in": [], "withdrawn": "2026-01-01T00:00:00Z"},
        ],
    }
    asked = []

    def urlopen(url, timeout):
        asked.append(url)
        return io.BytesIO(json.dumps(body).encode())

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    latest = latest_release("urllib3")
    assert asked == ["https://pypi.org/pypi/urllib3/json"]
    assert latest == LatestRelease(version="2.8.0", vulnerabilities=(("GHSA-live", ("2.8.1",)),))
