from django.urls import path

from sandbox.stripe import views

app_name = "sandbox_stripe"

urlpatterns = [
    path("v1/<path:subpath>", views.api_v1, name="api"),
    path("", views.dashboard, name="dashboard"),
    path("advance/", views.advance, name="advance"),
    path("webhooks/retry/", views.retry_webhooks, name="retry_webhooks"),
    path("checkout/<str:session_id>/", views.checkout, name="checkout"),
    path("portal/<str:session_id>/", views.portal, name="portal"),
    path("invoices/<str:invoice_id>/", views.invoice, name="invoice"),
]
