"""The search query plan under row-level security, on committed, analysed, generated data
(no module-wide django_db mark: the data must be committed for ANALYZE to see it)."""

from __future__ import annotations


def test_search_uses_the_indexes_under_row_level_security(live_db):
    """On generated (committed, analysed) data, the plan for a name search run as the
    application role (so RLS applies) reads the word columns through their btree indexes."""
    from django.db import connection

    from clinic.accounts.models import Membership
    from clinic.core.tenancy import tenant_context
    from clinic.directory import selectors
    from clinic.directory.generator import generate
    from tests.conftest import unique_slug

    result = generate(org_slug=unique_slug("plan"), practitioners=2, patients=3000, seed=7)
    with tenant_context(result.organization_id):
        actor = Membership.objects.select_related("organization").get(role="owner")
        qs = selectors.patients_list(actor=actor, search="hél dup")
        sql, params = qs.query.sql_with_params()
        with connection.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone()[0] == connection.settings_dict["USER"]  # not the owner
            cur.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cur.fetchall())
    assert "Seq Scan on directory_patient" not in plan, plan
    assert "patient_word1" in plan and "contact_word1" in plan, plan
    assert "(name_word1 >= 'hel'::text)" in plan, plan
