from django.urls import path

from clinic.accounts import session_views, views

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
]
