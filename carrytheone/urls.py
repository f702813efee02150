from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from accounts import views as account_views
from carrytheone import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", account_views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("healthz", views.healthz, name="healthz"),
    path("healthz/detail", views.healthz_detail, name="healthz_detail"),
    # The operator admin: staff with TOTP only (carrytheone/admin_site.py), at ADMIN_URL.
    path(settings.ADMIN_URL, admin.site.urls),
    path("", include("integrations.web.hooks_urls")),
    path("", include("accounts.urls")),
    path("", include("billing.web.urls")),
    path("", include("integrations.web.urls")),
    path("", include("integrations.web.connect.xero_urls")),
    path("", include("integrations.web.connect.salesforce_urls")),
    path("", include("alerts.urls")),
    path("", include("support.urls")),
    # allauth at the root: /signup/, /login/, /logout/, /password/reset/, /confirm-email/...
    path("", include("allauth.urls")),
]

if settings.SANDBOX_ENABLED:
    urlpatterns += [
        path("", include("sandbox.urls")),
        path("sandbox/xero/", include("sandbox.xero.urls")),
        path("sandbox/stripe/", include("sandbox.stripe.urls")),
        path("", include("sandbox.salesforce.urls")),
    ]
