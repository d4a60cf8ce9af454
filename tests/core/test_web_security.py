"""Staff page sessions revocable on the server, redirects that stay on the site, HSTS and the
downloads' Content-Type, through the Flask test client."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from core.auth.models import Account, StaffSession
from core.auth.roles import Role
from core.clock import seoul_today
from core.db import db, utcnow
from tests.core.test_pages_accounts import edit, municipal_admin, press, sign_out_everywhere
from tests.support.desk import HTML, csrf_of, idle_out, post_form, sign_in
from tests.support.factories import PASSWORD, World
from welfare_checks import access_review

NEW_PASSWORD = "seven amber kites over busan"


# --- Page sessions ---------------------------------------------------------------------------


def stolen_copy(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of the client's session cookie (as a thief would)."""
    # Copied from a browser that has shown a page, so the copy has the page's CSRF token too.
    assert client.get("/").status_code == 200
    name = app.config["SESSION_COOKIE_NAME"]
    thief = app.test_client()
    thief.set_cookie(name, client.get_cookie(name).value)
    return thief


def signed_in(response: TestResponse) -> bool:
    return response.status_code == 200


def victim(world: World) -> Account:
    return world.a.accounts[Role.SOCIAL_WORKER]


def log_out(client: FlaskClient, world: World) -> None:
    token = csrf_of(client.get("/").text)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302


def change_own_password(client: FlaskClient, world: World) -> None:
    form = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert post_form(client, "/me/", "/me/password", form).status_code == 302


def by_admin(press_form: Callable[[FlaskClient, Account], TestResponse]) -> Callable:
    """The victim's municipal admin pressing one of its account page's forms, elsewhere."""

    def act(client: FlaskClient, world: World) -> None:
        # An app context of its own: the test's requests otherwise share one `g`, and with it
        # Flask-WTF's cached CSRF token, across browsers.
        with client.application.app_context():
            admin = client.application.test_client()
            sign_in(admin, municipal_admin(world))
            assert press_form(admin, victim(world)).status_code == 302

    return act


REVOCATIONS = {
    "logout": log_out,
    "password change": change_own_password,
    "disabling": by_admin(lambda admin, account: edit(admin, account, state="disabled")),
    "sign out everywhere": by_admin(sign_out_everywhere),
    "password reset": by_admin(
        lambda admin, account: press(admin, account, "password", {"password": NEW_PASSWORD})
    ),
}


@pytest.mark.parametrize("how", list(REVOCATIONS))
def test_a_copied_session_cookie_stops_working_when_the_session_ends(app, client, world, how):
    sign_in(client, victim(world))
    thief = stolen_copy(app, client)
    assert signed_in(thief.get("/"))
    REVOCATIONS[how](client, world)
    refused = thief.get("/", headers=HTML)
    assert refused.status_code == 302 and refused.headers["Location"] == "/login"
    assert not signed_in(client.get("/"))
    # The copy stays dead: nothing the thief sends brings it back.
    assert thief.get("/welfare/").headers["Location"].startswith("/login?next=")


def cookie_content(app: Flask, client: FlaskClient) -> dict:
    """What the client's signed session cookie holds."""
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    return app.session_interface.get_signing_serializer(app).loads(cookie)


def test_the_cookie_carries_only_the_id_of_a_session_kept_on_the_server(app, client, world):
    worker = victim(world)
    sign_in(client, worker)
    content = cookie_content(app, client)
    assert set(content) <= {"sid", "csrf_token", "_flashes", "_permanent"}
    (row,) = db.session.scalars(sa.select(StaffSession).where(StaffSession.account_id == worker.id))
    assert row.token_hash != content["sid"] and len(content["sid"]) >= 43  # 256 bits
    thief = stolen_copy(app, client)
    # Signing in again is a new session id (no fixation), and the one before it ends.
    sign_in(client, worker)
    assert cookie_content(app, client)["sid"] not in (content["sid"], row.token_hash)
    assert signed_in(client.get("/")) and not signed_in(thief.get("/"))


def test_the_idle_and_absolute_timeouts_are_kept_on_the_server(app, client, world):
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    sign_in(client, worker)
    thief = stolen_copy(app, client)
    idle_out()
    # A copy in use elsewhere does not keep an idle session alive: the server's clock decides.
    assert not signed_in(thief.get("/")) and not signed_in(client.get("/"))

    sign_in(client, worker)
    assert signed_in(client.get("/"))
    old = utcnow() - timedelta(hours=app.config["SESSION_ABSOLUTE_HOURS"], minutes=1)
    db.session.execute(sa.update(StaffSession).values(created_at=old, last_seen_at=utcnow()))
    db.session.commit()  # the test's SAVEPOINT
    assert not signed_in(client.get("/"))


def test_use_keeps_a_session_alive_past_the_idle_timeout(app, client, world):
    sign_in(client, world.a.accounts[Role.SOCIAL_WORKER])
    almost = utcnow() - timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] - 1)
    db.session.execute(sa.update(StaffSession).values(last_seen_at=almost))
    db.session.commit()
    assert signed_in(client.get("/"))
    db.session.expire_all()
    assert db.session.scalar(sa.select(StaffSession.last_seen_at)) > utcnow() - timedelta(minutes=1)


# --- Redirects to a user-given target --------------------------------------------------------

#: Targets that a browser would follow off the site (or that are not a path at all).
HOSTILE = [
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\n//evil.example",
    "/\x00/evil.example",
    " //evil.example",
    "/%09/evil.example",
    "/%0a/evil.example",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "/%5Cevil.example",
    "/%252F%252Fevil.example",
    "/%25252F%25252F%25252Fevil.example",
    "https://evil.example",
    "https:/evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    "evil.example",
    "",
]
#: Paths of this site, kept as they are.
LOCAL = ["/welfare/", "/welfare/cases/7", "/registry/?q=%ED%99%8D&page=2", "/admin/accounts/"]


@pytest.mark.parametrize("target", HOSTILE)
def test_no_redirect_leaves_the_site(client, world, target):
    switched = client.get("/language/ko", query_string={"next": target})
    assert switched.status_code == 302 and switched.headers["Location"] == "/"
    token = csrf_of(client.get("/login").text)
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    form = {"username": worker.username, "password": PASSWORD, "csrf_token": token}
    signed = client.post("/login", data=form | {"next": target})
    assert signed.status_code == 302 and signed.headers["Location"] == "/"


def test_the_reported_targets_as_typed_in_the_address_bar(client):
    for query in ("next=/%09/evil.example", "next=/%0A/evil.example", "next=%2F%5Cevil.example"):
        switched = client.get(f"/language/en?{query}")
        assert switched.status_code == 302 and switched.headers["Location"] == "/", query


@pytest.mark.parametrize("target", LOCAL)
def test_a_path_of_the_site_is_where_the_redirect_goes(client, target):
    switched = client.get("/language/en", query_string={"next": target})
    assert switched.headers["Location"] == target


# --- Headers ---------------------------------------------------------------------------------


def test_hsts_in_production_and_over_https_only(app, client, monkeypatch):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    secure = client.get("/login", base_url="https://localhost").headers
    assert secure["Strict-Transport-Security"].startswith("max-age=63072000")
    monkeypatch.setitem(app.config, "ENV", "production")
    for path in ("/login", "/api/v1/openapi.json"):
        hsts = client.get(path).headers["Strict-Transport-Security"]
        assert hsts == "max-age=63072000; includeSubDomains", path


def test_every_download_names_its_charset_once(client, world):
    social = world.a.headers(Role.SOCIAL_WORKER)
    today = seoul_today().isoformat()
    export = {"kind": "statistics", "from": today, "to": today, "reason": "월간 보고 자료"}
    csv_type = "text/csv; charset=utf-8"
    xlsx_type = access_review.XLSX
    api_csv = client.post("/api/v1/exports", json=export, headers=social)
    assert api_csv.headers["Content-Type"] == csv_type
    api_xlsx = client.post("/api/v1/exports", json=export | {"format": "xlsx"}, headers=social)
    assert api_xlsx.headers["Content-Type"] == xlsx_type
    sign_in(client, world.a.accounts[Role.SOCIAL_WORKER])
    form = {"kind": "statistics", "format": "csv", "reason": "월간 보고 자료"}
    page_csv = post_form(client, "/welfare/statistics", "/welfare/statistics/export", form)
    assert page_csv.status_code == 200 and page_csv.headers["Content-Type"] == csv_type
    assert page_csv.headers["Content-Disposition"].startswith('attachment; filename="statistics-')

    review = access_review.create_review(world.a.municipality.id, seoul_today())
    db.session.commit()  # the test's SAVEPOINT: the requests see it
    admin = world.a.headers(Role.MUNICIPAL_ADMIN)
    path = f"/api/v1/access-reviews/{review.id}"
    assert client.get(f"{path}/review.csv", headers=admin).headers["Content-Type"] == csv_type
    assert client.get(f"{path}/review.xlsx", headers=admin).headers["Content-Type"] == xlsx_type
