"""The own-account page: the work e-mail for alerts and a password change that signs out."""

from __future__ import annotations

import pytest

from core.auth.models import Account
from core.auth.roles import Role
from core.db import db
from tests.support.desk import HTML, post_form, sign_in
from tests.support.factories import PASSWORD, make_account

NEW_PASSWORD = "quiet harbour lanterns at dawn"


@pytest.fixture
def worker(world) -> Account:
    account = make_account(Role.SOCIAL_WORKER, municipality_id=world.a.municipality.id)
    db.session.commit()
    return account


def fresh(account: Account) -> Account:
    db.session.expire_all()
    return db.session.get(Account, account.id)


def login(client, account: Account, password: str):
    return post_form(
        client, "/login", "/login", {"username": account.username, "password": password}
    )


def test_the_header_links_to_the_page_which_shows_the_account(client, worker):
    sign_in(client, worker)
    assert 'href="/me/"' in client.get("/").text
    page = client.get("/me/")
    assert page.status_code == 200
    assert worker.username in page.text and "사회복지 담당자" in page.text


def test_the_work_email_is_set_refused_when_malformed_and_cleared(client, worker):
    sign_in(client, worker)
    saved = post_form(client, "/me/", "/me/email", {"email": "kim@gu.go.kr"})
    assert saved.status_code == 302 and fresh(worker).email == "kim@gu.go.kr"
    bad = post_form(client, "/me/", "/me/email", {"email": "kim@"})
    assert bad.status_code == 422 and 'id="email-error"' in bad.text
    assert fresh(worker).email == "kim@gu.go.kr"
    cleared = post_form(client, "/me/", "/me/email", {"email": ""})
    assert cleared.status_code == 302 and fresh(worker).email is None


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"current_password": "not it", "new_password": NEW_PASSWORD}, "current_password"),
        ({"current_password": PASSWORD, "new_password": "short"}, "new_password"),
        ({"current_password": PASSWORD}, "new_password"),
        ({"new_password": NEW_PASSWORD}, "current_password"),
    ],
)
def test_a_refused_password_change_names_the_field_and_changes_nothing(client, worker, form, field):
    sign_in(client, worker)
    before = worker.password_hash
    refused = post_form(client, "/me/", "/me/password", form)
    assert refused.status_code == 422 and f'id="{field}-error"' in refused.text
    assert "not it" not in refused.text and NEW_PASSWORD not in refused.text
    assert fresh(worker).password_hash == before
    assert client.get("/me/").status_code == 200  # still signed in


def test_a_password_change_signs_out_everywhere_and_the_new_one_works(client, worker):
    sign_in(client, worker)
    changed = post_form(
        client,
        "/me/",
        "/me/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 302 and changed.headers["Location"].endswith("/login")
    page = client.get("/login")
    assert "새 비밀번호로 다시 로그인해 주세요" in page.text
    assert client.get("/me/", headers=HTML).status_code == 302
    assert login(client, worker, PASSWORD).status_code == 401
    assert login(client, worker, NEW_PASSWORD).status_code == 302


def test_anonymous_visitors_are_sent_to_sign_in(client):
    assert client.get("/me/", headers=HTML).status_code == 302
    assert client.post("/me/password", data={}, headers=HTML).status_code == 400  # no CSRF
