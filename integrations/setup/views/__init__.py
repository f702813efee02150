"""The setup wizard: one page per step, the rule tables, the review, the preview, the history.

Every page goes through ``account_view``: support members see every step read-only (GET);
changing anything (every POST) needs an admin. Each step saves on its own and moves on; the
integration stays off until the review finds no problem and someone switches it on. Pages work
without JavaScript (plain POST and redirect); with htmx, rule rows, the metadata refresh and
the preview search update in place.
"""

from __future__ import annotations

from integrations.setup.views.history import change_label, setup_history
from integrations.setup.views.preview import setup_preview
from integrations.setup.views.push import setup_push_rotate, setup_push_test
from integrations.setup.views.review import setup_refresh, setup_switch
from integrations.setup.views.rules import setup_rules
from integrations.setup.views.wizard import setup, setup_step

__all__ = [
    "change_label",
    "setup",
    "setup_history",
    "setup_preview",
    "setup_push_rotate",
    "setup_push_test",
    "setup_refresh",
    "setup_rules",
    "setup_step",
    "setup_switch",
]
