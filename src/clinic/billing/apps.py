from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "clinic.billing"
    label = "billing"
    verbose_name = "Billing"
