"""Messages: which events exist, and their templates per channel and language.

An event is a name and a context (plain strings and ids); its template lives in
`templates/notifications/messages/<template>.<language>.txt`, one file per template and language
(en, fr, ar), with one partial per channel part: `email_subject`, `email_body`, `sms`,
`in_app_title`, `in_app_body`. Text parts are rendered without HTML escaping; the HTML version of
an email wraps the text body in `notifications/email/message.html` (escaped, right-to-left for
Arabic, with the unsubscribe link of reminders).

New kinds of messages (waitlist offers, time-off decisions, ...) register an event with
`event_register` and add their template files; the planner and the channels stay as they are.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from babel.numbers import format_currency
from django.conf import settings
from django.template import Context, Engine
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from clinic.core import timefmt
from clinic.notifications.models import Category, Channel

LANGUAGES = ("en", "fr", "ar")
PARTS = ("email_subject", "email_body", "sms", "in_app_title", "in_app_body")


@dataclass(frozen=True)
class MessageEvent:
    name: str
    template: str
    # what staff read in lists ("Appointment reminder"), never the event's key
    title: str = ""
    # Channels it goes out on to patients/contacts (in-app goes to users with a login).
    channels: tuple[str, ...] = (Channel.EMAIL, Channel.SMS)
    # A reminder: respects the recipient's "reminders" switch and carries an unsubscribe link.
    reminder: bool = False
    # Staff in-app notifications: the category users may mute.
    category: str = Category.APPOINTMENTS
    # Sent now even in quiet hours (rare: e.g. a cancellation of an appointment before morning).
    extra: dict = field(default_factory=dict)


EVENTS: dict[str, MessageEvent] = {}


def event_register(event: MessageEvent) -> MessageEvent:
    EVENTS[event.name] = event
    return event


for _event in (
    MessageEvent("appointment.booked", "appointment_booked", _("Appointment booked")),
    MessageEvent(
        "appointment.rescheduled", "appointment_rescheduled", _("Appointment rescheduled")
    ),
    MessageEvent("appointment.cancelled", "appointment_cancelled", _("Appointment cancelled")),
    MessageEvent(
        "appointment.reminder",
        "appointment_reminder",
        _("Appointment reminder"),
        reminder=True,
    ),
    MessageEvent(
        "invoice.issued",
        "invoice_issued",
        _("Invoice issued"),
        channels=(Channel.EMAIL,),
        category=Category.INVOICES,
    ),
    MessageEvent(
        "invoice.overdue",
        "invoice_overdue",
        _("Invoice overdue"),
        reminder=True,
        category=Category.INVOICES,
    ),
    # staff, in-app (and email copies for those who asked)
    MessageEvent(
        "staff.patient_booking",
        "staff_patient_booking",
        _("Online booking by a patient"),
        channels=(),
        category=Category.PATIENT_BOOKINGS,
    ),
    MessageEvent(
        "staff.cancellation",
        "staff_cancellation",
        _("Cancellation"),
        channels=(),
        category=Category.CANCELLATIONS,
    ),
    MessageEvent(
        "staff.delivery_failed",
        "staff_delivery_failed",
        _("Message not delivered"),
        channels=(),
        category=Category.DELIVERY_FAILURES,
    ),
):
    event_register(_event)


def event_get(name: str) -> MessageEvent:
    return EVENTS[name]


def event_title(name: str) -> str:
    """The human title of an event ("Invoice overdue"); an unknown one reads as its key."""
    event = EVENTS.get(name)
    return str(event.title) if event is not None and event.title else name


# --- rendering -----------------------------------------------------------------------------------

_text_engine: Engine | None = None


def _engine() -> Engine:
    """The template engine for text parts: the app templates, with partials, no autoescape."""
    global _text_engine
    if _text_engine is None:
        _text_engine = Engine(
            autoescape=False,
            loaders=[
                (
                    "template_partials.loader.Loader",
                    [
                        (
                            "django.template.loaders.cached.Loader",
                            ["django.template.loaders.app_directories.Loader"],
                        )
                    ],
                )
            ],
            libraries={"partials": "template_partials.templatetags.partials"},
            builtins=["django.templatetags.i18n"],
        )
    return _text_engine


def language_pick(*candidates: str | None) -> str:
    for code in candidates:
        if code and code[:2] in LANGUAGES:
            return code[:2]
    return "en"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None = None


def _part(template: str, language: str, part: str, context: dict) -> str:
    tpl = _engine().get_template(f"notifications/messages/{template}.{language}.txt#{part}")
    # Context() escapes by default whatever the engine says: a text part must not be HTML
    # (O'Brien, not O&#x27;Brien); the HTML email escapes the text body once, when it wraps it.
    with translation.override(language):
        return tpl.render(Context(context, autoescape=False)).strip()


def message_render(*, template: str, channel: str, language: str, context: dict) -> Rendered:
    """The message of `template` for `channel` ("email", "sms", "in_app") in `language`."""
    language = language_pick(language)
    if channel == Channel.EMAIL:
        subject = " ".join(_part(template, language, "email_subject", context).split())
        text = _part(template, language, "email_body", context)
        if context.get("unsubscribe_url"):
            text += "\n\n-- \n" + _part("footer", language, "unsubscribe", context)
        with translation.override(language):
            html = render_to_string(
                "notifications/email/message.html",
                {
                    "subject": subject,
                    "body": _part(template, language, "email_body", context),
                    "org_name": context.get("org_name", ""),
                    "unsubscribe_url": context.get("unsubscribe_url", ""),
                    "unsubscribe_text": _part("footer", language, "unsubscribe_html", context)
                    if context.get("unsubscribe_url")
                    else "",
                    "language": language,
                    "rtl": language == "ar",
                },
            )
        return Rendered(subject=subject[:300], text=text, html=html)
    if channel == Channel.SMS:
        return Rendered(
            subject="", text=" ".join(_part(template, language, "sms", context).split())
        )
    title = " ".join(_part(template, language, "in_app_title", context).split())
    return Rendered(subject=title[:200], text=_part(template, language, "in_app_body", context))


# --- local times and amounts ---------------------------------------------------------------------


def when_format(
    instant: datetime.datetime, time_zone: str, language: str, organization=None
) -> dict[str, str]:
    """An instant as the recipient reads it: the location's (or organization's) wall time,
    in the message's language and the organization's regional style, by the shared helper
    (`clinic.core.timefmt`) that pages, PDFs and exports use too."""
    lang = language_pick(language)
    where = time_zone or "UTC"
    when = timefmt.local_datetime_long(instant, where, language=lang, organization=organization)
    short = timefmt.local_datetime(instant, where, language=lang, organization=organization)
    return {
        "date": timefmt.local_date(instant, where, language=lang, organization=organization),
        "time": timefmt.local_time(instant, where, language=lang, organization=organization),
        "when": when,
        "when_short": short,
    }


def amount_format(amount, currency: str, language: str) -> str:
    return format_currency(amount, currency, locale=language_pick(language))


def absolute_url(path: str) -> str:
    return f"{settings.SITE_URL}{path}"
