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
        _retention_register()
        task_enqueued.connect(workers_wake, dispatch_uid="clinic.core.wake")


def _retention_register() -> None:
    from datetime import timedelta

    from django.utils.translation import gettext_lazy as _

    from clinic.core.idempotency import idempotency_purge
    from clinic.core.privacy import retention_rule

    retention_rule(
        "core.idempotency_keys",
        holds=_("Stored responses of API writes (Idempotency-Key)"),
        keep=timedelta(days=1),
        purge=idempotency_purge,
    )
