from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "clinic.audit"
    label = "audit"

    def ready(self) -> None:
        from clinic.audit import jobs  # noqa: F401 - registers the partition job
