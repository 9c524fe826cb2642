"""`Idempotency-Key` for every write under /api/: a replay gets the original response.

The key row is inserted *before* the handler runs, in the request's transaction. A concurrent
request with the same key blocks on the unique index until the first commits, then replays its
response; if the first failed (and rolled back), the second simply runs. The same key with a
different method, path or body is refused with 422.

A key is scoped to organization + membership: another member sending the same key and body
makes a new request under its own permissions. A replay is never answered here: it is handed to
the route (`request.idempotent_replay`), whose permission check (`clinic.api.auth.require`) runs
first and then answers the stored response, so a member who lost a right no longer gets it.
"""

from __future__ import annotations

import hashlib

from django.db import connection, transaction
from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from clinic.core.errors import error_body
from clinic.core.logs import logger
from clinic.core.models import IdempotencyRecord

HEADER = "Idempotency-Key"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
log = logger("clinic.idempotency")


def request_fingerprint(request) -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.get_full_path().encode(), request.body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.headers.get(HEADER, "").strip()
        membership = getattr(request, "membership", None)
        if not key or request.method not in WRITE_METHODS or not request.path.startswith("/api/"):
            return self.get_response(request)
        if membership is None:
            return self.get_response(request)  # the API answers 401
        if len(key) > 255:
            return JsonResponse(
                error_body(
                    "validation_error",
                    _("Idempotency-Key is longer than 255 characters."),
                    {"Idempotency-Key": ["too long"]},
                ),
                status=422,
            )
        fingerprint = request_fingerprint(request)
        record_id = _record_claim(
            organization_id=membership.organization_id,
            membership_id=membership.id,
            key=key,
            fingerprint=fingerprint,
            method=request.method,
            path=request.path[:500],
        )
        if record_id is None:
            previous = IdempotencyRecord.objects.get(membership_id=membership.id, key=key)
            if previous.request_hash != fingerprint:
                return JsonResponse(
                    error_body(
                        "idempotency_key_reused",
                        _("This Idempotency-Key was used for a different request."),
                        {"Idempotency-Key": [key]},
                    ),
                    status=422,
                )
            return self._replay(request, previous)
        response = self.get_response(request)
        if response.status_code < 400 and not getattr(response, "streaming", False):
            IdempotencyRecord.objects.filter(id=record_id).update(
                response_status=response.status_code,
                response_body=response.content,
                response_content_type=response.get("Content-Type", ""),
            )
        return response

    def _replay(self, request, previous):
        """Hand the stored response to the route, which answers it after its permission check
        (or answers the refusal). A route that ran its handler instead (none should: every
        authenticated write route checks a permission with `require`) has its writes undone."""
        stored = HttpResponse(
            bytes(previous.response_body or b""),
            status=previous.response_status or 200,
            content_type=previous.response_content_type or "application/json",
        )
        stored["Idempotent-Replayed"] = "true"
        request.idempotent_replay = stored
        response = self.get_response(request)
        if response is not stored and response.status_code < 400:
            log.error("idempotent replay reached a handler", path=request.path)
            transaction.set_rollback(True)
            return stored
        return response


def replay_pending(request):
    """The stored response of this request's Idempotency-Key replay, once (None otherwise).
    Called by the routes' permission check after it has passed."""
    return request.__dict__.pop("idempotent_replay", None)


def _record_claim(*, organization_id, membership_id, key, fingerprint, method, path):
    """Insert the key's row; None if the key exists. ON CONFLICT DO NOTHING waits for a
    concurrent holder of the key to finish, like the unique index would, but needs no savepoint
    around a failing INSERT (two round trips fewer on every write)."""
    with connection.cursor() as cur:
        cur.execute(
            f"""INSERT INTO {IdempotencyRecord._meta.db_table}
                    (id, organization_id, membership_id, key, request_hash, method, path,
                     response_content_type, created_at)
                VALUES (gen_random_uuid(), %s, %s, %s, %s, %s, %s, '', now())
                ON CONFLICT (organization_id, membership_id, key) DO NOTHING RETURNING id""",
            [organization_id, membership_id, key, fingerprint, method, path],
        )
        row = cur.fetchone()
    return row[0] if row else None


def idempotency_purge(cutoff) -> int:
    """Stored responses older than `cutoff` (a client retries within minutes, not days); they
    may hold personal data returned by the original request."""
    return IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()[0]
