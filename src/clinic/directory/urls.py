from django.urls import path

from clinic.directory import chart_views, views

app_name = "directory"
urlpatterns = [
    path("patients/", views.patients, name="patients"),
    path("patients/new/", views.patient_new, name="patient_new"),
    path("patients/export.csv", views.patients_export, name="patients_export"),
    path("patients/import/", views.patients_import, name="patients_import"),
    path("patients/import/<uuid:import_id>/", views.import_job, name="import_job"),
    path("patients/import/<uuid:import_id>/step/", views.import_step, name="import_step"),
    path("patients/import/<uuid:import_id>/run/", views.import_run, name="import_run"),
    path("patients/<uuid:patient_id>/", chart_views.patient_chart, name="patient"),
    path(
        "patients/<uuid:patient_id>/timeline/",
        chart_views.patient_timeline_more,
        name="patient_timeline",
    ),
    path(
        "patients/<uuid:patient_id>/appointments/<uuid:appointment_id>/cancel/",
        chart_views.patient_appointment_cancel,
        name="patient_appointment_cancel",
    ),
    path("patients/<uuid:patient_id>/edit/", views.patient_edit, name="patient_edit"),
    path("patients/<uuid:patient_id>/photo/", chart_views.patient_photo, name="patient_photo"),
    path(
        "patients/<uuid:patient_id>/photo/upload/",
        chart_views.patient_photo_upload,
        name="patient_photo_upload",
    ),
    path("patients/<uuid:patient_id>/archive/", views.patient_archive, name="patient_archive"),
    path(
        "patients/<uuid:patient_id>/contacts/",
        views.patient_contact_add,
        name="patient_contact_add",
    ),
    path(
        "patients/<uuid:patient_id>/contacts/<uuid:link_id>/remove/",
        views.patient_contact_remove,
        name="patient_contact_remove",
    ),
    path("contacts/", views.contacts, name="contacts"),
    path("contacts/pick/", views.contact_picker, name="contact_picker"),
    path("contacts/<uuid:contact_id>/edit/", views.contact_edit, name="contact_edit"),
    path("contacts/<uuid:contact_id>/archive/", views.contact_archive, name="contact_archive"),
    path("practitioners/", views.practitioners, name="practitioners"),
    path("practitioners/new/", views.practitioner_new, name="practitioner_new"),
    path(
        "practitioners/<uuid:practitioner_id>/edit/",
        views.practitioner_edit,
        name="practitioner_edit",
    ),
    path(
        "practitioners/<uuid:practitioner_id>/archive/",
        views.practitioner_archive,
        name="practitioner_archive",
    ),
    path("services/", views.services_page, name="services"),
    path("services/new/", views.service_new, name="service_new"),
    path("services/export.csv", views.services_export, name="services_export"),
    path("services/<uuid:service_id>/edit/", views.service_edit, name="service_edit"),
    path("services/<uuid:service_id>/archive/", views.service_archive, name="service_archive"),
    path("locations/", views.locations, name="locations"),
    path("locations/new/", views.location_new, name="location_new"),
    path("locations/<uuid:location_id>/edit/", views.location_edit, name="location_edit"),
    path(
        "locations/<uuid:location_id>/archive/",
        views.location_archive,
        name="location_archive",
    ),
    path("rooms/new/", views.room_new, name="room_new"),
    path("rooms/<uuid:room_id>/edit/", views.room_edit, name="room_edit"),
    path("rooms/<uuid:room_id>/archive/", views.room_archive, name="room_archive"),
]
