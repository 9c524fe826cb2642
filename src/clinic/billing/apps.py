from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "clinic.billing"
    label = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from clinic.billing import privacy

        privacy.register()  # its personal data and retention rules (core/privacy.py)
