"""SMS through a small provider interface. No vendor yet: the logging provider (development,
tests) writes each message to the log and keeps the last ones in memory.

A provider implements `send(to, body, *, idempotency_key) -> SmsResult`; raise
`SmsPermanentError` for a number that can never receive (the delivery is marked bounced) and any
other exception for a temporary failure (retried). Providers that accept an idempotency key
should pass it on: it makes a retried hand-off safe on their side too. Configure with the
`SMS_PROVIDER` setting (a dotted path).
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from clinic.core.logs import logger

log = logger("clinic.sms")


@dataclass(frozen=True)
class SmsResult:
    provider_message_id: str


class SmsPermanentError(Exception):
    """The number cannot receive messages (invalid, landline, blocked)."""


class SmsProvider(Protocol):
    def send(self, to: str, body: str, *, idempotency_key: str) -> SmsResult: ...


class LoggingSmsProvider:
    """Logs the message instead of sending it; keeps the last 1000 in `outbox` for tests."""

    outbox: deque = deque(maxlen=1000)
    _lock = threading.Lock()

    def send(self, to: str, body: str, *, idempotency_key: str) -> SmsResult:
        message_id = f"log-{uuid.uuid4().hex[:16]}"
        with self._lock:
            self.outbox.append(
                {"to": to, "body": body, "idempotency_key": idempotency_key, "id": message_id}
            )
        log.info("sms.sent", to=to, chars=len(body), provider_message_id=message_id)
        return SmsResult(provider_message_id=message_id)


_provider: SmsProvider | None = None
_provider_path: str | None = None


def sms_provider() -> SmsProvider:
    global _provider, _provider_path
    path = settings.SMS_PROVIDER
    if _provider is None or _provider_path != path:
        _provider = import_string(path)()
        _provider_path = path
    return _provider
