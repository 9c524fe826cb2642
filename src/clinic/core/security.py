"""Row-level security, grants and audit triggers, applied after every migration.

Derived from the models rather than written into each migration, so a new tenant table cannot
be forgotten: every concrete `TenantModel` gets ENABLE + FORCE ROW LEVEL SECURITY, a policy on
`app.org_id`, and the audit trigger. Idempotent.
"""

from __future__ import annotations

from django.apps import apps
from django.db import connections
from psycopg import sql

from clinic.core.models import TenantModel

CURRENT_ORG = "NULLIF(current_setting('app.org_id', true), '')::uuid"
CURRENT_USER = "NULLIF(current_setting('app.user_id', true), '')::uuid"
DEFAULT_USING = f"organization_id = {CURRENT_ORG}"

# Tables the application may read and append to, never change.
APPEND_ONLY_TABLES = ("audit_auditevent",)
# Tables partitioned by month (audit/migrations/0002): their partitions get no grant of their own.
PARTITIONED_TABLES = ("audit_auditevent",)
PARTITION_FUNCTIONS = ("app_audit_partitions_ensure(integer)",)

# Columns the application may write but never read: SELECT is granted on every other column.
WRITE_ONLY_COLUMNS = {"accounts.User": ("password",)}

# Reading passwords without reading them (see clinic.accounts.passwords): SECURITY DEFINER
# functions owned by the owner role, the only ones that see `accounts_user.password`, and a
# secret only the owner role can read (it keys the password fingerprint that binds sessions).
HASH_ACCESS_SQL = r"""
CREATE TABLE IF NOT EXISTS app_secret (name text PRIMARY KEY, value text NOT NULL);
INSERT INTO app_secret (name, value)
    VALUES ('password_fingerprint', gen_random_uuid()::text || gen_random_uuid()::text)
    ON CONFLICT (name) DO NOTHING;

CREATE OR REPLACE FUNCTION app_password_params(p_user_id uuid, OUT prefix text,
                                               OUT digest_length integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
    SELECT substring(u.password from '^(.*)\$[^$]*$'),
           length(substring(u.password from '\$([^$]*)$'))
      FROM accounts_user u
     WHERE u.id = p_user_id AND position('$' in u.password) > 0 AND left(u.password, 1) <> '!'
$fn$;

CREATE OR REPLACE FUNCTION app_password_check(p_user_id uuid, p_candidate text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
    SELECT coalesce((SELECT u.password = p_candidate FROM accounts_user u
                      WHERE u.id = p_user_id AND left(u.password, 1) <> '!'), false)
$fn$;

CREATE OR REPLACE FUNCTION app_password_fingerprint(p_user_id uuid) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
    SELECT encode(sha256(convert_to(s.value || u.password, 'UTF8')), 'hex')
      FROM accounts_user u, app_secret s
     WHERE u.id = p_user_id AND s.name = 'password_fingerprint'
$fn$;
"""
# Sessions are readable by key only (clinic.accounts.sessions): a policy on app.session_key,
# a loader that sets the key and reads in one statement, and an owner-run expiry sweep.
SESSION_SQL = r"""
ALTER TABLE django_session ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS session_by_key ON django_session;
CREATE POLICY session_by_key ON django_session
    USING (session_key = NULLIF(current_setting('app.session_key', true), ''))
    WITH CHECK (session_key = NULLIF(current_setting('app.session_key', true), ''));

CREATE OR REPLACE FUNCTION app_session_load(p_key text, p_now timestamptz) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
BEGIN
    PERFORM set_config('app.session_key', coalesce(p_key, ''), true);
    RETURN (SELECT s.session_data FROM django_session s
             WHERE s.session_key = p_key AND s.expire_date > p_now);
END
$fn$;

CREATE OR REPLACE FUNCTION app_session_clear_expired(p_now timestamptz) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
    WITH gone AS (DELETE FROM django_session WHERE expire_date < p_now RETURNING 1)
    SELECT count(*) FROM gone
$fn$;
"""
# Task rows (django-tasks-db) hold organization and record ids in their arguments: a request sees
# only its organization's (a tenant task's first argument), the worker (clinic.core.worker,
# `app.task_worker` set on its connections) every row. Not FORCEd: the owner keeps full access.
TASK_TABLE = "django_tasks_database_dbtaskresult"
TASK_SQL = f"""
ALTER TABLE {TASK_TABLE} ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS task_by_tenant ON {TASK_TABLE};
CREATE POLICY task_by_tenant ON {TASK_TABLE}
    USING (current_setting('app.task_worker', true) = 'on'
           OR (args_kwargs -> 'args' ->> 0) = current_setting('app.org_id', true))
    WITH CHECK (current_setting('app.task_worker', true) = 'on'
           OR (args_kwargs -> 'args' ->> 0) = current_setting('app.org_id', true));
"""
SESSION_FUNCTIONS = ("app_session_clear_expired(timestamptz)",)

# Two-factor devices (django-otp's tables; clinic.accounts.two_factor) belong to a user, not to
# an organization: a person signs in to every clinic with the same authenticator. The
# application role keeps its table grants (django-otp reads, updates its throttling and drift,
# creates and deletes devices) but sees, changes and adds only the rows of the user in context
# (`app.user_id`, set once the password is verified or from the session): a query with no user
# set sees no secret. ENABLE without FORCE: the owner role (migrations, the functions below)
# is not filtered. An owner or admin resets a member's devices without ever reading them,
# through `app_two_factor_reset`, which checks in the database that the caller is an active
# owner/admin of the organization in context and the target one of its members;
# `app_two_factor_members` tells which members of that organization have a confirmed
# authenticator (user ids only).
TWO_FACTOR_SQL = r"""
ALTER TABLE otp_totp_totpdevice ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS device_of_user ON otp_totp_totpdevice;
CREATE POLICY device_of_user ON otp_totp_totpdevice
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

ALTER TABLE otp_static_staticdevice ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS device_of_user ON otp_static_staticdevice;
CREATE POLICY device_of_user ON otp_static_staticdevice
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

ALTER TABLE otp_static_statictoken ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS token_of_user ON otp_static_statictoken;
CREATE POLICY token_of_user ON otp_static_statictoken
    USING (device_id IN (SELECT d.id FROM otp_static_staticdevice d))
    WITH CHECK (device_id IN (SELECT d.id FROM otp_static_staticdevice d));

CREATE OR REPLACE FUNCTION app_two_factor_caller_manages() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
    SELECT EXISTS (
        SELECT 1 FROM accounts_membership m
         WHERE m.organization_id = NULLIF(current_setting('app.org_id', true), '')::uuid
           AND m.user_id = NULLIF(current_setting('app.user_id', true), '')::uuid
           AND m.is_active AND m.role IN ('owner', 'admin'))
$fn$;

CREATE OR REPLACE FUNCTION app_two_factor_reset(p_user_id uuid) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
    removed integer;
BEGIN
    IF NOT app_two_factor_caller_manages() OR NOT EXISTS (
        SELECT 1 FROM accounts_membership m
         WHERE m.organization_id = NULLIF(current_setting('app.org_id', true), '')::uuid
           AND m.user_id = p_user_id) THEN
        RAISE EXCEPTION 'not allowed' USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM otp_static_statictoken t USING otp_static_staticdevice d
     WHERE t.device_id = d.id AND d.user_id = p_user_id;
    DELETE FROM otp_static_staticdevice WHERE user_id = p_user_id;
    DELETE FROM otp_totp_totpdevice WHERE user_id = p_user_id;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$fn$;

CREATE OR REPLACE FUNCTION app_two_factor_members() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
    SELECT DISTINCT d.user_id FROM otp_totp_totpdevice d
      JOIN accounts_membership m ON m.user_id = d.user_id
     WHERE d.confirmed
       AND m.organization_id = NULLIF(current_setting('app.org_id', true), '')::uuid
       AND app_two_factor_caller_manages()
$fn$;
"""
# Erasure of a patient's personal data (clinic/privacy): the audit log stays append-only for the
# application, but the images of the erased rows must not keep what was erased. This function,
# owned by the owner role, replaces the named columns' values with "erased" in the before/after
# images of the given rows of one table, in the organization in context only, and only for an
# active owner or admin of it (checked here, in the database, not only by the caller).
ERASURE_SQL = r"""
CREATE OR REPLACE FUNCTION app_jsonb_erase(doc jsonb, keys text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT CASE WHEN doc IS NULL THEN NULL ELSE doc || coalesce((
        SELECT jsonb_object_agg(k, to_jsonb('erased'::text)) FROM unnest(keys) k
         WHERE doc ? k AND jsonb_typeof(doc -> k) <> 'null'
           AND doc -> k NOT IN ('""'::jsonb, '{}'::jsonb, '[]'::jsonb)), '{}'::jsonb) END
$fn$;

CREATE OR REPLACE FUNCTION app_audit_pseudonymise(p_table text, p_ids text[], p_columns text[])
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
    org uuid := NULLIF(current_setting('app.org_id', true), '')::uuid;
    changed bigint;
BEGIN
    IF org IS NULL OR NOT app_two_factor_caller_manages() THEN
        RAISE EXCEPTION 'only an owner or admin of the organization may pseudonymise its audit log'
            USING ERRCODE = '42501';
    END IF;
    UPDATE audit_auditevent e
       SET before = app_jsonb_erase(e.before, p_columns),
           after = app_jsonb_erase(e.after, p_columns)
     WHERE e.organization_id = org AND e.object_type = p_table AND e.object_id = ANY(p_ids);
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END
$fn$;
"""
ERASURE_FUNCTIONS = ("app_audit_pseudonymise(text, text[], text[])",)

TWO_FACTOR_FUNCTIONS = (
    "app_two_factor_caller_manages()",
    "app_two_factor_reset(uuid)",
    "app_two_factor_members()",
)

# A user's own sessions (clinic.accounts.user_sessions): `accounts_usersession` rows are seen and
# changed only by the user in context (`app.user_id`); a query with no user set sees none, and the
# table holds SHA-256 digests of session keys, never a key. A row is added at sign-in by
# `app_user_session_start` (the user is not yet in context then). `app_user_sessions_end` ends
# sessions by row id: only the rows of the user in context, deleting their Django sessions
# (which the application role could not find: django_session is readable by key only) through
# an index on the key's digest.
USER_SESSION_SQL = r"""
ALTER TABLE accounts_usersession ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS session_of_user ON accounts_usersession;
CREATE POLICY session_of_user ON accounts_usersession
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

CREATE OR REPLACE FUNCTION app_session_key_digest(p_key text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog AS $fn$
    SELECT encode(sha256(convert_to(p_key, 'UTF8')), 'hex')
$fn$;
CREATE INDEX IF NOT EXISTS django_session_key_digest
    ON django_session (app_session_key_digest(session_key));

CREATE OR REPLACE FUNCTION app_user_session_start(p_user_id uuid, p_key_hash text,
                                                  p_now timestamptz, p_ip inet, p_agent text)
RETURNS uuid
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
    INSERT INTO accounts_usersession (id, user_id, key_hash, created_at, last_seen_at, ip,
                                      user_agent)
    SELECT gen_random_uuid(), u.id, p_key_hash, p_now, p_now, p_ip, left(p_agent, 300)
      FROM accounts_user u WHERE u.id = p_user_id
    ON CONFLICT (key_hash) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at
        WHERE accounts_usersession.user_id = EXCLUDED.user_id
    RETURNING id
$fn$;

CREATE OR REPLACE FUNCTION app_user_sessions_end(p_ids uuid[], p_now timestamptz)
RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
    WITH mine AS (
        UPDATE accounts_usersession SET ended_at = p_now
         WHERE id = ANY(p_ids) AND ended_at IS NULL
           AND user_id = NULLIF(current_setting('app.user_id', true), '')::uuid
        RETURNING key_hash
    ), gone AS (
        DELETE FROM django_session s USING mine
         WHERE app_session_key_digest(s.session_key) = mine.key_hash
        RETURNING 1
    )
    SELECT count(*)::integer FROM mine
$fn$;
"""
USER_SESSION_FUNCTIONS = (
    "app_user_session_start(uuid, text, timestamptz, inet, text)",
    "app_user_sessions_end(uuid[], timestamptz)",
)

HASH_ACCESS_FUNCTIONS = (
    "app_password_params(uuid)",
    "app_password_check(uuid, text)",
    "app_password_fingerprint(uuid)",
)

AUDIT_FUNCTION = r"""
CREATE OR REPLACE FUNCTION audit_row_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    org_column text := TG_ARGV[0];
    redacted text[] := '{}';
    hashed text[] := '{}';
    arg text;
    column_name text;
    before_row jsonb;
    after_row jsonb;
    row_data jsonb;
    org uuid;
    event_details jsonb := '{}'::jsonb;
BEGIN
    -- arguments after the organization column: columns to drop, and "#column" to hash
    FOREACH arg IN ARRAY coalesce(TG_ARGV[1:], '{}'::text[]) LOOP
        IF left(arg, 1) = '#' THEN
            hashed := hashed || substr(arg, 2);
        ELSE
            redacted := redacted || arg;
        END IF;
    END LOOP;
    IF TG_OP <> 'INSERT' THEN before_row := to_jsonb(OLD) - redacted; END IF;
    IF TG_OP <> 'DELETE' THEN after_row := to_jsonb(NEW) - redacted; END IF;
    IF TG_OP = 'UPDATE' AND before_row = after_row THEN
        RETURN NULL;
    END IF;
    IF cardinality(hashed) > 0 THEN
        IF TG_OP = 'UPDATE' THEN
            event_details := jsonb_build_object('changed', (
                SELECT coalesce(jsonb_agg(a.key ORDER BY a.key), '[]'::jsonb)
                  FROM jsonb_each(after_row) a
                 WHERE a.value IS DISTINCT FROM before_row -> a.key));
        END IF;
        FOREACH column_name IN ARRAY hashed LOOP
            IF before_row ->> column_name IS NOT NULL THEN
                before_row := jsonb_set(before_row, ARRAY[column_name], to_jsonb('sha256:' ||
                    encode(sha256(convert_to(before_row ->> column_name, 'UTF8')), 'hex')));
            END IF;
            IF after_row ->> column_name IS NOT NULL THEN
                after_row := jsonb_set(after_row, ARRAY[column_name], to_jsonb('sha256:' ||
                    encode(sha256(convert_to(after_row ->> column_name, 'UTF8')), 'hex')));
            END IF;
        END LOOP;
    END IF;
    row_data := coalesce(after_row, before_row);
    IF org_column <> '' THEN
        org := (row_data ->> org_column)::uuid;
    ELSE
        org := NULLIF(current_setting('app.org_id', true), '')::uuid;
    END IF;
    INSERT INTO audit_auditevent (
        id, organization_id, actor_id, action, object_type, object_id,
        before, after, ip, user_agent, request_id, occurred_at, details
    ) VALUES (
        gen_random_uuid(), org, NULLIF(current_setting('app.user_id', true), '')::uuid,
        lower(TG_OP), TG_TABLE_NAME, row_data ->> 'id',
        before_row, after_row,
        NULLIF(current_setting('app.ip', true), '')::inet,
        coalesce(current_setting('app.user_agent', true), ''),
        coalesce(current_setting('app.request_id', true), ''),
        clock_timestamp(), event_details
    );
    RETURN NULL;
END
$fn$;
"""


def tenant_models():
    return [
        m
        for m in apps.get_models()
        if issubclass(m, TenantModel) and not m._meta.proxy and m._meta.managed
    ]


def audited_tables() -> list[tuple[str, str, tuple[str, ...]]]:
    """(table, organization column, trigger arguments) for every table whose writes are audited:
    the arguments name the columns left out, and "#column" the columns hashed."""
    rows = []
    for model in tenant_models():
        if model._meta.db_table in APPEND_ONLY_TABLES:
            continue
        redact = (*model.audit_redact, *(f"#{c}" for c in model.audit_hash))
        rows.append((model._meta.db_table, "organization_id", redact))
    for label, org_column, redact in (
        ("accounts.User", "", ("password",)),
        ("accounts.Organization", "id", ()),
    ):
        rows.append((apps.get_model(label)._meta.db_table, org_column, redact))
    return rows


def database_secure(*, using: str = "owner", app_role: str | None = None) -> None:
    """Apply grants, RLS policies and audit triggers. Runs as the owner role."""
    connection = connections[using]
    app_role = app_role or connections["default"].settings_dict["USER"]
    owner_role = connection.settings_dict["USER"]
    statements: list[sql.Composable] = []
    if app_role == owner_role:
        raise RuntimeError(
            "the application role and the owner role are the same; set DATABASE_OWNER_URL to a "
            "different role (see README, 'Database roles')"
        )
    app = sql.Identifier(app_role)
    statements += [
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(app),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(
            app
        ),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(app),
    ]
    for table in APPEND_ONLY_TABLES:
        statements.append(
            sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(
                sql.Identifier(table), app
            )
        )
    # Partitions (the audit log's months) are reached through their parent only, under its
    # policy and grants: the blanket grant above must not reach them directly.
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(%s)",
            [list(PARTITIONED_TABLES)],
        )
        partitions = [row[0] for row in cur.fetchall()]
    statements += [
        sql.SQL("REVOKE ALL ON {} FROM {}").format(sql.Identifier(name), app) for name in partitions
    ]
    for label, columns in WRITE_ONLY_COLUMNS.items():
        model = apps.get_model(label)
        readable = [f.column for f in model._meta.concrete_fields if f.column not in columns]
        table = sql.Identifier(model._meta.db_table)
        statements += [
            # revoking the table's SELECT revokes every column's too; then all but `columns`
            sql.SQL("REVOKE SELECT ON {} FROM {}").format(table, app),
            sql.SQL("GRANT SELECT ({}) ON {} TO {}").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in readable), table, app
            ),
        ]
    statements.append(sql.SQL(HASH_ACCESS_SQL))
    statements.append(sql.SQL("REVOKE ALL ON app_secret FROM PUBLIC, {}").format(app))
    statements.append(sql.SQL(SESSION_SQL))
    statements.append(sql.SQL(TASK_SQL))
    statements.append(sql.SQL(TWO_FACTOR_SQL))
    statements.append(sql.SQL(ERASURE_SQL))
    statements.append(sql.SQL(USER_SESSION_SQL))
    for signature in (
        *HASH_ACCESS_FUNCTIONS,
        *SESSION_FUNCTIONS,
        *TWO_FACTOR_FUNCTIONS,
        *USER_SESSION_FUNCTIONS,
        *ERASURE_FUNCTIONS,
        *PARTITION_FUNCTIONS,
    ):
        statements += [
            sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(sql.SQL(signature)),
            sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(signature), app),
        ]
    for model in tenant_models():
        table = sql.Identifier(model._meta.db_table)
        using_expr = model.rls_using or DEFAULT_USING
        check_expr = getattr(model, "rls_check", None) or DEFAULT_USING
        statements += [
            sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(table),
            sql.SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(table),
            sql.SQL("DROP POLICY IF EXISTS tenant_isolation ON {}").format(table),
            sql.SQL("CREATE POLICY tenant_isolation ON {} USING ({}) WITH CHECK ({})").format(
                table, sql.SQL(using_expr), sql.SQL(check_expr)
            ),
        ]
    statements.append(sql.SQL(AUDIT_FUNCTION))
    for table_name, org_column, redact in audited_tables():
        table = sql.Identifier(table_name)
        args = sql.SQL(", ").join(sql.Literal(a) for a in (org_column, *redact))
        statements += [
            sql.SQL("DROP TRIGGER IF EXISTS audit_row_change ON {}").format(table),
            sql.SQL(
                "CREATE TRIGGER audit_row_change AFTER INSERT OR UPDATE OR DELETE ON {} "
                "FOR EACH ROW EXECUTE FUNCTION audit_row_change({})"
            ).format(table, args),
        ]
    with connection.cursor() as cur:
        raw = cur.connection
        for statement in statements:
            cur.execute(statement.as_string(raw))
