from datetime import datetime
from typing import Any
from uuid import UUID

from ninja import Field, Schema


class ErasureIn(Schema):
    reason: str = Field("", max_length=500, description="why (step 1)")
    confirmation: str = Field(
        "", max_length=100, description="the code step 1 returned (step 2: erase)"
    )


class ErasurePlanItem(Schema):
    name: str
    holds: str
    count: int
    outcome: str = Field(..., description="anonymised, deleted or kept")
    kept_because: str
    blocking: str


class ErasureAsked(Schema):
    request_id: UUID
    confirmation: str = Field(..., description="send it back within 15 minutes to erase")
    expires_at: datetime
    plan: list[ErasurePlanItem]


class ErasureDone(Schema):
    request_id: UUID
    erased_at: datetime
    outcome: dict[str, Any]


class ErasureOverview(Schema):
    plan: list[ErasurePlanItem]
    erased_at: datetime | None
