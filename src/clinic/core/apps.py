from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "clinic.core"
    label = "core"

    def ready(self) -> None:
        from clinic.core.logs import logging_configure

        logging_configure()
