"""The audit log becomes a table partitioned by month of `occurred_at` (declarative
partitioning): old months can be detached and archived (`clinic audit detach`) without touching
the rest. The primary key is (id, occurred_at), as partitioning requires; a default partition
takes any row outside the monthly ones. Existing rows are moved over in this migration.

`app_audit_partitions_ensure(months_ahead)` (owner-owned, SECURITY DEFINER: the application
role cannot create tables) creates the current month's and the next months' partitions; the
daily job `audit.partitions_ensure` calls it. A month whose rows already went to the default
partition is left there (creating it would have to move them; the default is still searched).
Partitions get no privilege of their own: the application reads and appends through the
parent, under its row-level security and its grants (see core/security.py)."""

from django.db import migrations

PARTITION_FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION app_audit_partition_name(p_month date) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT 'audit_auditevent_p' || to_char(p_month, 'YYYYMM')
$fn$;

CREATE OR REPLACE FUNCTION app_audit_partitions_ensure(p_months_ahead integer) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
    first_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    low timestamptz;
    high timestamptz;
    month date;
    made integer := 0;
    name text;
BEGIN
    FOR i IN 0 .. greatest(p_months_ahead, 0) LOOP
        month := (first_month + make_interval(months => i))::date;
        name := app_audit_partition_name(month);
        -- months in UTC, whatever the session's time zone
        low := month::timestamp AT TIME ZONE 'UTC';
        high := (month + interval '1 month')::timestamp AT TIME ZONE 'UTC';
        CONTINUE WHEN to_regclass('public.' || name) IS NOT NULL;
        -- rows of that month already in the default partition: leave the month there
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM public.audit_auditevent_pdefault
             WHERE occurred_at >= low AND occurred_at < high);
        EXECUTE format(
            'CREATE TABLE public.%I PARTITION OF public.audit_auditevent FOR VALUES FROM (%L) TO (%L)',
            name, low, high);
        EXECUTE format('REVOKE ALL ON public.%I FROM PUBLIC', name);
        made := made + 1;
    END LOOP;
    RETURN made;
END
$fn$;
"""

FORWARD = (
    r"""
ALTER TABLE audit_auditevent RENAME TO audit_auditevent_unpartitioned;
ALTER INDEX audit_org_time RENAME TO audit_org_time_old;
ALTER INDEX audit_object RENAME TO audit_object_old;
ALTER INDEX audit_actor RENAME TO audit_actor_old;
ALTER INDEX audit_auditevent_actor_id_270bb4b7 RENAME TO audit_auditevent_actor_id_old;
ALTER INDEX audit_auditevent_organization_id_4b1fe3b9 RENAME TO audit_auditevent_org_id_old;
ALTER TABLE audit_auditevent_unpartitioned RENAME CONSTRAINT audit_auditevent_pkey
    TO audit_auditevent_unpartitioned_pkey;

CREATE TABLE audit_auditevent (
    id uuid NOT NULL,
    action varchar(64) NOT NULL,
    object_type varchar(100) NOT NULL,
    object_id varchar(64) NOT NULL,
    before jsonb NULL,
    after jsonb NULL,
    details jsonb NOT NULL,
    ip inet NULL,
    user_agent text NOT NULL,
    request_id varchar(64) NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    actor_id uuid NULL,
    organization_id uuid NULL REFERENCES accounts_organization (id) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE TABLE audit_auditevent_pdefault PARTITION OF audit_auditevent DEFAULT;
REVOKE ALL ON audit_auditevent_pdefault FROM PUBLIC;
CREATE INDEX audit_auditevent_actor_id_270bb4b7 ON audit_auditevent (actor_id);
CREATE INDEX audit_auditevent_organization_id_4b1fe3b9 ON audit_auditevent (organization_id);
CREATE INDEX audit_org_time ON audit_auditevent (organization_id, occurred_at DESC);
CREATE INDEX audit_object ON audit_auditevent (organization_id, object_type, object_id);
CREATE INDEX audit_actor ON audit_auditevent (organization_id, actor_id, occurred_at DESC);
"""
    + PARTITION_FUNCTIONS
    + r"""
-- a partition for every month that has rows, then the months ahead; then the rows
DO $$
DECLARE
    month date;
BEGIN
    FOR month IN
        SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date
          FROM audit_auditevent_unpartitioned
    LOOP
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS %I PARTITION OF audit_auditevent FOR VALUES FROM (%L) TO (%L)',
            app_audit_partition_name(month), month::timestamp AT TIME ZONE 'UTC',
            (month + interval '1 month')::timestamp AT TIME ZONE 'UTC');
        EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', app_audit_partition_name(month));
    END LOOP;
END
$$;
SELECT app_audit_partitions_ensure(3);
INSERT INTO audit_auditevent SELECT id, action, object_type, object_id, before, after, details,
    ip, user_agent, request_id, occurred_at, actor_id, organization_id
    FROM audit_auditevent_unpartitioned;
DROP TABLE audit_auditevent_unpartitioned;
"""
)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    # one-way: an archive may already have detached months
    operations = [migrations.RunSQL(FORWARD, reverse_sql=migrations.RunSQL.noop)]
