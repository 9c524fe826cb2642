from __future__ import annotations

from django import template

from clinic.notifications.messages import event_title

register = template.Library()


@register.filter
def message_title(delivery) -> str:
    """What a sent message is called in lists: its subject, or (an SMS has none) the human title
    of its kind."""
    return delivery.rendered_subject or event_title(delivery.event)
