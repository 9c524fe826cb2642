from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "clinic.scheduling"
    label = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        from clinic.scheduling import privacy

        privacy.register()  # its personal data and retention rules (core/privacy.py)
        from clinic.scheduling import jobs  # noqa: F401 - registers the periodic jobs
