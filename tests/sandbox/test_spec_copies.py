"""The simulators validate against copies of the public specs kept in the repository."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "reference"

COPIES = {
    "sandbox/xero/spec/xero_accounting.normalized.json": "xero/xero_accounting.normalized.json",
    "sandbox/xero/spec/xero-identity.yaml": "xero/xero-identity.yaml",
    "sandbox/xero/spec/xero-webhooks.yaml": "xero/xero-webhooks.yaml",
    "sandbox/salesforce/spec/sobject-describe.json": "salesforce/sobject-describe.json",
    "sandbox/stripe/spec/fixtures3.json": "stripe/fixtures3.json",
}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_accounting_spec_is_the_published_one():
    digest = _sha(ROOT / "sandbox/xero/spec/xero_accounting.normalized.json")
    assert digest.startswith("684716cf6978")


@pytest.mark.parametrize(("copy", "original"), COPIES.items())
def test_copy_matches_the_shared_reference(copy: str, original: str):
    source = SHARED / original
    if not source.exists():
        pytest.skip("shared/reference is not beside this checkout")
    assert _sha(ROOT / copy) == _sha(source)
