from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "clinic.accounts"
    label = "accounts"

    def ready(self) -> None:
        from clinic.accounts import privacy

        privacy.register()  # its personal data and retention rules (core/privacy.py)
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from clinic.accounts import user_sessions

        # Every way of signing in or out goes through django.contrib.auth's login()/logout():
        # the session record follows them there rather than in each view.
        user_logged_in.connect(
            lambda sender, request, user, **kw: user_sessions.session_register(request, user),
            dispatch_uid="clinic.accounts.session_register",
            weak=False,
        )
        user_logged_out.connect(
            lambda sender, request, user, **kw: user_sessions.session_unregister(request, user),
            dispatch_uid="clinic.accounts.session_unregister",
            weak=False,
        )
