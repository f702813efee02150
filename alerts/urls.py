from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("a/<slug:account_slug>/alerts/", views.alerts_page, name="page"),
    path("a/<slug:account_slug>/alerts/test/", views.alerts_test, name="test"),
]
