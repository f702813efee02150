"""Billing's pages: the public pricing, how-it-works and FAQ pages, and the owners' billing page.

This package may import ``accounts`` and ``integrations`` (the access helper, the ledger's
counts); ``billing.services`` and ``billing.models`` may not.
"""
