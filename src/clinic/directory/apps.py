from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "clinic.directory"
    label = "directory"
    verbose_name = "Directory"
