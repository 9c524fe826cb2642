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

AUDIT_FUNCTION = r"""
CREATE OR REPLACE FUNCTION audit_row_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    org_column text := TG_ARGV[0];
    redacted text[] := TG_ARGV[1:];
    before_row jsonb;
    after_row jsonb;
    row_data jsonb;
    org uuid;
BEGIN
    IF TG_OP <> 'INSERT' THEN before_row := to_jsonb(OLD) - redacted; END IF;
    IF TG_OP <> 'DELETE' THEN after_row := to_jsonb(NEW) - redacted; END IF;
    IF TG_OP = 'UPDATE' AND before_row = after_row THEN
        RETURN NULL;
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
        clock_timestamp(), '{}'::jsonb
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
    """(table, organization column, redacted columns) for every table whose writes are audited."""
    rows = []
    for model in tenant_models():
        if model._meta.db_table in APPEND_ONLY_TABLES:
            continue
        rows.append((model._meta.db_table, "organization_id", tuple(model.audit_redact)))
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
