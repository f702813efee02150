from django.urls import path

from support import views

app_name = "support"

urlpatterns = [
    path(
        "a/<slug:account_slug>/integrations/<int:integration_id>/support/",
        views.request_new,
        name="new",
    ),
    path("a/<slug:account_slug>/support/", views.request_list, name="list"),
    path("a/<slug:account_slug>/support/<int:request_id>/", views.request_detail, name="detail"),
    path(
        "a/<slug:account_slug>/support/<int:request_id>/close/",
        views.request_close,
        name="close",
    ),
]
