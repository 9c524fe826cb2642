"""Tests on committed data (no module-wide django_db mark): the search query plan under
row-level security on analysed generated data, and concurrent duplicate creations."""

from __future__ import annotations

import re


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
    assert not re.search(r"Seq Scan on directory_patient\b(?!contact)", plan), plan
    assert "patient_word1" in plan and "contact_word1" in plan, plan
    assert "(name_word1 >= 'hel'::text)" in plan, plan


def test_concurrent_duplicate_creations_make_one_patient(live_db):
    """Two requests racing to create the same person: the advisory lock serialises the
    duplicate check, so one gets 201 and the other 409."""
    import threading

    from django.db import connections
    from django.test import Client

    from tests.conftest import org_create, persona_create, unique_slug

    owner = persona_create(org_create(unique_slug("race")), "owner")
    human = {"given_name": "Léo", "family_name": "Roux", "date_of_birth": "2001-01-01"}
    barrier = threading.Barrier(2)
    statuses = []

    def create():
        client = Client(HTTP_HOST="localhost")  # in ALLOWED_HOSTS whatever other tests set
        barrier.wait()
        response = client.post(
            "/api/v1/patients", data=human, content_type="application/json", **owner.headers
        )
        statuses.append(response.status_code)
        connections.close_all()

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201, 409]
