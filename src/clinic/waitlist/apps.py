from django.apps import AppConfig


class WaitlistConfig(AppConfig):
    name = "clinic.waitlist"
    label = "waitlist"
    verbose_name = "Waitlist"

    def ready(self) -> None:
        from clinic.waitlist import privacy

        privacy.register()  # its personal data and retention rules (core/privacy.py)
        from clinic.waitlist import (
            jobs,  # noqa: F401 - registers the periodic jobs
            messages,  # noqa: F401 - registers the message events
        )
        from clinic.waitlist.handlers import subscriptions_register

        subscriptions_register()
