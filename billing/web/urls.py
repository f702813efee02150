from django.urls import path

from billing.web import views

app_name = "billing"

urlpatterns = [
    # Public, before signup.
    path("pricing/", views.pricing, name="pricing"),
    path("how-it-works/", views.how_it_works, name="how_it_works"),
    path("faq/", views.faq, name="faq"),
    # Owners only: see accounts.access and tests/test_access_matrix.py.
    path("a/<slug:account_slug>/billing/", views.billing_page, name="page"),
    path("a/<slug:account_slug>/billing/checkout/", views.checkout, name="checkout"),
    path("a/<slug:account_slug>/billing/portal/", views.portal, name="portal"),
    # Stripe's webhooks: signed by Stripe, checked before anything is stored.
    path("billing/stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
]
