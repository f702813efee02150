"""Alerts: no failure is ever silent.

An *incident* is one problem of one integration (a connection to reconnect, a configuration
problem, failures past the account's threshold, nothing synced while deals wait, every run
failing). Each is told once per channel when it opens and once when it clears; the account's
history of messages is its panel page (``a/<slug>/alerts/``).

The integrations never import this package: it reads what they store (``alerts.services``).
"""
