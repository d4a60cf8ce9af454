"""Accounts, sign-in, tokens, sessions and the permission record, through HTTP."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from core.auth.models import Account, PermissionEvent
from core.auth.roles import Role
from core.db import db, utcnow
from tests.support.desk import idle_out
from tests.support.factories import PASSWORD, auth, make_account

NEW_PASSWORD = "seven amber kites over busan"


def login(client, username: str, password: str = PASSWORD):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def lock_out(client, app, account: Account) -> None:
    """Fail the account's sign-in until it is locked."""
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert login(client, account.username, "not the password!").status_code == 401


def actions_of(account_id: int) -> list[str]:
    """The account's permission events' actions, oldest first."""
    query = sa.select(PermissionEvent.action).where(PermissionEvent.account_id == account_id)
    return list(db.session.scalars(query.order_by(PermissionEvent.id)))


def test_login_returns_a_working_token_and_logout_revokes_it(client, world):
    account = world.a.accounts[Role.SOCIAL_WORKER]
    response = login(client, account.username)
    assert response.status_code == 201
    token = response.json["token"]
    me = client.get("/api/v1/auth/me", headers=auth(token))
    assert me.status_code == 200
    assert me.json["username"] == account.username
    assert client.delete("/api/v1/auth/token", headers=auth(token)).status_code == 204
    assert client.get("/api/v1/auth/me", headers=auth(token)).status_code == 401


def test_unknown_user_and_wrong_password_look_the_same(client, world):
    known = login(client, world.a.accounts[Role.CARRIER].username, "wrong password 123")
    unknown = login(client, "nobody-here", "wrong password 123")
    assert known.status_code == unknown.status_code == 401
    assert known.json == unknown.json
    assert known.json["error"]["code"] == "login_failed"


def test_lockout_after_repeated_failures_even_with_the_right_password(client, world, app):
    account = world.a.accounts[Role.DISPATCHER]
    lock_out(client, app, account)
    assert login(client, account.username).status_code == 401
    db.session.refresh(account)
    assert account.locked_until is not None and account.locked_until > utcnow()
    # Once the lock has run out the right password works again.
    account.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert login(client, account.username).status_code == 201


def test_bad_tokens_are_refused(client, world):
    good = world.a.tokens[Role.SOCIAL_WORKER]
    for header in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        auth("wpt_" + "x" * 43),
        auth(good[:-1] + ("A" if good[-1] != "A" else "B")),
    ):
        response = client.get("/api/v1/auth/me", headers=header)
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"


def test_disabling_an_account_ends_its_tokens_at_once_and_is_recorded(client, world):
    target = world.a.accounts[Role.SOCIAL_WORKER]
    token = world.a.tokens[Role.SOCIAL_WORKER]
    admin = world.a.headers(Role.MUNICIPAL_ADMIN)
    response = client.patch(
        f"/api/v1/accounts/{target.id}", json={"is_active": False}, headers=admin
    )
    assert response.status_code == 200
    assert client.get("/api/v1/auth/me", headers=auth(token)).status_code == 401
    assert login(client, target.username).status_code == 401
    actions = db.session.scalars(
        sa.select(PermissionEvent.action).where(PermissionEvent.account_id == target.id)
    ).all()
    assert "disable" in actions


def test_password_policy_names_every_problem(client, world):
    admin = world.admin_headers()
    base = {
        "display_name": "새 직원",
        "role": "social_worker",
        "municipality_id": world.a.municipality.id,
    }
    cases = {
        "short": ("newuser1", "short1!"),
        "common": ("newuser2", "1q2w3e4r5t6y"),
        "username": ("newuser3", "xxnewuser3-long-enough"),
    }
    for username, password in cases.values():
        response = client.post(
            "/api/v1/accounts",
            json=base | {"username": username, "password": password},
            headers=admin,
        )
        assert response.status_code == 422, username
        assert response.json["error"]["fields"]["password"]


def test_grant_change_and_revoke_are_all_recorded(client, world):
    admin = world.admin_headers()
    created = client.post(
        "/api/v1/accounts",
        json={
            "username": "kim.sw",
            "display_name": "김복지",
            "password": "a long and unusual passphrase",
            "role": "social_worker",
            "municipality_id": world.a.municipality.id,
        },
        headers=admin,
    )
    assert created.status_code == 201, created.json
    account_id = created.json["id"]
    changed = client.patch(
        f"/api/v1/accounts/{account_id}", json={"role": "auditor"}, headers=admin
    )
    assert changed.status_code == 200 and changed.json["role"] == "auditor"
    assert (
        client.patch(
            f"/api/v1/accounts/{account_id}", json={"is_active": False}, headers=admin
        ).status_code
        == 200
    )
    events = client.get(f"/api/v1/accounts/{account_id}/permission-events", headers=admin).json
    assert [e["action"] for e in events["items"]] == ["grant", "change", "disable"]
    assert events["items"][1]["old_role"] == "social_worker"
    assert events["items"][1]["new_role"] == "auditor"
    assert all(e["actor_id"] == world.admin.id for e in events["items"])
    stored = db.session.get(Account, account_id).password_hash
    assert stored.startswith("$argon2id$")


def test_an_account_is_bound_only_to_a_tenant_that_exists(client, world):
    admin = world.admin_headers()
    base = {"display_name": "x", "password": "a long and unusual passphrase"}
    bindings = (
        ("social_worker", "municipality_id", world.a.municipality.id),
        ("dispatcher", "office_id", world.a.office.id),
    )
    for number, (role, field, existing) in enumerate(bindings):
        missing = client.post(
            "/api/v1/accounts",
            json=base | {"username": f"nobody.{number}", "role": role, field: 999_999},
            headers=admin,
        )
        assert missing.status_code == 422
        assert list(missing.json["error"]["fields"]) == [field]
        bound = client.post(
            "/api/v1/accounts",
            json=base | {"username": f"somebody.{number}", "role": role, field: existing},
            headers=admin,
        )
        assert bound.status_code == 201 and bound.json[field] == existing


def test_municipal_admin_cannot_grant_post_roles_or_other_municipalities(client, world):
    admin = world.a.headers(Role.MUNICIPAL_ADMIN)
    base = {"display_name": "x", "password": "a long and unusual passphrase"}
    post_role = client.post(
        "/api/v1/accounts",
        json=base | {"username": "disp.x", "role": "dispatcher", "office_id": world.a.office.id},
        headers=admin,
    )
    assert post_role.status_code == 403
    other = client.post(
        "/api/v1/accounts",
        json=base
        | {"username": "sw.x", "role": "social_worker", "municipality_id": world.b.municipality.id},
        headers=admin,
    )
    assert other.status_code == 403
    foreign = world.b.accounts[Role.SOCIAL_WORKER]
    assert client.get(f"/api/v1/accounts/{foreign.id}", headers=admin).status_code == 404


def test_password_change_ends_other_tokens(client, world):
    account = world.a.accounts[Role.AUDITOR]
    old_token = world.a.tokens[Role.AUDITOR]
    weak = client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=auth(old_token),
    )
    assert weak.status_code == 422 and list(weak.json["error"]["fields"]) == ["new_password"]
    response = client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "another long passphrase 2026"},
        headers=auth(old_token),
    )
    assert response.status_code == 204
    assert client.get("/api/v1/auth/me", headers=auth(old_token)).status_code == 401
    assert login(client, account.username, "another long passphrase 2026").status_code == 201


def test_an_admin_unlocks_an_account_and_it_signs_in_at_once(client, world, app):
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    admin = world.a.accounts[Role.MUNICIPAL_ADMIN]
    lock_out(client, app, worker)
    assert login(client, worker.username).status_code == 401
    path = f"/api/v1/accounts/{worker.id}"
    headers = world.a.headers(Role.MUNICIPAL_ADMIN)
    assert client.get(path, headers=headers).json["locked_until"] is not None

    unlocked = client.post(f"{path}/unlock", headers=headers)
    assert unlocked.status_code == 200 and unlocked.json["locked_until"] is None
    db.session.refresh(worker)
    assert (worker.locked_until, worker.failed_logins) == (None, 0)
    assert login(client, worker.username).status_code == 201
    events = client.get(f"{path}/permission-events", headers=headers).json["items"]
    assert [(e["action"], e["actor_id"]) for e in events] == [("unlock", admin.id)]
    # Lifting a lock that is not there changes nobody's access: nothing more is recorded.
    assert client.post(f"{path}/unlock", headers=headers).status_code == 200
    assert actions_of(worker.id) == ["unlock"]


def test_an_unlock_clears_the_failures_counted_so_far(client, world, app):
    dispatcher = world.a.accounts[Role.DISPATCHER]
    login(client, dispatcher.username, "not the password!")
    path = f"/api/v1/accounts/{dispatcher.id}/unlock"
    assert client.post(path, headers=world.admin_headers()).status_code == 200
    db.session.refresh(dispatcher)
    assert dispatcher.failed_logins == 0
    # A full series of failures is needed again before the next lock.
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        login(client, dispatcher.username, "not the password!")
    assert login(client, dispatcher.username).status_code == 201


def test_an_admin_sets_a_new_password_and_every_session_ends(app, client, world):
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    token = world.a.tokens[Role.SOCIAL_WORKER]
    browser = app.test_client()
    csrf = _csrf(browser.get("/login").text)
    form = {"username": worker.username, "password": PASSWORD, "csrf_token": csrf}
    assert browser.post("/login", data=form).status_code == 302
    assert browser.get("/").status_code == 200

    reset = client.post(
        f"/api/v1/accounts/{worker.id}/password",
        json={"password": NEW_PASSWORD},
        headers=world.a.headers(Role.MUNICIPAL_ADMIN),
    )
    assert reset.status_code == 204, reset.json
    assert client.get("/api/v1/auth/me", headers=auth(token)).status_code == 401
    assert browser.get("/").status_code == 302
    assert login(client, worker.username).status_code == 401
    assert login(client, worker.username, NEW_PASSWORD).status_code == 201
    assert actions_of(worker.id) == ["reset_password"]
    db.session.refresh(worker)
    assert worker.password_hash.startswith("$argon2id$") and worker.is_active


def test_a_password_reset_forces_nothing_else(client, world, app):
    dispatcher = world.a.accounts[Role.DISPATCHER]
    lock_out(client, app, dispatcher)
    path = f"/api/v1/accounts/{dispatcher.id}/password"
    body = {"password": NEW_PASSWORD}
    assert client.post(path, json=body, headers=world.admin_headers()).status_code == 204
    # The lock is lifted only by its own, separately recorded action.
    assert login(client, dispatcher.username, NEW_PASSWORD).status_code == 401
    assert actions_of(dispatcher.id) == ["reset_password"]


def test_unlock_and_password_reset_keep_to_the_admin_s_scope(client, world):
    body = {"password": NEW_PASSWORD}
    municipal = world.a.headers(Role.MUNICIPAL_ADMIN)
    out_of_scope = (
        world.b.accounts[Role.SOCIAL_WORKER],
        world.b.accounts[Role.MUNICIPAL_ADMIN],
        world.a.accounts[Role.DISPATCHER],
        world.admin,
    )
    for account in out_of_scope:
        path = f"/api/v1/accounts/{account.id}"
        assert client.post(f"{path}/unlock", headers=municipal).status_code == 404
        assert client.post(f"{path}/password", json=body, headers=municipal).status_code == 404
    target = world.a.accounts[Role.SOCIAL_WORKER]
    path = f"/api/v1/accounts/{target.id}"
    # Refused: 404 where the account is out of the role's sight (as for every id route), else 403.
    for role in (Role.AUDITOR, Role.SOCIAL_WORKER, Role.DISPATCHER, Role.CARRIER):
        headers = world.a.headers(role)
        assert client.post(f"{path}/unlock", headers=headers).status_code in (403, 404), role
        reset = client.post(f"{path}/password", json=body, headers=headers)
        assert reset.status_code in (403, 404), role
    for account in (target, *out_of_scope):
        assert actions_of(account.id) == []
    assert login(client, target.username).status_code == 201


def test_an_admin_may_not_reset_their_own_password(client, world):
    body = {"password": NEW_PASSWORD}
    for admin, headers in (
        (world.admin, world.admin_headers()),
        (world.a.accounts[Role.MUNICIPAL_ADMIN], world.a.headers(Role.MUNICIPAL_ADMIN)),
    ):
        refused = client.post(f"/api/v1/accounts/{admin.id}/password", json=body, headers=headers)
        assert refused.status_code == 403
        assert "현재 비밀번호" in refused.json["error"]["message"]
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
        assert login(client, admin.username).status_code == 201
        assert actions_of(admin.id) == []


def test_a_weak_or_missing_new_password_is_refused_at_its_field(client, world):
    target = world.a.accounts[Role.AUDITOR]
    path = f"/api/v1/accounts/{target.id}/password"
    headers = world.admin_headers()
    for body, message in (
        ({"password": "short1!"}, "12자 이상"),
        ({"password": "password1234"}, "너무 흔한 비밀번호"),
        ({"password": f"my-{target.username}-again"}, "아이디를 넣을 수 없습니다"),
        ({"password": ""}, "12자 이상"),
        ({}, "Missing data"),
    ):
        refused = client.post(path, json=body, headers=headers)
        assert refused.status_code == 422, body
        assert message in " ".join(refused.json["error"]["fields"]["password"]), body
    forged = client.post(path, json={"password": NEW_PASSWORD, "unlock": True}, headers=headers)
    assert forged.status_code == 422 and "unlock" in forged.json["error"]["fields"]
    assert client.get("/api/v1/auth/me", headers=world.a.headers(Role.AUDITOR)).status_code == 200
    assert login(client, target.username).status_code == 201
    assert actions_of(target.id) == []


def test_errors_have_one_shape(client, world):
    admin = world.admin_headers()
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and set(missing.json["error"]) == {
        "code",
        "message",
        "fields",
    }
    wrong_method = client.put("/api/v1/auth/me", headers=admin)
    assert wrong_method.status_code == 405
    assert "GET" in wrong_method.headers["Allow"]
    assert wrong_method.json["error"]["code"] == "method_not_allowed"
    unknown_field = (
        login(client, "x")
        if False
        else client.post(
            "/api/v1/auth/token", json={"username": "a", "password": "b", "admin": True}
        )
    )
    assert unknown_field.status_code == 422
    assert "admin" in unknown_field.json["error"]["fields"]
    not_strict = client.patch(
        f"/api/v1/accounts/{world.admin.id}", json={"municipality_id": "1"}, headers=admin
    )
    assert not_strict.status_code == 422
    assert "municipality_id" in not_strict.json["error"]["fields"]


def test_api_responses_are_not_cached(client, world):
    response = client.get("/api/v1/auth/me", headers=world.admin_headers())
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_staff_login_page_with_csrf_and_idle_timeout(client, world):
    account = world.a.accounts[Role.SOCIAL_WORKER]
    page = client.get("/login")
    assert page.status_code == 200 and "로그인" in page.text
    no_csrf = client.post("/login", data={"username": account.username, "password": PASSWORD})
    assert no_csrf.status_code == 400
    token = _csrf(client.get("/login").text)
    signed_in = client.post(
        "/login", data={"username": account.username, "password": PASSWORD, "csrf_token": token}
    )
    assert signed_in.status_code == 302
    assert account.username in client.get("/").text
    idle_out()
    expired = client.get("/")
    assert expired.status_code == 302 and expired.headers["Location"].endswith("/login")


def test_the_login_page_locks_an_account_out_as_the_api_does(app, client, world):
    account = make_account(Role.SOCIAL_WORKER, municipality_id=world.a.municipality.id)
    db.session.commit()

    def page_login(password: str):
        token = _csrf(client.get("/login").text)
        form = {"username": account.username, "password": password, "csrf_token": token}
        return client.post("/login", data=form)

    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        failed = page_login("not the password!")
        assert failed.status_code == 401 and "아이디 또는 비밀번호" in failed.text
    locked = page_login(PASSWORD)
    # The same words as a wrong password: the page does not tell whether an account exists.
    assert locked.status_code == 401 and "아이디 또는 비밀번호" in locked.text
    assert client.get("/").status_code == 302
    db.session.refresh(account)
    assert account.locked_until is not None and account.locked_until > utcnow()


def test_disabling_an_account_ends_its_page_session(client, world):
    account = make_account(Role.SOCIAL_WORKER, municipality_id=world.a.municipality.id)
    db.session.commit()
    token = _csrf(client.get("/login").text)
    client.post(
        "/login", data={"username": account.username, "password": PASSWORD, "csrf_token": token}
    )
    assert client.get("/").status_code == 200
    client.patch(
        f"/api/v1/accounts/{account.id}",
        json={"is_active": False},
        headers=world.a.headers(Role.MUNICIPAL_ADMIN),
    )
    assert client.get("/").status_code == 302


def test_cli_creates_an_account_with_a_checked_work_email(runner, world):
    base = ["accounts", "create", "--name", "김담당", "--role", "social_worker"]
    base += ["--municipality-id", str(world.a.municipality.id), "--password", PASSWORD]
    bad = runner.invoke(args=[*base, "--username", "cli.sw0", "--email", "kim@"])
    assert bad.exit_code != 0 and "--email" in bad.output
    good = runner.invoke(args=[*base, "--username", "cli.sw1", "--email", "Kim@City.GO.kr"])
    assert good.exit_code == 0, good.output
    account = db.session.scalar(sa.select(Account).where(Account.username == "cli.sw1"))
    assert account.email == "Kim@city.go.kr"
    assert db.session.scalar(sa.select(Account).where(Account.username == "cli.sw0")) is None
    # The command line acts without an account: its grant names no actor.
    grant = db.session.scalar(
        sa.select(PermissionEvent).where(PermissionEvent.account_id == account.id)
    )
    assert (grant.action, grant.actor_id) == ("grant", None)
