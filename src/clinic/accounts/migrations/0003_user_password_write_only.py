"""The application role no longer reads `accounts_user.password` (column privileges, see
clinic.core.security): the ORM selects NULL in its place, and the bearer authentication
function names the user's columns instead of taking the whole row (`to_jsonb(u)` needs SELECT
on every column). A user column added later is simply loaded on first use."""

from django.db import migrations

import clinic.accounts.models

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
        SELECT t.id, t.expires_at, t.last_used_at, to_jsonb(m),
               jsonb_build_object('id', u.id, 'email', u.email, 'full_name', u.full_name,
                                  'preferred_locale', u.preferred_locale,
                                  'is_active', u.is_active, 'created_at', u.created_at,
                                  'last_login', u.last_login),
               to_jsonb(o)
          FROM accounts_membership m
          JOIN accounts_user u ON u.id = m.user_id
          JOIN accounts_organization o ON o.id = m.organization_id
         WHERE m.id = t.membership_id;
END
$fn$;
"""

PREVIOUS = r"""
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
    dependencies = [
        ("accounts", "0002_token_authenticate_function"),
    ]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="password",
            field=clinic.accounts.models.PasswordField(max_length=128, verbose_name="password"),
        ),
        migrations.RunSQL(FUNCTION, reverse_sql=PREVIOUS),
    ]
