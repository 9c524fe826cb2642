from __future__ import annotations

import threading


def test_healthz_and_readyz_need_no_authentication(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"


def test_request_id_is_returned(api, owner_a):
    response = api.get("me", owner_a)
    assert len(response["X-Request-ID"]) >= 16


def test_openapi_is_public_and_docs_ask_to_log_in(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/me" in schema["paths"]
    # the interactive docs are for signed-in staff (tests/core/test_security_headers.py)
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 302 and docs["Location"].startswith("/login/")


def test_malformed_json_gets_the_error_envelope(api):
    response = api.post("auth/token", json="{not json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_wrong_types_name_the_field(api):
    response = api.post("auth/token", json={"email": ["x"], "password": "p", "organization": "o"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "email" in error["details"]
    assert "email" in error["message"]


def test_unknown_api_path_is_a_json_404(api, owner_a):
    response = api.get("no-such-thing", owner_a)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_page_size_has_a_maximum(api, owner_a):
    response = api.get("audit-events?page_size=100000", owner_a)
    assert response.status_code == 422
    assert "page_size" in response.json()["error"]["details"]
    page = api.get("audit-events?page_size=1&page=1", owner_a).json()
    assert page["page_size"] == 1 and len(page["items"]) == 1 and page["pages"] == page["count"]


def _tokens(api, persona):
    return api.get("auth/tokens?page_size=200", persona).json()["count"]


def test_idempotency_key_replays_the_original_response(api, owner_a):
    before = _tokens(api, owner_a)
    headers = {"HTTP_IDEMPOTENCY_KEY": "create-token-1"}
    first = api.post("auth/tokens", owner_a, json={"name": "ci"}, headers=headers)
    again = api.post("auth/tokens", owner_a, json={"name": "ci"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert _tokens(api, owner_a) == before + 1


def test_idempotency_key_with_a_different_body_is_refused(api, owner_a):
    headers = {"HTTP_IDEMPOTENCY_KEY": "create-token-2"}
    assert api.post("auth/tokens", owner_a, json={"name": "a"}, headers=headers).status_code == 201
    count = _tokens(api, owner_a)
    refused = api.post("auth/tokens", owner_a, json={"name": "b"}, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "idempotency_key_reused"
    assert _tokens(api, owner_a) == count


def test_idempotency_keys_are_per_organization(api, owner_a, owner_b):
    headers = {"HTTP_IDEMPOTENCY_KEY": "same-key"}
    a = api.post("auth/tokens", owner_a, json={"name": "x"}, headers=headers)
    b = api.post("auth/tokens", owner_b, json={"name": "x"}, headers=headers)
    assert a.status_code == b.status_code == 201
    assert a.json()["token"] != b.json()["token"]
    assert "Idempotent-Replayed" not in b


def test_concurrent_requests_with_one_key_create_once(live_db):
    """Real parallel requests: the key row serialises them; one creates, the others replay."""
    from django.test import Client

    from tests.conftest import org_create, persona_create, unique_slug

    persona = persona_create(org_create(unique_slug("idem")), "owner")
    barrier = threading.Barrier(6)
    results = []

    def call():
        barrier.wait()
        response = Client().post(
            "/api/v1/auth/tokens",
            data={"name": "par"},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="parallel-key",
            **persona.headers,
        )
        results.append((response.status_code, response.json()["token"]))
        from django.db import connection

        connection.close()

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [s for s, _ in results] == [201] * 6
    assert len({tok for _, tok in results}) == 1
    from clinic.accounts.models import ApiToken
    from clinic.core.tenancy import tenant_context

    with tenant_context(persona.org.id):
        assert ApiToken.objects.filter(name="par").count() == 1


def test_browser_session_reaches_the_api_and_writes_need_csrf(db, owner_a):
    from django.test import Client

    from tests.conftest import reauthenticated

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner_a.user)
    assert browser.get("/api/v1/me").json()["user"]["email"] == owner_a.user.email
    refused = browser.post(
        "/api/v1/auth/tokens", data={"name": "x"}, content_type="application/json"
    )
    assert refused.status_code == 401
    browser.get("/")  # sets the CSRF cookie
    reauthenticated(browser)  # a new token from a browser session needs the password again
    allowed = browser.post(
        "/api/v1/auth/tokens",
        data={"name": "x"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
    )
    assert allowed.status_code == 201
