"""The error responses each operation can return, written into the OpenAPI document.

Every error goes through one envelope (clinic.api.errors), so the document states it once as a
component and lists, per operation, the statuses that operation's shape can produce: a secured
operation can answer 401/403, one that reads ids can answer 404, one that writes can meet a
conflict, one with a body can be malformed or too large. The fuzz test
(tests/api/test_fuzz.py) fails on any status an operation returns that is not listed here."""

from __future__ import annotations

from typing import Any

ENVELOPE = "ErrorEnvelope"

ENVELOPE_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}

DESCRIPTIONS = {
    "400": "The request could not be read (malformed JSON or body).",
    "401": "No valid credentials.",
    "403": "The signed-in member lacks the permission.",
    "404": "No such record in this organization.",
    "409": "The change conflicts with the record's state or another record.",
    "410": "The link or offer has expired or was already used.",
    "413": "The request body is too large.",
    "422": "A value is missing, malformed or breaks a rule; details name the fields.",
    "429": "Too many attempts; retry after the time given.",
    "503": "The database is unavailable; nothing was done. Retry-After says when to retry.",
}


def _statuses(method: str, operation: dict[str, Any]) -> list[str]:
    # 401 also on public operations: a token or sign-in request with bad credentials
    statuses = ["400", "401", "422", "429", "503"]
    if operation.get("security"):
        statuses.append("403")
    if operation.get("parameters") or "requestBody" in operation:
        statuses.append("404")
    if method != "get":
        statuses += ["409", "410"]
    if "requestBody" in operation:
        statuses.append("413")
    return statuses


def errors_document(schema: dict[str, Any]) -> dict[str, Any]:
    schema.setdefault("components", {}).setdefault("schemas", {})[ENVELOPE] = ENVELOPE_SCHEMA
    reference = {"$ref": f"#/components/schemas/{ENVELOPE}"}
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in _statuses(method, operation):
                responses.setdefault(
                    status,
                    {
                        "description": DESCRIPTIONS[status],
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return schema
