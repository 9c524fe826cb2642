from __future__ import annotations

from tests.conftest import PASSWORD


def test_login_page_shows_errors_next_to_fields(client, db):
    response = client.post("/login/", {"email": "not-an-email", "password": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_email_error"' in html and 'id="id_password_error"' in html


def test_login_with_wrong_password_stays_on_the_page(client, owner_a):
    response = client.post("/login/", {"email": owner_a.user.email, "password": "nope-nope-1"})
    assert response.status_code == 401
    assert "Invalid email, password or organization." in response.content.decode()


def test_login_logout_and_home(client, owner_a):
    response = client.post("/login/", {"email": owner_a.user.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/")
    assert owner_a.org.name in home.content.decode()
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_organization_switcher(client, owner_a, org_b):
    from tests.conftest import persona_create

    persona_create(org_b, "manager", email=owner_a.user.email)
    client.post(
        "/login/",
        {"email": owner_a.user.email, "password": PASSWORD, "organization": owner_a.org.slug},
    )
    html = client.get("/").content.decode()
    assert 'id="org-select"' in html and "Clinic B" in html
    client.post("/organization/switch/", {"organization_id": str(org_b.id)})
    html = client.get("/").content.decode()
    assert "<title>Today · Clinic B</title>" in html and 'id="today-desk"' in html
    # an organization the user does not belong to is not found
    assert (
        client.post(
            "/organization/switch/", {"organization_id": "00000000-0000-0000-0000-000000000000"}
        ).status_code
        == 404
    )


def test_arabic_pages_are_right_to_left(client, owner_a):
    client.force_login(owner_a.user)
    client.post("/i18n/setlang/", {"language": "ar", "next": "/"})
    html = client.get("/").content.decode()
    assert 'dir="rtl"' in html and 'lang="ar"' in html
    client.post("/i18n/setlang/", {"language": "fr", "next": "/"})
    html = client.get("/").content.decode()
    assert 'dir="ltr"' in html and "Aujourd’hui" in html
