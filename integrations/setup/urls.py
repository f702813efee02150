"""The setup wizard's URLs, included by ``integrations/urls.py`` (names under ``integrations:``).

One URL per step (``integrations:setup_<step>``): the step is part of the route, not a URL
argument, so every URL takes only ``account_slug`` and ``integration_id``. Rule rows are named
in the POST body, and checked to belong to the integration.
"""

from django.urls import URLPattern, path

from integrations.setup import views
from integrations.setup.steps import STEPS

BASE = "a/<slug:account_slug>/integrations/<int:integration_id>/setup/"

urlpatterns: list[URLPattern] = [
    path(BASE, views.setup, name="setup"),
    *(
        path(f"{BASE}{step.path}/", views.setup_step, {"step_key": step.key}, name=step.url_name)
        for step in STEPS
    ),
    path(f"{BASE}rules/", views.setup_rules, name="setup_rules"),
    path(f"{BASE}push/test/", views.setup_push_test, name="setup_push_test"),
    path(f"{BASE}push/rotate/", views.setup_push_rotate, name="setup_push_rotate"),
    path(f"{BASE}refresh/", views.setup_refresh, name="setup_refresh"),
    path(f"{BASE}switch/", views.setup_switch, name="setup_switch"),
    path(f"{BASE}preview/", views.setup_preview, name="setup_preview"),
    path(f"{BASE}history/", views.setup_history, name="setup_history"),
]
