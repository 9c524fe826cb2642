"""Database sessions that the application role can read only by their key.

`django_session` is under a row-level security policy (clinic.core.security): a row is visible
only while `app.session_key` (transaction-local) names it. Loading a session sets the key and
reads the row in one statement (`app_session_load`), so a request costs no more queries than
with Django's store; writes set the key first. A query with no session key in context — an
injection, a careless report — sees no session at all. Expired sessions are removed by
`app_session_clear_expired` (SECURITY DEFINER), so `clearsessions` still works.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.db import connections, router, transaction
from django.utils import timezone


def _key_activate(key: str | None, using: str) -> None:
    with connections[using].cursor() as cur:
        cur.execute("SELECT set_config('app.session_key', %s, true)", [key or ""])


class SessionStore(db.SessionStore):
    def _write_alias(self) -> str:
        return router.db_for_write(self.model)

    def _get_session_from_db(self):
        if not self.session_key:
            self._session_key = None
            return None
        using = router.db_for_read(self.model)
        with transaction.atomic(using=using), connections[using].cursor() as cur:
            cur.execute("SELECT app_session_load(%s, %s)", [self.session_key, timezone.now()])
            (data,) = cur.fetchone()
        if data is None:
            self._session_key = None
            return None
        return self.model(session_key=self.session_key, session_data=data)

    def exists(self, session_key):
        using = self._write_alias()
        with transaction.atomic(using=using):
            _key_activate(session_key, using)
            return super().exists(session_key)

    def save(self, must_create=False):
        if self.session_key is None:
            return self.create()
        using = self._write_alias()
        with transaction.atomic(using=using):
            _key_activate(self.session_key, using)
            return super().save(must_create=must_create)

    def delete(self, session_key=None):
        key = session_key or self.session_key
        if key is None:
            return
        using = self._write_alias()
        with transaction.atomic(using=using):
            _key_activate(key, using)
            super().delete(key)

    @classmethod
    def clear_expired(cls):
        using = router.db_for_write(cls.get_model_class())
        with connections[using].cursor() as cur:
            cur.execute("SELECT app_session_clear_expired(%s)", [timezone.now()])
