from django.urls import path

from clinic.accounts import session_views, staff_views, views

app_name = "accounts"
urlpatterns = [
    path("account/two-factor/", views.two_factor_home, name="two_factor"),
    path(
        "account/two-factor/recovery-codes/",
        views.two_factor_recovery_codes,
        name="two_factor_recovery_codes",
    ),
    path("account/two-factor/disable/", views.two_factor_disable, name="two_factor_disable"),
    path(
        "members/<uuid:membership_id>/two-factor/reset/",
        views.member_two_factor_reset,
        name="member_two_factor_reset",
    ),
    path("organization/two-factor/", views.two_factor_policy, name="two_factor_policy"),
    path("account/sessions/", session_views.sessions_page, name="sessions"),
    path("account/sessions/revoke/", session_views.sessions_revoke, name="sessions_revoke"),
    path("account/reauthenticate/", session_views.reauthenticate, name="reauthenticate"),
    path("organization/sessions/", session_views.session_policy, name="session_policy"),
    path("members/invite/", staff_views.invitation_send, name="invitation_send"),
    path(
        "members/invitations/<uuid:invitation_id>/resend/",
        staff_views.invitation_action,
        {"action": "resend"},
        name="invitation_resend",
    ),
    path(
        "members/invitations/<uuid:invitation_id>/revoke/",
        staff_views.invitation_action,
        {"action": "revoke"},
        name="invitation_revoke",
    ),
    path("members/<uuid:membership_id>/update/", staff_views.member_update, name="member_update"),
    path(
        "invitations/accept/<str:token>/", staff_views.invitation_accept, name="invitation_accept"
    ),
    path(
        "settings/organization/",
        staff_views.organization_settings,
        name="organization_settings",
    ),
    path("settings/organization/logo/", staff_views.organization_logo, name="organization_logo"),
]
