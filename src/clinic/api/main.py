"""The API object: /api/v1, bearer/session auth, one error envelope. Each module adds a router."""

from __future__ import annotations

from ninja import NinjaAPI

from clinic.api.auth import MembershipAuth
from clinic.api.docs import StaffSwagger
from clinic.api.errors import errors_register
from clinic.api.openapi import errors_document


class ClinicAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        return errors_document(super().get_openapi_schema(*args, **kwargs))


api = ClinicAPI(
    title="Clinic API",
    version="1",
    urls_namespace="api",
    auth=MembershipAuth(),
    docs_url="/docs",
    docs=StaffSwagger(),
    openapi_url="/openapi.json",
)
errors_register(api)


def routers_register() -> None:
    from clinic.accounts.api import router as accounts_router
    from clinic.accounts.session_api import router as sessions_router
    from clinic.accounts.staff_api import router as staff_router
    from clinic.audit.api import router as audit_router
    from clinic.billing.api import router as billing_router
    from clinic.care.api import router as care_router
    from clinic.clinical.api import router as clinical_router
    from clinic.directory.api import router as directory_router
    from clinic.directory.chart_api import router as chart_router
    from clinic.notifications.api import router as notifications_router
    from clinic.privacy.api import router as privacy_router
    from clinic.scheduling.api import router as scheduling_router
    from clinic.scheduling.time_off_api import router as time_off_router
    from clinic.waitlist.api import router as waitlist_router

    api.add_router("", accounts_router)
    api.add_router("", sessions_router)
    api.add_router("", staff_router)
    api.add_router("/audit-events", audit_router)
    api.add_router("", billing_router)
    api.add_router("", directory_router)
    api.add_router("", chart_router)
    api.add_router("", notifications_router)
    api.add_router("", scheduling_router)
    api.add_router("", time_off_router)
    api.add_router("", care_router)
    api.add_router("", clinical_router)
    api.add_router("", waitlist_router)
    api.add_router("", privacy_router)


routers_register()
