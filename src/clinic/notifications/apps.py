from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "clinic.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from clinic.notifications import privacy

        privacy.register()  # its personal data and retention rules (core/privacy.py)
        from clinic.core.worker import executor_stopped
        from clinic.notifications import periodic  # noqa: F401 - registers the periodic jobs
        from clinic.notifications.handlers import subscriptions_register
        from clinic.notifications.services import email_connections_close

        subscriptions_register()
        executor_stopped.connect(
            lambda **_: email_connections_close(), dispatch_uid="clinic.notifications.smtp_close"
        )
