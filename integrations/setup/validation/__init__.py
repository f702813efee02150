"""Checks an integration's configuration against what Xero and Salesforce hold now.

A setting can go bad without anyone touching it: a tax rate deleted in Xero, a bank account
archived, a Salesforce field renamed, a picklist value added. :func:`check_configuration` finds
such mismatches before an opportunity trips over them (pure: it takes both organisations'
metadata as values); :func:`integration_check_configuration` reads the metadata (cached), stores
what it found on the integration and tells the account's owners and admins once;
:func:`paused_behaviours` says which parts of the sync should hold back meanwhile.

Each problem names the behaviour it affects, so the sync can hold back just that part:

- ``invoices``: new invoices (the sales account, reference field, branding theme);
- ``tax``: the tax rates invoice lines carry — an invoice cannot be sent without them;
- ``tracking``: the tracking options invoice lines carry — likewise;
- ``currencies``: invoices (and payments) in a currency Xero has not enabled;
- ``payments``: recording payments (bank accounts, the payment method field);
- ``credit_notes``: credit notes, which use the same accounts as the invoices;
- ``matching``: values that match nothing (a stage no opportunity can have, a payment method
  name that is not a picklist value). Advisory: a person should know, but holding anything back
  would not help, so it never pauses a behaviour.
"""

from __future__ import annotations

from integrations.setup.validation.check import check_configuration
from integrations.setup.validation.service import integration_check_configuration, setup_url

__all__ = ["check_configuration", "integration_check_configuration", "setup_url"]
