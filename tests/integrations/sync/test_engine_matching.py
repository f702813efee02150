"""Contact and item matching end to end: by number, name and email; collisions; new vs existing.

The demo seeds share five customer names and three product codes between the two simulators.
"""

from __future__ import annotations

from collections import Counter

import pytest

from integrations.core.models import Integration
from integrations.sync.models import LedgerEntry, SyncRun
from integrations.sync.run import sync_integration
from sandbox.salesforce import seed as salesforce_seed
from sandbox.salesforce.models import Account as SandboxAccount
from sandbox.salesforce.models import Contact as SandboxContact
from sandbox.salesforce.models import Opportunity as SandboxOpportunity
from sandbox.salesforce.models import OpportunityContactRole, OpportunityLineItem
from sandbox.xero import seed as xero_seed
from sandbox.xero.models import Contact as XeroContact
from sandbox.xero.models import Invoice as XeroInvoice
from sandbox.xero.models import Item as XeroItem
from tests.integrations.sync.helpers import no_duplicates, ours, won

pytestmark = pytest.mark.django_db(transaction=True)


def _account_id(name: str) -> str:
    account = SandboxAccount.objects.get(org__name=salesforce_seed.DEMO_ORG, name=name)
    assert SandboxOpportunity.objects.filter(account=account, sf_id__in=won()).exists(), (
        f"the demo seed gives {name} won opportunities"
    )
    return str(account.sf_id)


def _xero_contact(name: str) -> XeroContact:
    return XeroContact.objects.get(organisation__name=xero_seed.MAIN_ORG, name=name)


def _invoice_contacts(account_id: str) -> set[str]:
    """The Xero ContactIDs the account's won opportunities were invoiced to."""
    ids = SandboxOpportunity.objects.filter(account__sf_id=account_id, sf_id__in=won()).values_list(
        "sf_id", flat=True
    )
    invoice_ids = LedgerEntry.objects.filter(salesforce_id__in=list(ids)).values_list(
        "xero_invoice_id", flat=True
    )
    return {
        str(c)
        for c in XeroInvoice.objects.filter(invoice_id__in=list(invoice_ids)).values_list(
            "contact__contact_id", flat=True
        )
    }


def _primary_email(account_id: str) -> str:
    roles = OpportunityContactRole.objects.filter(
        opportunity__account__sf_id=account_id,
        opportunity__sf_id__in=won(),
        is_primary=True,
        is_deleted=False,
    ).select_related("contact")
    contacts = [r.contact for r in roles if r.contact.email]
    assert contacts
    # One customer, one billing email (the seed gives some accounts several people).
    email = contacts[0].email
    SandboxContact.objects.filter(pk__in=[c.pk for c in contacts]).update(email=email)
    return email


def _active(name: str) -> int:
    return (
        XeroContact.objects.filter(organisation__name=xero_seed.MAIN_ORG, name=name)
        .exclude(status="ARCHIVED")
        .count()
    )


def test_contacts_by_number_name_and_email_or_created(integration: Integration):
    acme = _account_id("Acme Corporation")
    globex = _account_id("Globex Ltd")
    initech = _account_id("Initech LLC")
    stark = _account_id("Stark Industries")
    # By number: someone renamed our earlier contact in Xero.
    renamed = _xero_contact("Globex Ltd")
    XeroContact.objects.filter(pk=renamed.pk).update(
        name="Globex (old name)", contact_number=globex
    )
    # By email: a differently named contact with the primary contact's email.
    billing = _xero_contact("Initech LLC")
    email = _primary_email(initech)
    XeroContact.objects.filter(pk=billing.pk).update(name="Initech Billing", email_address=email)
    # Archived matches are never used.
    archived = _xero_contact("Stark Industries")
    XeroContact.objects.filter(pk=archived.pk).update(status="ARCHIVED")
    by_name = _xero_contact("Acme Corporation")

    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.SUCCEEDED, run.error

    assert _invoice_contacts(globex) == {str(renamed.contact_id)}
    assert _active("Globex Ltd") == 0
    assert _invoice_contacts(acme) == {str(by_name.contact_id)}
    assert _invoice_contacts(initech) == {str(billing.contact_id)}
    stark_contacts = _invoice_contacts(stark)
    assert str(archived.contact_id) not in stark_contacts
    assert len(stark_contacts) == 1
    assert _active("Stark Industries") == 1
    # Contacts matched by name or email now carry the Account id: found by number next time.
    by_name.refresh_from_db()
    billing.refresh_from_db()
    assert by_name.contact_number == acme
    assert billing.contact_number == initech
    names = Counter(
        XeroContact.objects.filter(organisation__name=xero_seed.MAIN_ORG)
        .exclude(status="ARCHIVED")
        .values_list("name", flat=True)
    )
    assert all(count == 1 for count in names.values()), names
    no_duplicates(integration)


@pytest.mark.parametrize("rule", ["suffix", "link"])
def test_name_taken_by_another_record_follows_the_configured_rule(
    integration: Integration, rule: str
):
    umbrella = _account_id("Umbrella Pty Ltd")
    other = _xero_contact("Umbrella Pty Ltd")
    XeroContact.objects.filter(pk=other.pk).update(contact_number="001OTHERRECORD0000")
    integration.config = {**integration.config, "contact_name_collision": rule}
    integration.save()

    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    contacts = _invoice_contacts(umbrella)
    assert len(contacts) == 1
    warning = run.entries.filter(outcome="warning", message__contains="belongs to another record")
    assert warning.exists()
    if rule == "link":
        assert contacts == {str(other.contact_id)}
    else:
        created = XeroContact.objects.get(contact_id=contacts.pop())
        assert created.name == f"Umbrella Pty Ltd ({umbrella})"
        assert created.contact_number == umbrella
    other.refresh_from_db()
    # The other record's number is never overwritten.
    assert other.contact_number == "001OTHERRECORD0000"


def test_items_existing_are_reused_missing_are_created_once(
    integration: Integration, calls: Counter[str]
):
    existing = {
        i.code: i.item_id
        for i in XeroItem.objects.filter(
            organisation__name=xero_seed.MAIN_ORG, code__in=xero_seed.EXISTING_ITEM_CODES
        )
    }
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    codes = set(
        OpportunityLineItem.objects.filter(opportunity__sf_id__in=won(), is_deleted=False)
        .exclude(product__product_code="")
        .values_list("product__product_code", flat=True)
    )
    items = XeroItem.objects.filter(organisation__name=xero_seed.MAIN_ORG, code__in=codes)
    per_code = Counter(items.values_list("code", flat=True))
    assert all(len(c) <= 30 for c in codes)
    assert set(per_code) == codes
    assert all(count == 1 for count in per_code.values()), per_code
    for code, item_id in existing.items():
        assert XeroItem.objects.get(organisation__name=xero_seed.MAIN_ORG, code=code).item_id == (
            item_id
        )
    created = items.exclude(code__in=xero_seed.EXISTING_ITEM_CODES)
    assert created.exists()
    assert all(item.is_sold for item in created)
    # Items are created in batches, not one call per item or per opportunity.
    assert calls["create_items"] <= -(-created.count() // 50) + 1
    assert ours().count() == len(won())


def test_long_product_code_gets_a_stable_short_item_code_and_is_logged(integration: Integration):
    from integrations.sync.translate import item_code_for
    from sandbox.salesforce.models import Product2

    line = OpportunityLineItem.objects.filter(
        opportunity__sf_id__in=won(), is_deleted=False
    ).first()
    assert line is not None
    long_code = "ENTERPRISE-SUBSCRIPTION-PLATINUM-ANNUAL-2026"
    Product2.objects.filter(pk=line.product_id).update(product_code=long_code)
    short = item_code_for(long_code, "")
    assert len(short) == 30

    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert XeroItem.objects.filter(organisation__name=xero_seed.MAIN_ORG, code=short).count() == 1
    assert run.entries.filter(outcome="warning", message__contains=long_code).count() == 1
    ledger = LedgerEntry.objects.get(salesforce_id=line.opportunity.sf_id)
    invoice = XeroInvoice.objects.get(invoice_id=ledger.xero_invoice_id)
    assert short in {li.get("ItemCode") for li in invoice.lines}
