"""Mounted at the site root: simple-salesforce keeps only the host and port of instance_url."""

from django.urls import path, re_path

from sandbox.salesforce import api, oauth, views

app_name = "sandbox_salesforce"

_V = r"^services/data/v(?P<version>[^/]+)"
_O = _V + r"/sobjects/(?P<sobject>\w+)"

urlpatterns = [
    re_path(r"^services/oauth2/authorize/?$", oauth.authorize, name="oauth_authorize"),
    re_path(r"^services/oauth2/token/?$", oauth.token, name="oauth_token"),
    re_path(r"^services/oauth2/revoke/?$", oauth.revoke, name="oauth_revoke"),
    path("id/<str:org_id>/<str:user_id>", oauth.identity, name="identity"),
    re_path(r"^services/data/?$", api.versions, name="versions"),
    re_path(_V + r"/?$", api.resources, name="resources"),
    re_path(_V + r"/query/?$", api.query, name="query"),
    re_path(_V + r"/queryAll/?$", api.query_all, name="query_all"),
    re_path(_V + r"/query(?:All)?/(?P<locator>[\w-]+)/?$", api.query_locator, name="query_more"),
    re_path(_V + r"/sobjects/?$", api.sobjects, name="sobjects"),
    re_path(_O + r"/?$", api.sobject_basic, name="sobject"),
    re_path(_O + r"/describe/?$", api.describe, name="describe"),
    re_path(_O + r"/updated/?$", api.updated, name="updated"),
    re_path(_O + r"/deleted/?$", api.deleted, name="deleted"),
    re_path(_O + r"/(?P<record_id>\w+)/?$", api.record, name="record"),
    re_path(_V + r"/limits/?$", api.limits, name="limits"),
    re_path(_V + r"/composite/sobjects/?$", api.composite_sobjects, name="composite_sobjects"),
    re_path(_V + r"/.*$", api.not_found, name="not_found"),
    # Sandbox pages.
    path("sf/orgs/<int:org_id>/", views.org, name="org"),
    path("sf/orgs/<int:org_id>/settings/", views.org_settings, name="org_settings"),
    path("sf/orgs/<int:org_id>/outbound/retry/", views.outbound_retry, name="outbound_retry"),
    path("sf/orgs/<int:org_id>/accounts/", views.account_list, name="account_list"),
    path("sf/orgs/<int:org_id>/accounts/new/", views.account_edit, name="account_create"),
    path("sf/orgs/<int:org_id>/accounts/<int:pk>/", views.account_edit, name="account_edit"),
    path("sf/orgs/<int:org_id>/products/", views.product_list, name="product_list"),
    path("sf/orgs/<int:org_id>/products/new/", views.product_edit, name="product_create"),
    path("sf/orgs/<int:org_id>/products/<int:pk>/", views.product_edit, name="product_edit"),
    path("sf/orgs/<int:org_id>/opportunities/", views.opportunity_list, name="opportunity_list"),
    path(
        "sf/orgs/<int:org_id>/opportunities/new/",
        views.opportunity_edit,
        name="opportunity_create",
    ),
    path(
        "sf/orgs/<int:org_id>/opportunities/<int:pk>/",
        views.opportunity_detail,
        name="opportunity",
    ),
    path(
        "sf/orgs/<int:org_id>/opportunities/<int:pk>/edit/",
        views.opportunity_edit,
        name="opportunity_edit",
    ),
    path(
        "sf/orgs/<int:org_id>/opportunities/<int:pk>/<str:action>/",
        views.opportunity_action,
        name="opportunity_action",
    ),
]
