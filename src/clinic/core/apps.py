from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "clinic.core"
    label = "core"

    def ready(self) -> None:
        from django_tasks.signals import task_enqueued

        from clinic.core import checks  # noqa: F401 - registers the deployment checks
        from clinic.core.logs import logging_configure
        from clinic.core.wakeup import workers_wake

        logging_configure()
        task_enqueued.connect(workers_wake, dispatch_uid="clinic.core.wake")
