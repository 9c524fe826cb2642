from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "clinic.web"
    label = "web"
