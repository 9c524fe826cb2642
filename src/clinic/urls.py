from django.urls import include, path

from clinic.api.main import api
from clinic.core import health

urlpatterns = [
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("billing/", include("clinic.billing.urls")),
    path("notifications/", include("clinic.notifications.urls")),
    path("plans/", include("clinic.care.urls")),
    path("waitlist/", include("clinic.waitlist.urls")),
    path("", include("clinic.privacy.urls")),
    path("", include("clinic.clinical.urls")),
    path("", include("clinic.scheduling.urls")),
    path("", include("clinic.directory.urls")),
    path("", include("clinic.accounts.urls")),
    path("", include("clinic.web.urls")),
]

handler404 = "clinic.web.views.not_found"
handler500 = "clinic.web.views.server_error"
