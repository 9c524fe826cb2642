from django.urls import path

from clinic.clinical import views

app_name = "clinical"
urlpatterns = [
    path("notes/<uuid:note_id>/", views.note_page, name="note"),
    path("notes/<uuid:note_id>/save/", views.note_save, name="note_save"),
    path("notes/<uuid:note_id>/sign/", views.note_sign, name="note_sign"),
    path("notes/<uuid:note_id>/cosign/", views.note_cosign, name="note_cosign"),
    path("notes/<uuid:note_id>/addenda/", views.addendum_add, name="addendum_add"),
    path("patients/<uuid:patient_id>/notes/new/", views.note_new, name="note_new"),
]
