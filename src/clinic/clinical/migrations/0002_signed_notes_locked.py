"""The database refuses what the services never do: changing a signed note's content or
signature, sending it back to draft, deleting it; updating a saved version or an addendum at all;
deleting an addendum. Holds for raw SQL as well as the ORM."""

from django.db import migrations

GUARDS = r"""
CREATE OR REPLACE FUNCTION clinical_note_guard() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF OLD.status = 'draft' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'clinical note % is signed: it cannot be deleted', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.sections IS DISTINCT FROM OLD.sections
       OR NEW.template IS DISTINCT FROM OLD.template
       OR NEW.version IS DISTINCT FROM OLD.version
       OR NEW.encounter_id IS DISTINCT FROM OLD.encounter_id
       OR NEW.patient_id IS DISTINCT FROM OLD.patient_id
       OR NEW.author_id IS DISTINCT FROM OLD.author_id
       OR NEW.signed_at IS DISTINCT FROM OLD.signed_at
       OR NEW.signed_by_id IS DISTINCT FROM OLD.signed_by_id
       OR NEW.status = 'draft' THEN
        RAISE EXCEPTION 'clinical note % is signed: its content cannot change (add an addendum)',
            OLD.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE FUNCTION clinical_row_frozen() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION '% rows are never changed (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$fn$;

DROP TRIGGER IF EXISTS clinical_note_guard ON clinical_clinicalnote;
CREATE TRIGGER clinical_note_guard BEFORE UPDATE OR DELETE ON clinical_clinicalnote
    FOR EACH ROW EXECUTE FUNCTION clinical_note_guard();
DROP TRIGGER IF EXISTS clinical_version_frozen ON clinical_noteversion;
CREATE TRIGGER clinical_version_frozen BEFORE UPDATE ON clinical_noteversion
    FOR EACH ROW EXECUTE FUNCTION clinical_row_frozen();
DROP TRIGGER IF EXISTS clinical_addendum_frozen ON clinical_addendum;
CREATE TRIGGER clinical_addendum_frozen BEFORE UPDATE OR DELETE ON clinical_addendum
    FOR EACH ROW EXECUTE FUNCTION clinical_row_frozen();
"""

UNDO = r"""
DROP TRIGGER IF EXISTS clinical_note_guard ON clinical_clinicalnote;
DROP TRIGGER IF EXISTS clinical_version_frozen ON clinical_noteversion;
DROP TRIGGER IF EXISTS clinical_addendum_frozen ON clinical_addendum;
DROP FUNCTION IF EXISTS clinical_note_guard();
DROP FUNCTION IF EXISTS clinical_row_frozen();
"""


class Migration(migrations.Migration):
    dependencies = [("clinical", "0001_encounters_and_notes")]

    operations = [migrations.RunSQL(GUARDS, UNDO)]
