from django.urls import path

from accounts import staff_views, views

app_name = "accounts"

urlpatterns = [
    path("accounts/", views.account_list, name="account_list"),
    path("accounts/new/", views.account_create, name="account_create"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("login/unlock/<str:token>/", views.login_unlock, name="login_unlock"),
    # Everything below is tenant-scoped: see accounts.access and tests/test_access_matrix.py.
    path("a/<slug:account_slug>/", views.dashboard, name="dashboard"),
    path("a/<slug:account_slug>/members/", views.members, name="members"),
    path("a/<slug:account_slug>/members/invite/", views.member_invite, name="member_invite"),
    path(
        "a/<slug:account_slug>/members/<int:membership_id>/role/",
        views.member_role,
        name="member_role",
    ),
    path(
        "a/<slug:account_slug>/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path(
        "a/<slug:account_slug>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path(
        "a/<slug:account_slug>/invitations/<int:invitation_id>/resend/",
        views.invitation_resend,
        name="invitation_resend",
    ),
    path("a/<slug:account_slug>/settings/", views.account_settings, name="settings"),
    path("a/<slug:account_slug>/leave/", views.account_leave, name="leave"),
    path("a/<slug:account_slug>/close/", views.account_close, name="close"),
]

# CarryTheOne staff access (accounts.staff_access): the owners' audit log and grants, and the
# end of a staff member's view as support (not tenant-scoped: it only clears the session).
urlpatterns += [
    path("a/<slug:account_slug>/settings/audit/", staff_views.audit_log, name="audit"),
    path(
        "a/<slug:account_slug>/settings/support-access/",
        staff_views.support_grant_new,
        name="support_grant_new",
    ),
    path(
        "a/<slug:account_slug>/settings/support-access/<int:grant_id>/revoke/",
        staff_views.support_grant_revoke_view,
        name="support_grant_revoke",
    ),
    path("staff/view-as/stop/", staff_views.staff_view_end, name="staff_view_stop"),
]
