"""Access to the record beyond the caseload: break-glass.

A practitioner who must read the record of a patient outside their caseload (an emergency, a
colleague's patient seen out of hours) opens a time-limited access with a reason. It is audited,
the admins are told, and it lapses by itself: nothing has to close it."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from clinic.core.models import TenantModel


class BreakGlassAccess(TenantModel):
    patient = models.ForeignKey("directory.Patient", on_delete=models.PROTECT, related_name="+")
    membership = models.ForeignKey(
        "accounts.Membership", on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=500)
    opened_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="break_glass_org_id"),
            models.CheckConstraint(condition=~Q(reason=""), name="break_glass_reason_given"),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("opened_at")), name="break_glass_expires_after"
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "membership", "patient", "expires_at"],
                name="break_glass_member_patient",
            )
        ]

    def __str__(self) -> str:
        return f"break-glass until {self.expires_at:%Y-%m-%d %H:%M}"


class CareTeamMember(TenantModel):
    """A practitioner assigned to a patient's care by hand: part of their caseload whatever
    the plans and appointments say (a supervisor, a covering colleague, a named keyworker)."""

    patient = models.ForeignKey("directory.Patient", on_delete=models.CASCADE, related_name="+")
    practitioner = models.ForeignKey(
        "directory.Practitioner", on_delete=models.CASCADE, related_name="+"
    )
    added_by = models.ForeignKey("accounts.Membership", on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "patient", "practitioner"], name="care_team_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.practitioner_id} cares for {self.patient_id}"
