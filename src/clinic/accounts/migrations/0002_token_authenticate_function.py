"""`app_token_authenticate`: a bearer token's whole authentication in one round trip.

Without it a request pays six statements before its first useful query (request metadata,
token visibility, token, tenant, membership, user). The function runs with the caller's rights
(SECURITY INVOKER): row-level security applies to every read inside it, exactly as it did to the
separate statements, and each read happens after the setting it depends on.
"""

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION app_token_authenticate(p_key_hash text, p_settings jsonb, p_now timestamptz)
RETURNS TABLE (token_id uuid, token_expires_at timestamptz, token_last_used_at timestamptz,
               membership jsonb, member_user jsonb, organization jsonb)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
DECLARE
    t record;
    member_user_id uuid;
BEGIN
    -- The request's audit metadata, and nobody as tenant yet.
    PERFORM set_config(s.key, s.value, true) FROM jsonb_each_text(p_settings) s;
    PERFORM set_config('app.org_id', '', true), set_config('app.user_id', '', true),
            set_config('app.token_hash', p_key_hash, true);
    -- The token policy reveals only the row whose secret the caller holds.
    SELECT k.id, k.organization_id, k.membership_id, k.expires_at, k.last_used_at INTO t
      FROM accounts_apitoken k
     WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL AND k.expires_at > p_now;
    IF NOT FOUND THEN
        PERFORM set_config('app.token_hash', '', true);
        RETURN;
    END IF;
    PERFORM set_config('app.org_id', t.organization_id::text, true),
            set_config('app.token_hash', '', true);
    SELECT m.user_id INTO member_user_id
      FROM accounts_membership m JOIN accounts_user u ON u.id = m.user_id
     WHERE m.id = t.membership_id AND m.is_active AND u.is_active;
    IF NOT FOUND THEN
        PERFORM set_config('app.org_id', '', true);
        RETURN;
    END IF;
    PERFORM set_config('app.user_id', member_user_id::text, true);
    RETURN QUERY
        SELECT t.id, t.expires_at, t.last_used_at, to_jsonb(m), to_jsonb(u), to_jsonb(o)
          FROM accounts_membership m
          JOIN accounts_user u ON u.id = m.user_id
          JOIN accounts_organization o ON o.id = m.organization_id
         WHERE m.id = t.membership_id;
END
$fn$;
"""


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [
        migrations.RunSQL(
            FUNCTION,
            reverse_sql="DROP FUNCTION IF EXISTS app_token_authenticate(text, jsonb, timestamptz)",
        )
    ]
