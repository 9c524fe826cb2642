"""The audit log partitioned by month: rows land in their month's partition, the application
role reaches partitions only through the parent (never directly, never to change a row), the
daily job keeps months ahead, and a past month can be detached for archive."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection, connections, transaction
from psycopg import errors as pg_errors

from clinic.audit.models import AuditEvent
from clinic.core.tenancy import tenant_activate

pytestmark = pytest.mark.django_db(databases=["default", "owner"])


def _owner_sql(statement, params=()):
    with connections["owner"].cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else None


def test_rows_land_in_their_month_and_partitions_are_out_of_the_apps_reach(owner_a):
    from clinic.audit.services import audit_record, partitions_ensure

    now = datetime.now(UTC)
    month = f"audit_auditevent_p{now:%Y%m}"
    with transaction.atomic():
        tenant_activate(owner_a.org.id, owner_a.user.id)
        partitions_ensure(0)  # a reused test database may predate this month
        event = audit_record(action="test.partition", organization_id=owner_a.org.id)
        # the test's transaction is not committed: read it on the same connection, via the parent
        with connection.cursor() as cur:
            cur.execute(
                "SELECT tableoid::regclass::text FROM audit_auditevent WHERE id = %s", [event.id]
            )
            where = cur.fetchall()
    assert where == [(month,)]
    # the application role: through the parent under its policy; a partition directly, never
    for statement in (
        f"SELECT count(*) FROM {month}",
        f"UPDATE {month} SET action = 'x'",
        f"DELETE FROM {month}",
        "SELECT count(*) FROM audit_auditevent_pdefault",
    ):
        with pytest.raises(Exception) as refused, transaction.atomic():
            tenant_activate(owner_a.org.id)
            with connection.cursor() as cur:
                cur.execute(statement)
        assert isinstance(refused.value.__cause__, pg_errors.InsufficientPrivilege), statement
    with transaction.atomic():
        tenant_activate(owner_a.org.id)
        assert AuditEvent.objects.filter(id=event.id).exists()


def test_the_daily_job_keeps_months_ahead(owner_a):
    from clinic.audit.services import partitions_ensure

    # one connection throughout: the partitions made are not committed (test transaction)
    with transaction.atomic():
        tenant_activate(owner_a.org.id)
        assert partitions_ensure(5) >= 0  # the application role may call it
        with connection.cursor() as cur:
            cur.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'audit_auditevent'::regclass"
            )
            names = {r[0] for r in cur.fetchall()}
    now = datetime.now(UTC)
    for ahead in range(6):
        year, month = divmod(now.month - 1 + ahead, 12)
        assert f"audit_auditevent_p{now.year + year}{month + 1:02d}" in names
    with transaction.atomic():
        tenant_activate(owner_a.org.id)
        assert partitions_ensure(5) == 0  # idempotent


def test_a_past_month_is_detached_for_archive():
    # all on the owner's connection: partition DDL waits for any other open transaction that
    # touched the log (a fixture creating a clinic writes audit rows on the app's connection)
    from clinic.audit.cli import partition_detach, partitions_list
    from clinic.core.errors import ValidationFailed

    # a past month with one row in it (written as the owner: the app writes only "now")
    _owner_sql(
        "CREATE TABLE IF NOT EXISTS audit_auditevent_p202001 PARTITION OF audit_auditevent "
        "FOR VALUES FROM ('2020-01-01 00:00+00') TO ('2020-02-01 00:00+00')"
    )
    _owner_sql(
        "INSERT INTO audit_auditevent (id, action, object_type, object_id, details, user_agent, "
        "request_id, occurred_at, organization_id) VALUES (gen_random_uuid(), 'old', '', '', "
        "'{}', '', '', '2020-01-15 10:00+00', NULL)"
    )
    assert dict(partitions_list())["audit_auditevent_p202001"] == 1
    with pytest.raises(ValidationFailed):
        partition_detach(f"{datetime.now(UTC):%Y-%m}")  # never the current month
    with pytest.raises(ValidationFailed):
        partition_detach("2020-13")
    assert partition_detach("2020-01") == "audit_auditevent_p202001"
    assert "audit_auditevent_p202001" not in dict(partitions_list())
    assert _owner_sql("SELECT count(*) FROM audit_auditevent_p202001") == [(1,)]  # archived
    # no longer part of the log (read on the owner's connection: its uncommitted DDL holds the
    # table's lock, so the application's connection would wait for the end of the test)
    assert _owner_sql("SELECT count(*) FROM audit_auditevent WHERE action = 'old'") == [(0,)]
