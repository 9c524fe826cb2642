from django.urls import path

from clinic.web import password_views, today_views, views

app_name = "web"
urlpatterns = [
    path("", today_views.today, name="home"),
    path(
        "today/appointments/<uuid:appointment_id>/status/",
        today_views.appointment_status,
        name="today_status",
    ),
    path(
        "today/appointments/<uuid:appointment_id>/cancel/",
        today_views.appointment_cancel,
        name="today_cancel",
    ),
    path("login/", views.login_view, name="login"),
    path("login/two-factor/", views.login_two_factor, name="login_two_factor"),
    path("logout/", views.logout_view, name="logout"),
    path("account/password/", password_views.password_change, name="password_change"),
    path(
        "account/password/reset/",
        password_views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "account/password/reset/sent/",
        password_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "account/password/reset/<uidb64>/<token>/",
        password_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "account/password/reset/complete/",
        password_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("organization/switch/", views.organization_switch, name="organization_switch"),
    path("members/", views.members, name="members"),
    path("audit/", views.audit, name="audit"),
]
