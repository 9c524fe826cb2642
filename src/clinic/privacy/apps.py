from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "clinic.privacy"
    label = "privacy"
    verbose_name = "Privacy"

    def ready(self) -> None:
        from clinic.privacy import jobs  # noqa: F401 - registers the retention job
