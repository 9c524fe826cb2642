"""Task rows under a row-level security policy (issue 18, defect 8): their arguments name an
organization and its records, so a request sees its own organization's tasks only, a query with
no tenant sees none, and the worker sees them all."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django_tasks_db.models import DBTaskResult

from clinic.core.tenancy import tenant_context
from clinic.core.worker import worker_connection
from tests.notifications import sample_tasks

pytestmark = pytest.mark.django_db


def _visible() -> set[str]:
    return {str(i) for i in DBTaskResult.objects.values_list("id", flat=True)}


def test_a_request_sees_its_own_organizations_tasks_only(org_a, org_b):
    with tenant_context(org_a.id):
        mine = str(sample_tasks.where_am_i.enqueue(str(org_a.id)).id)
    with tenant_context(org_b.id):
        theirs = str(sample_tasks.where_am_i.enqueue(str(org_b.id)).id)
        assert _visible() == {theirs}
    with tenant_context(org_a.id):
        assert _visible() == {mine}
    with transaction.atomic(), connection.cursor() as cur:
        # no tenant (the test's transaction still holds the last one: cleared as a new request
        # would start), not the worker: nothing
        cur.execute("SELECT set_config('app.org_id', '', true)")
        assert _visible() == set()
        worker_connection()
        assert _visible() == {mine, theirs}


def test_a_request_cannot_enqueue_for_another_organization(org_a, org_b):
    from django.db.utils import ProgrammingError

    with pytest.raises(ProgrammingError, match="row-level security"):
        with tenant_context(org_a.id):
            sample_tasks.where_am_i.enqueue(str(org_b.id))


def test_the_policy_is_in_place_for_the_application_role():
    with connection.cursor() as cur:
        cur.execute(
            "SELECT relrowsecurity FROM pg_class WHERE relname = %s", [DBTaskResult._meta.db_table]
        )
        assert cur.fetchone() == (True,)
        cur.execute("SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cur.fetchone() == (False,)
