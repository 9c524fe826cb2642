from django.urls import path

from clinic.scheduling import time_off_views, views

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
    path(
        "availability/<uuid:practitioner_id>/copy/",
        views.availability_copy,
        name="availability_copy",
    ),
    path("availability/<uuid:practitioner_id>/feeds/", views.feed_add, name="feed_add"),
    path(
        "availability/<uuid:practitioner_id>/feeds/<uuid:feed_id>/revoke/",
        views.feed_remove,
        name="feed_remove",
    ),
    path("ics/<str:token>.ics", views.ics_feed, name="ics_feed"),
    path("time-off/", time_off_views.time_off_page, name="time_off"),
    path("time-off/queue/", time_off_views.time_off_queue, name="time_off_queue"),
    path(
        "time-off/<uuid:time_off_id>/approve/",
        time_off_views.time_off_decide,
        {"decision": "approve"},
        name="time_off_approve",
    ),
    path(
        "time-off/<uuid:time_off_id>/deny/",
        time_off_views.time_off_decide,
        {"decision": "deny"},
        name="time_off_deny",
    ),
    path(
        "time-off/<uuid:time_off_id>/resolve/",
        time_off_views.time_off_resolve,
        name="time_off_resolve",
    ),
    path("closures/", time_off_views.closures_page, name="closures"),
    path(
        "closures/<uuid:closure_id>/delete/", time_off_views.closure_remove, name="closure_remove"
    ),
]
