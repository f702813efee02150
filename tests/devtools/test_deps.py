from devtools.deps import (
    FINGERPRINT_PREFIX,
    LOCK,
    PROD_LOCK,
    PYPROJECT,
    check,
    fingerprint,
    locked_pins,
)

PYPROJECT_TEXT = """
[build-system]
requires = ["setuptools>=77"]

[project]
name = "x"
requires-python = ">=3.11"
dependencies = ["django>=5.2,<6"]

[project.optional-dependencies]
dev = ["pytest>=8"]

[tool.ruff]
line-length = 100
"""


def _lock_for(pyproject_text: str) -> str:
    return f"# header\n{FINGERPRINT_PREFIX}{fingerprint(pyproject_text=pyproject_text)}\n"


def test_the_committed_locks_match_pyproject():
    for lock in (LOCK, PROD_LOCK):
        assert check(pyproject_text=PYPROJECT.read_text(), lock_text=lock.read_text()) is None


def test_the_production_lock_is_the_runtime_part_of_the_full_lock():
    full = locked_pins(lock_text=LOCK.read_text())
    prod = locked_pins(lock_text=PROD_LOCK.read_text())
    assert {"django", "celery", "gunicorn", "pip", "setuptools"} <= prod.keys()
    assert not {"pytest", "mypy", "ruff", "playwright", "pip-audit", "uv"} & prod.keys()
    assert {name: full[name] for name in prod} == prod


def test_the_committed_lock_pins_every_dependency_with_hashes():
    text = LOCK.read_text()
    pins = locked_pins(lock_text=text)
    for name in ("django", "celery", "pytest", "pip-audit", "pip", "setuptools"):
        assert name in pins
    # Every pin carries at least one hash, or pip's --require-hashes refuses the whole file.
    entries = [e for e in text.split("\n") if "==" in e and not e.startswith((" ", "#"))]
    assert len(entries) == len(pins)
    assert text.count("--hash=sha256:") >= len(pins)


def test_a_changed_dependency_makes_the_lock_stale():
    lock = _lock_for(PYPROJECT_TEXT)
    assert check(pyproject_text=PYPROJECT_TEXT, lock_text=lock) is None
    for changed in (
        PYPROJECT_TEXT.replace("django>=5.2,<6", "django>=5.2,<7"),
        PYPROJECT_TEXT.replace('dev = ["pytest>=8"]', 'dev = ["pytest>=8", "ruff"]'),
        PYPROJECT_TEXT.replace("setuptools>=77", "setuptools>=80"),
        PYPROJECT_TEXT.replace('">=3.11"', '">=3.12"'),
    ):
        problem = check(pyproject_text=changed, lock_text=lock)
        assert problem is not None
        assert "make lock" in problem


def test_other_pyproject_settings_leave_the_lock_alone():
    changed = PYPROJECT_TEXT.replace("line-length = 100", "line-length = 120")
    assert check(pyproject_text=changed, lock_text=_lock_for(PYPROJECT_TEXT)) is None


def test_a_lock_without_fingerprint_or_missing_is_stale():
    assert check(pyproject_text=PYPROJECT_TEXT, lock_text="django==5.2\n") is not None
    assert check(pyproject_text=PYPROJECT_TEXT, lock_text=None) is not None


def test_pins_are_read_with_markers_and_canonical_names():
    text = (
        "Django_Stubs==5.2.9 \\\n    --hash=sha256:ab\n    # via x\n"
        "colorama==0.4.6 ; sys_platform == 'win32' \\\n    --hash=sha256:cd\n"
    )
    assert locked_pins(lock_text=text) == {"django-stubs": "5.2.9", "colorama": "0.4.6"}
