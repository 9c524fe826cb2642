from django.apps import AppConfig


class CareConfig(AppConfig):
    name = "clinic.care"
    label = "care"

    def ready(self) -> None:
        from clinic.care import privacy

        privacy.register()  # its personal data and retention rules (core/privacy.py)
        from clinic.care.handlers import subscriptions_register

        subscriptions_register()
