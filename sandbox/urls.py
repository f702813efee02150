"""The sandbox front page; the root URLconf mounts the simulators beside it.

Xero lives under ``/sandbox/xero/``; Salesforce at the root (``/services/...``) because
simple-salesforce keeps only the host and port of ``instance_url``. Each keeps its own URL
namespace (``sandbox_xero``, ``sandbox_salesforce``).
"""

from django.urls import path

from sandbox import views

app_name = "sandbox"

urlpatterns = [
    path("sandbox/", views.index, name="index"),
]
