"""`clinic keys rotate` re-encrypts signed notes, saved versions and addenda to a new key: the
same text under another key. The guards of 0002 refuse any change of them; they now let the
owner role (never the app's role) replace the ciphertext column alone, and only inside a
transaction that declared itself a key rotation (`app.key_rotation`)."""

from django.db import migrations

ROTATION = r"""
CREATE OR REPLACE FUNCTION clinical_key_rotation(old_row jsonb, new_row jsonb, col text)
RETURNS boolean LANGUAGE sql STABLE AS $fn$
    SELECT current_setting('app.key_rotation', true) = 'on'
       AND pg_has_role(current_user, (SELECT relowner FROM pg_class
                                      WHERE oid = 'clinical_clinicalnote'::regclass), 'USAGE')
       AND (old_row - col) = (new_row - col)
$fn$;

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
    IF clinical_key_rotation(to_jsonb(OLD), to_jsonb(NEW), 'sections') THEN
        RETURN NEW;
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
    -- the encrypted column of a version (sections) or an addendum (text), nothing else
    IF TG_OP = 'UPDATE' AND TG_ARGV[0] IS NOT NULL
       AND clinical_key_rotation(to_jsonb(OLD), to_jsonb(NEW), TG_ARGV[0]) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% rows are never changed (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$fn$;

DROP TRIGGER IF EXISTS clinical_version_frozen ON clinical_noteversion;
CREATE TRIGGER clinical_version_frozen BEFORE UPDATE ON clinical_noteversion
    FOR EACH ROW EXECUTE FUNCTION clinical_row_frozen('sections');
DROP TRIGGER IF EXISTS clinical_addendum_frozen ON clinical_addendum;
CREATE TRIGGER clinical_addendum_frozen BEFORE UPDATE OR DELETE ON clinical_addendum
    FOR EACH ROW EXECUTE FUNCTION clinical_row_frozen('text');
"""

UNDO = r"""
DROP TRIGGER IF EXISTS clinical_version_frozen ON clinical_noteversion;
CREATE TRIGGER clinical_version_frozen BEFORE UPDATE ON clinical_noteversion
    FOR EACH ROW EXECUTE FUNCTION clinical_row_frozen();
DROP TRIGGER IF EXISTS clinical_addendum_frozen ON clinical_addendum;
CREATE TRIGGER clinical_addendum_frozen BEFORE UPDATE OR DELETE ON clinical_addendum
    FOR EACH ROW EXECUTE FUNCTION clinical_row_frozen();
"""


class Migration(migrations.Migration):
    dependencies = [("clinical", "0004_break_glass_and_documents")]

    operations = [migrations.RunSQL(ROTATION, UNDO)]
