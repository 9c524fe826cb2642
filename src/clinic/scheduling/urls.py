from django.urls import path

from clinic.scheduling import views

app_name = "scheduling"
urlpatterns = [
    path("calendar/", views.calendar, name="calendar"),
    path("calendar/patients/", views.calendar_patients, name="calendar_patients"),
    path(
        "appointments/<uuid:appointment_id>/", views.appointment_detail, name="appointment_detail"
    ),
    path("availability/", views.availability_index, name="availability"),
    path("availability/<uuid:practitioner_id>/", views.availability_edit, name="availability_edit"),
    path(
        "availability/<uuid:practitioner_id>/exceptions/",
        views.availability_exception_add,
        name="availability_exception_add",
    ),
    path(
        "availability/<uuid:practitioner_id>/exceptions/<uuid:exception_id>/delete/",
        views.availability_exception_remove,
        name="availability_exception_remove",
    ),
    path("availability/<uuid:practitioner_id>/feeds/", views.feed_add, name="feed_add"),
    path(
        "availability/<uuid:practitioner_id>/feeds/<uuid:feed_id>/revoke/",
        views.feed_remove,
        name="feed_remove",
    ),
    path("ics/<str:token>.ics", views.ics_feed, name="ics_feed"),
]
