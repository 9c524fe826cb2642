from django.apps import AppConfig


class ClinicalConfig(AppConfig):
    name = "clinic.clinical"
    label = "clinical"

    def ready(self) -> None:
        from clinic.clinical import privacy

        privacy.register()  # its personal data and retention rules (core/privacy.py)
        from clinic.clinical.handlers import subscriptions_register

        subscriptions_register()
        from clinic.clinical.keys import documents_rotate
        from clinic.core.keys import rotator_register

        rotator_register("clinical documents", documents_rotate)  # `clinic keys rotate`
