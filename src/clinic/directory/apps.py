from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "clinic.directory"
    label = "directory"
    verbose_name = "Directory"

    def ready(self) -> None:
        from clinic.directory import privacy

        privacy.register()  # its personal data and retention rules (core/privacy.py)
