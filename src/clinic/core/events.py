"""Events between modules: how a module reacts to another's change without importing it.

A producer declares its events as frozen dataclasses in its own `events.py` and publishes them
inside the transaction of the change (`publish(AppointmentsBooked(...))`). A consumer subscribes
a handler in its app's `ready()` (`subscribe(AppointmentsBooked, handler)`); the producer never
imports its consumers, so the import graph points one way (tests/core/test_import_graph.py).

Semantics, stated once:
- handlers run synchronously, in the producer's transaction, before `publish` returns;
- in subscription order, which is the order of INSTALLED_APPS (each app subscribes in `ready()`);
- a handler's exception propagates to the producer: the whole write rolls back, as if the
  handler's work were part of it (it is). Work that must not block the write belongs in a task
  the handler enqueues (the database task backend enqueues in the same transaction);
- a handler subscribed to a base class receives every subclass's events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

E = TypeVar("E", bound="Event")


class Event:
    """Base of every event (subclasses are frozen dataclasses)."""


_subscribers: dict[type[Event], list[Callable[[Any], None]]] = {}


def subscribe(event_type: type[E], handler: Callable[[E], None]) -> None:
    """Call `handler(event)` for every `event_type` (or subclass) published from now on. Idempotent,
    so a `ready()` that runs twice (tests) does not double the work."""
    handlers = _subscribers.setdefault(event_type, [])
    if handler not in handlers:
        handlers.append(handler)


def publish(event: Event) -> None:
    """Run the subscribers of the event's class and its bases, in subscription order."""
    for cls in type(event).__mro__:
        for handler in _subscribers.get(cls, ()):
            handler(event)


def subscribers(event_type: type[Event]) -> list[Callable[[Any], None]]:
    """The handlers subscribed to exactly `event_type` (for tests and documentation)."""
    return list(_subscribers.get(event_type, ()))
