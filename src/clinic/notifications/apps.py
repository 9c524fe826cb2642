from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "clinic.notifications"
    label = "notifications"
    verbose_name = "Notifications and background work"

    def ready(self) -> None:
        from django_tasks.signals import task_enqueued

        from clinic.notifications import periodic  # noqa: F401 - registers the periodic jobs
        from clinic.notifications.handlers import subscriptions_register
        from clinic.notifications.wakeup import workers_wake

        subscriptions_register()
        task_enqueued.connect(workers_wake, dispatch_uid="clinic.notifications.wake")
