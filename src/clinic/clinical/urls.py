from django.urls import path

from clinic.clinical.views import consents as consent_views
from clinic.clinical.views import documents as document_views
from clinic.clinical.views import notes as note_views
from clinic.clinical.views import record as record_views
from clinic.clinical.views import settings as settings_views

app_name = "clinical"
urlpatterns = [
    path("notes/<uuid:note_id>/", note_views.note_page, name="note"),
    path("notes/<uuid:note_id>/save/", note_views.note_save, name="note_save"),
    path("notes/<uuid:note_id>/pdf/", note_views.note_print, name="note_pdf"),
    path("notes/<uuid:note_id>/sign/", note_views.note_sign, name="note_sign"),
    path("notes/<uuid:note_id>/cosign/", note_views.note_cosign, name="note_cosign"),
    path("notes/<uuid:note_id>/addenda/", note_views.addendum_add, name="addendum_add"),
    path("patients/<uuid:patient_id>/notes/new/", note_views.note_new, name="note_new"),
    path("patients/<uuid:patient_id>/allergies/", record_views.allergy_add, name="allergy_add"),
    path(
        "patients/<uuid:patient_id>/allergies/none-known/",
        record_views.allergies_none_known,
        name="allergies_none_known",
    ),
    path("allergies/<uuid:allergy_id>/error/", record_views.allergy_error, name="allergy_error"),
    path("patients/<uuid:patient_id>/alerts/", record_views.alert_add, name="alert_add"),
    path("alerts/<uuid:alert_id>/end/", record_views.alert_end, name="alert_end"),
    path(
        "patients/<uuid:patient_id>/conditions/",
        record_views.condition_add,
        name="condition_add",
    ),
    path(
        "conditions/<uuid:condition_id>/resolve/",
        record_views.condition_resolve,
        name="condition_resolve",
    ),
    path(
        "patients/<uuid:patient_id>/observations/",
        record_views.observation_add,
        name="observation_add",
    ),
    path("icd10/choices/", record_views.icd10_choices, name="icd10_choices"),
    path("clinical-settings/", settings_views.clinical_settings, name="settings"),
    path(
        "patients/<uuid:patient_id>/documents/",
        document_views.documents_page,
        name="document_upload",
    ),
    path("documents/<uuid:document_id>/", document_views.document_page, name="document"),
    path("documents/<uuid:document_id>/file/", document_views.document_file, name="document_file"),
    path(
        "documents/<uuid:document_id>/error/",
        document_views.document_error,
        name="document_error",
    ),
    path(
        "patients/<uuid:patient_id>/break-glass/",
        document_views.break_glass,
        name="break_glass",
    ),
    path(
        "patients/<uuid:patient_id>/consents/new/",
        consent_views.consent_sign,
        name="consent_sign",
    ),
    path("consents/<uuid:consent_id>/", consent_views.consent_page, name="consent"),
    path(
        "consents/<uuid:consent_id>/withdraw/",
        consent_views.consent_withdraw,
        name="consent_withdraw",
    ),
    path("consent-templates/", consent_views.consent_templates, name="consent_templates"),
    path(
        "consent-templates/<uuid:template_id>/",
        consent_views.consent_template_edit,
        name="consent_template_edit",
    ),
    path(
        "patients/<uuid:patient_id>/care-team/",
        document_views.care_team_add,
        name="care_team_add",
    ),
    path(
        "patients/<uuid:patient_id>/care-team/<uuid:practitioner_id>/remove/",
        document_views.care_team_remove,
        name="care_team_remove",
    ),
    path(
        "patients/<uuid:patient_id>/access-log/",
        document_views.access_log,
        name="access_log",
    ),
]
