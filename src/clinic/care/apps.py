from django.apps import AppConfig


class CareConfig(AppConfig):
    name = "clinic.care"
    label = "care"
