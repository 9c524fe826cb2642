from django.urls import path

from clinic.privacy import views

app_name = "privacy"
urlpatterns = [
    path("patients/<uuid:patient_id>/privacy/", views.patient_privacy, name="patient"),
    path(
        "patients/<uuid:patient_id>/privacy/export.json",
        views.patient_export,
        name="patient_export",
    ),
    path("patients/<uuid:patient_id>/privacy/erase/", views.erasure_ask, name="erasure_ask"),
    path(
        "patients/<uuid:patient_id>/privacy/erase/confirm/",
        views.erasure_confirm,
        name="erasure_confirm",
    ),
]
