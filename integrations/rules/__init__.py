"""Accounting rules: payment methods, tax and tracking, configured per integration.

``models`` holds what a person configures (editable in the Django admin); ``specs`` loads it as
frozen values; ``tax``, ``tracking`` and ``payments`` are pure functions (no I/O) the sync engine
calls per opportunity, raising :class:`~integrations.rules.problems.RuleProblem` with a message
that says what to change.
"""
