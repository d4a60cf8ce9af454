"""The admins' account pages through the Flask test client: list, add, edit, sign out
everywhere, the permission history, and every refusal."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.auth.models import Account, PermissionEvent
from core.auth.roles import Role
from core.db import db, utcnow
from tests.support.desk import HTML, assert_pages_refused, csrf_of, page_routes, post_form, sign_in
from tests.support.factories import PASSWORD, World, auth, make_account

NEW = {
    "username": "kim.bokji",
    "display_name": "김복지",
    "password": "four quiet lanterns drifting",
    "email": "kim.bokji@example.go.kr",
}


def fresh(account_id: int) -> Account:
    db.session.expire_all()
    return db.session.get(Account, account_id)


def made(username: str) -> Account | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(Account).where(Account.username == username))


def events(account_id: int) -> list[str]:
    """The account's permission events' actions, oldest first."""
    db.session.expire_all()
    query = sa.select(PermissionEvent.action).where(PermissionEvent.account_id == account_id)
    return list(db.session.scalars(query.order_by(PermissionEvent.id)))


def municipal_admin(world: World, tenant: str = "a") -> Account:
    return getattr(world, tenant).accounts[Role.MUNICIPAL_ADMIN]


def edit_form(account: Account, **changes) -> dict:
    """The edit form as the page fills it in for another account, with `changes`."""
    form = {
        "display_name": account.display_name,
        "email": account.email or "",
        "role": account.role,
        "municipality_id": str(account.municipality_id or ""),
        "office_id": str(account.office_id or ""),
        "state": "active" if account.is_active else "disabled",
    }
    return form | changes


def edit(client, account: Account, **changes):
    """Post the account page's edit form with `changes`."""
    page = f"/admin/accounts/{account.id}"
    return post_form(client, page, f"{page}/edit", edit_form(account, **changes))


def press(client, account: Account, action: str, form: dict | None = None):
    """Post one of the account page's forms: `action` is the path after the account's."""
    page = f"/admin/accounts/{account.id}"
    return post_form(client, page, f"{page}/{action}", form or {})


def sign_out_everywhere(client, account: Account):
    """Press the account page's sign-out-everywhere button."""
    return press(client, account, "revoke-sessions")


def lock(account: Account) -> None:
    """Lock the account as repeated failed sign-ins do."""
    account.locked_until = utcnow() + timedelta(minutes=10)
    db.session.commit()


def api_login(client, account: Account, password: str = PASSWORD) -> int:
    """The status of a sign-in through the API."""
    body = {"username": account.username, "password": password}
    return client.post("/api/v1/auth/token", json=body).status_code


def rows(html: str) -> str:
    return html.split("<tbody>")[1].split("</tbody>")[0]


def test_a_system_admin_lists_every_account_and_filters_them(client, world):
    sign_in(client, world.admin)
    page = client.get("/admin/accounts/")
    assert page.status_code == 200
    listed = rows(page.text)
    for account in (world.admin, *world.a.accounts.values(), *world.b.accounts.values()):
        assert f">{account.username}</a>" in listed
    assert world.a.municipality.name in listed and world.b.office.name in listed

    social = rows(client.get("/admin/accounts/?role=social_worker").text)
    assert social.count("<tr>") == 2 and world.a.accounts[Role.SOCIAL_WORKER].username in social
    theirs = client.get(f"/admin/accounts/?municipality_id={world.b.municipality.id}").text
    assert rows(theirs).count("<tr>") == 3  # b's municipal admin, social worker and auditor
    assert municipal_admin(world, "b").username in theirs
    office = client.get(f"/admin/accounts/?office_id={world.a.office.id}&role=carrier").text
    assert rows(office).count("<tr>") == 1
    none = client.get("/admin/accounts/?role=carrier&municipality_id=1").text
    assert "조건에 맞는 계정이 없습니다." in none


def test_a_long_list_is_paged_and_the_pages_keep_the_filter(client, world):
    municipality = world.a.municipality.id
    made_here = [make_account(Role.SOCIAL_WORKER, municipality_id=municipality) for _ in range(55)]
    sign_in(client, world.admin)
    first = client.get(f"/admin/accounts/?role=social_worker&municipality_id={municipality}")
    link = re.search(r'<a href="([^"]+)">다음</a>', first.text).group(1).replace("&amp;", "&")
    assert "role=social_worker" in link and f"municipality_id={municipality}" in link
    second = client.get(link)
    assert "1 / 2" in first.text and "2 / 2" in second.text and ">이전</a>" in second.text
    listed = rows(first.text) + rows(second.text)
    assert all(f">{account.username}</a>" in listed for account in made_here)
    assert f">{world.b.accounts[Role.SOCIAL_WORKER].username}</a>" not in listed


def test_a_municipal_admin_lists_only_their_municipality_s_staff(client, world):
    sign_in(client, municipal_admin(world))
    html = client.get("/admin/accounts/").text
    listed = rows(html)
    assert listed.count("<tr>") == 3
    for role in (Role.MUNICIPAL_ADMIN, Role.SOCIAL_WORKER, Role.AUDITOR):
        assert world.a.accounts[role].username in listed
    for account in (world.admin, world.a.accounts[Role.DISPATCHER], municipal_admin(world, "b")):
        assert account.username not in html
    assert 'id="office_id"' not in html and 'id="municipality_id"' not in html


def test_the_list_shows_state_email_and_last_login(client, world):
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    auditor = world.a.accounts[Role.AUDITOR]
    worker.email = "worker@example.go.kr"
    auditor.locked_until = utcnow() + timedelta(minutes=10)
    municipal_admin(world).is_active = False
    db.session.commit()
    sign_in(client, world.admin)
    sign_in(client, worker)  # stores the worker's last login
    sign_in(client, world.admin)
    listed = rows(client.get(f"/admin/accounts/?municipality_id={world.a.municipality.id}").text)
    by_name = {row.split("</a>")[0].rsplit(">", 1)[1]: row for row in listed.split("<tr>")[1:]}
    assert "worker@example.go.kr" in by_name[worker.username]
    assert "사용 중" in by_name[worker.username]
    assert str(utcnow().year) in by_name[worker.username].split("<td>")[-1]
    assert "잠김" in by_name[auditor.username]
    assert "사용 중지" in by_name[municipal_admin(world).username]


def test_bad_filters_are_named_and_odd_pages_never_fail(client, world):
    sign_in(client, world.admin)
    bad = client.get("/admin/accounts/?role=king&office_id=abc")
    assert bad.status_code == 422
    assert 'id="role-error"' in bad.text and 'id="office_id-error"' in bad.text
    for query in ("page=abc", "page=-1", "page=99999999999", "role=%00"):
        assert client.get(f"/admin/accounts/?{query}").status_code in (200, 422), query


def test_a_system_admin_adds_an_office_account_bound_to_its_office_only(client, world):
    sign_in(client, world.admin)
    form = NEW | {
        "role": "dispatcher",
        "office_id": str(world.b.office.id),
        # The page shows both tenant fields without script; only the one that fits is taken.
        "municipality_id": str(world.a.municipality.id),
    }
    added = post_form(client, "/admin/accounts/new", "/admin/accounts/new", form)
    assert added.status_code == 302, added.text
    account = made(NEW["username"])
    assert (account.role, account.office_id, account.municipality_id) == (
        "dispatcher",
        world.b.office.id,
        None,
    )
    assert account.email == NEW["email"] and account.display_name == NEW["display_name"]
    assert added.headers["Location"] == f"/admin/accounts/{account.id}"
    page = client.get(added.headers["Location"]).text
    assert "계정을 만들었습니다." in page and world.b.office.name in page
    assert events(account.id) == ["grant"]
    login = {key: NEW[key] for key in ("username", "password")}
    assert client.post("/api/v1/auth/token", json=login).status_code == 201


def test_a_system_admin_may_add_a_system_admin_without_a_tenant(client, world):
    sign_in(client, world.admin)
    form = NEW | {"role": "system_admin", "municipality_id": str(world.a.municipality.id)}
    assert post_form(client, "/admin/accounts/new", "/admin/accounts/new", form).status_code == 302
    account = made(NEW["username"])
    assert account.role == "system_admin" and account.municipality_id is None


def test_a_municipal_admin_adds_staff_of_their_own_municipality_only(client, world):
    admin = municipal_admin(world)
    sign_in(client, admin)
    page = client.get("/admin/accounts/new").text
    for role in ("municipal_admin", "social_worker", "auditor"):
        assert f'value="{role}"' in page
    for role in ("system_admin", "dispatcher", "carrier"):
        assert f'value="{role}"' not in page
    assert world.b.municipality.name not in page and 'id="office_id"' not in page

    form = NEW | {"role": "social_worker", "municipality_id": str(world.a.municipality.id)}
    assert post_form(client, "/admin/accounts/new", "/admin/accounts/new", form).status_code == 302
    assert made(NEW["username"]).municipality_id == world.a.municipality.id

    # What the page does not offer is refused by the service: nothing is created.
    for forged in (
        {"role": "dispatcher", "office_id": str(world.a.office.id)},
        {"role": "system_admin"},
        {"role": "social_worker", "municipality_id": str(world.b.municipality.id)},
    ):
        form = NEW | {"username": "forged.one"} | forged
        refused = post_form(client, "/admin/accounts/new", "/admin/accounts/new", form)
        assert refused.status_code == 403, forged
        assert made("forged.one") is None


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"username": ""}, "username", "필수 항목입니다"),
        ({"username": "Kim Bokji"}, "username", "영문 소문자"),
        ({"display_name": ""}, "display_name", "필수 항목입니다"),
        ({"display_name": "가" * 101}, "display_name", "1~100자"),
        ({"email": "not-an-address"}, "email", "올바른 이메일 주소가 아닙니다"),
        ({"role": ""}, "role", "필수 항목입니다"),
        ({"role": "king"}, "role", "고를 수 있는 값이 아닙니다"),
        ({"municipality_id": ""}, "municipality_id", "지자체가 필요합니다"),
        ({"municipality_id": "999999"}, "municipality_id", "존재하지 않습니다"),
        ({"municipality_id": "abc"}, "municipality_id", "숫자가 아닙니다"),
        ({"password": ""}, "password", "필수 항목입니다"),
        ({"password": "short"}, "password", "12자 이상"),
        ({"password": "password1234"}, "password", "너무 흔한 비밀번호"),
        ({"password": "kim.bokji-is-my-name"}, "password", "아이디를 넣을 수 없습니다"),
        ({"display_name": "김\x00복지"}, "display_name", "NUL"),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_nothing_is_created(
    client, world, form, field, message
):
    sign_in(client, world.admin)
    base = NEW | {"role": "social_worker", "municipality_id": str(world.a.municipality.id)}
    refused = post_form(client, "/admin/accounts/new", "/admin/accounts/new", base | form)
    assert refused.status_code == 422, refused.text
    assert f'id="{field}-error"' in refused.text
    assert message in refused.text.split(f'id="{field}-error"')[1].split("</p>")[0]
    assert made(NEW["username"]) is None
    # The form comes back filled in, but never with the password.
    assert base["password"] not in refused.text
    if field != "display_name":
        assert f'value="{NEW["display_name"]}"' in refused.text


def test_a_taken_username_is_refused_at_its_field(client, world):
    sign_in(client, world.admin)
    taken = world.a.accounts[Role.SOCIAL_WORKER].username
    tenant = str(world.a.municipality.id)
    form = NEW | {"username": taken, "role": "auditor", "municipality_id": tenant}
    refused = post_form(client, "/admin/accounts/new", "/admin/accounts/new", form)
    assert refused.status_code == 409 and 'id="username-error"' in refused.text
    assert "이미 있는 아이디입니다" in refused.text


def test_an_account_is_edited_and_a_role_change_ends_its_sessions(client, world):
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    token = world.a.tokens[Role.SOCIAL_WORKER]
    sign_in(client, municipal_admin(world))
    renamed = edit(client, worker, display_name="이름 바꿈", email="new@example.go.kr")
    assert renamed.status_code == 302
    changed = fresh(worker.id)
    assert (changed.display_name, changed.email) == ("이름 바꿈", "new@example.go.kr")
    assert events(worker.id) == []  # a name or an e-mail is no change of access
    assert client.get("/api/v1/auth/me", headers=auth(token)).status_code == 200
    assert "계정을 저장했습니다." in client.get(renamed.headers["Location"]).text

    assert edit(client, changed, email="", role="auditor").status_code == 302
    changed = fresh(worker.id)
    assert changed.email is None and changed.role == "auditor"
    assert events(worker.id) == ["change"]
    assert client.get("/api/v1/auth/me", headers=auth(token)).status_code == 401


def test_a_system_admin_moves_an_account_to_an_office_role(client, world):
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    sign_in(client, world.admin)
    missing = edit(client, worker, role="carrier")
    assert missing.status_code == 422 and 'id="office_id-error"' in missing.text
    assert fresh(worker.id).role == "social_worker"
    assert edit(client, worker, role="carrier", office_id=str(world.b.office.id)).status_code == 302
    moved = fresh(worker.id)
    assert (moved.role, moved.office_id) == ("carrier", world.b.office.id)
    assert moved.municipality_id is None


def test_an_account_is_disabled_and_enabled_again(client, world):
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    sign_in(client, municipal_admin(world))
    assert edit(client, worker, state="disabled").status_code == 302
    assert fresh(worker.id).is_active is False
    page = client.get(f"/admin/accounts/{worker.id}").text
    assert 'id="account-state"><span class="badge status">사용 중지' in page
    assert edit(client, worker, state="active").status_code == 302
    assert fresh(worker.id).is_active is True
    assert events(worker.id) == ["disable", "enable"]
    bad = edit(client, worker, state="sleeping")
    assert bad.status_code == 422 and 'id="state-error"' in bad.text


def test_an_admin_edits_their_own_name_but_not_their_own_role_or_state(client, world):
    admin = municipal_admin(world)
    sign_in(client, admin)
    page = f"/admin/accounts/{admin.id}"
    html = client.get(page).text
    assert 'name="role"' not in html and 'name="state"' not in html
    assert post_form(client, page, f"{page}/edit", {"display_name": "새 이름"}).status_code == 302
    assert fresh(admin.id).display_name == "새 이름"
    for forged in ({"role": "auditor"}, {"state": "disabled"}):
        refused = post_form(client, page, f"{page}/edit", {"display_name": "또 바꿈"} | forged)
        assert refused.status_code == 403, forged
    unchanged = fresh(admin.id)
    assert (unchanged.display_name, unchanged.role, unchanged.is_active) == (
        "새 이름",
        "municipal_admin",
        True,
    )


def test_sign_out_everywhere_ends_every_session_and_token(client, world):
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    token = world.a.tokens[Role.SOCIAL_WORKER]
    sign_in(client, municipal_admin(world))
    done = sign_out_everywhere(client, worker)
    assert done.status_code == 302 and done.headers["Location"] == f"/admin/accounts/{worker.id}"
    assert "모든 기기에서 로그아웃시켰습니다." in client.get(done.headers["Location"]).text
    assert client.get("/api/v1/auth/me", headers=auth(token)).status_code == 401
    assert events(worker.id) == ["revoke_tokens"]


def test_a_locked_account_is_unlocked_from_its_page_and_signs_in_at_once(client, world):
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    sign_in(client, municipal_admin(world))
    page = f"/admin/accounts/{worker.id}"
    assert f'action="{page}/unlock"' not in client.get(page).text
    lock(worker)
    assert api_login(client, worker) == 401
    locked = client.get(page).text
    assert f'action="{page}/unlock"' in locked and "잠금 해제</button>" in locked

    done = press(client, worker, "unlock")
    assert done.status_code == 302 and done.headers["Location"] == page
    after = client.get(page).text
    assert "잠금을 풀었습니다." in after and f'action="{page}/unlock"' not in after
    assert fresh(worker.id).locked_until is None
    assert events(worker.id) == ["unlock"]
    assert api_login(client, worker) == 201


def test_a_new_password_is_set_from_the_account_page_and_ends_every_session(client, world):
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    token = world.a.tokens[Role.SOCIAL_WORKER]
    sign_in(client, municipal_admin(world))
    done = press(client, worker, "password", {"password": NEW["password"]})
    assert done.status_code == 302 and done.headers["Location"] == f"/admin/accounts/{worker.id}"
    assert "새 비밀번호를 설정했습니다." in client.get(done.headers["Location"]).text
    assert client.get("/api/v1/auth/me", headers=auth(token)).status_code == 401
    assert api_login(client, worker) == 401
    assert api_login(client, worker, NEW["password"]) == 201
    assert events(worker.id) == ["reset_password"]


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "필수 항목입니다"),
        ("short", "12자 이상"),
        ("password1234", "너무 흔한 비밀번호"),
        ("{username}-is-me-again", "아이디를 넣을 수 없습니다"),
    ],
)
def test_a_weak_new_password_is_shown_at_its_field_and_nothing_changes(
    client, world, password, message
):
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    password = password.format(username=worker.username)
    sign_in(client, world.admin)
    refused = press(client, worker, "password", {"password": password})
    assert refused.status_code == 422, refused.text
    field = refused.text.split('id="password"')[1].split("</form>")[0]
    assert 'aria-describedby="password-error"' in field
    assert message in field.split('id="password-error"')[1].split("</p>")[0]
    # The page comes back without the password typed into it.
    assert not password or password not in refused.text
    assert api_login(client, worker) == 201
    assert events(worker.id) == []


def test_an_admin_sets_no_new_password_for_themselves_here(client, world):
    admin = municipal_admin(world)
    sign_in(client, admin)
    page = f"/admin/accounts/{admin.id}"
    assert f'action="{page}/password"' not in client.get(page).text
    token = csrf_of(client.get(page).text)
    forged = client.post(
        f"{page}/password", data={"password": NEW["password"], "csrf_token": token}, headers=HTML
    )
    assert forged.status_code == 403 and "현재 비밀번호" in forged.text
    assert api_login(client, admin) == 201
    assert events(admin.id) == []


def test_the_permission_history_is_newest_first_and_names_only_visible_actors(client, world):
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    admin = municipal_admin(world)
    sign_in(client, world.admin)
    assert edit(client, worker, role="auditor").status_code == 302
    sign_in(client, admin)
    assert sign_out_everywhere(client, worker).status_code == 302

    history = client.get(f"/admin/accounts/{worker.id}/history")
    assert history.status_code == 200
    listed = rows(history.text).split("<tr>")[1:]
    assert len(listed) == 2
    assert "모든 기기에서 로그아웃" in listed[0] and admin.username in listed[0]
    assert "역할·소속 변경" in listed[1]
    assert "사회복지 담당자 · " + world.a.municipality.name in listed[1]
    assert "감사 (읽기 전용) · " + world.a.municipality.name in listed[1]
    # The municipal admin may not see the system admin's account: only its number is shown.
    assert world.admin.username not in history.text and f"#{world.admin.id}" in listed[1]

    sign_in(client, world.admin)
    named = rows(client.get(f"/admin/accounts/{worker.id}/history").text)
    assert f'/admin/accounts/{world.admin.id}">{world.admin.username}</a>' in named
    empty = client.get(f"/admin/accounts/{world.a.accounts[Role.CARRIER].id}/history").text
    assert "기록이 없습니다." in empty


def test_another_tenant_s_account_is_not_found(client, world):
    sign_in(client, municipal_admin(world))
    token = csrf_of(client.get("/admin/accounts/").text)
    for account in (
        municipal_admin(world, "b"),
        world.b.accounts[Role.SOCIAL_WORKER],
        world.a.accounts[Role.DISPATCHER],
        world.admin,
    ):
        for method, path in (
            ("GET", f"/admin/accounts/{account.id}"),
            ("GET", f"/admin/accounts/{account.id}/history"),
            ("POST", f"/admin/accounts/{account.id}/edit"),
            ("POST", f"/admin/accounts/{account.id}/revoke-sessions"),
            ("POST", f"/admin/accounts/{account.id}/unlock"),
            ("POST", f"/admin/accounts/{account.id}/password"),
        ):
            form = {"csrf_token": token, "password": NEW["password"]}
            form |= edit_form(account, display_name="남의 계정")
            response = client.open(path, method=method, data=form, headers=HTML)
            assert response.status_code == 404, (account.username, path)
            assert account.username not in response.text
        assert fresh(account.id).display_name != "남의 계정"
        assert events(account.id) == []
    for path in ("/admin/accounts/abc", "/admin/accounts/99999999999", "/admin/accounts/0"):
        assert client.get(path, headers=HTML).status_code == 404, path


def test_the_account_pages_are_for_admins_only(app, client, world):
    routes = page_routes(app, "account_pages")
    assert len(routes) == 9
    outsiders = [
        world.a.accounts[role]
        for role in (Role.SOCIAL_WORKER, Role.AUDITOR, Role.DISPATCHER, Role.CARRIER)
    ]
    assert_pages_refused(client, routes, outsiders, ("계정 관리",))
    for admin in (world.admin, municipal_admin(world)):
        sign_in(client, admin)
        assert 'href="/admin/accounts/"' in client.get("/").text


def test_a_post_without_the_csrf_token_is_refused(client, world):
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    sign_in(client, world.admin)
    response = client.post(
        f"/admin/accounts/{worker.id}/edit", data=edit_form(worker, state="disabled"), headers=HTML
    )
    assert response.status_code == 400 and "보안 토큰" in response.text
    assert fresh(worker.id).is_active is True


def test_the_account_pages_have_their_english(client, world):
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    sign_in(client, world.admin)
    client.get("/language/en?next=/admin/accounts/")
    listed = client.get("/admin/accounts/").text
    assert "Accounts" in listed and "Last sign-in" in listed and "마지막 로그인" not in listed
    new = client.get("/admin/accounts/new").text
    assert "Initial password" in new and "Create" in new
    page = client.get(f"/admin/accounts/{worker.id}").text
    assert "Sign out everywhere" in page and "Social worker" in page
    assert "Set a new password" in page and "New password" in page and "Unlock" not in page
    weak = press(client, worker, "password", {"password": "short"})
    assert "Passwords need at least 12 characters" in weak.text.split('id="password-error"')[1]
    lock(worker)
    assert "Unlock</button>" in client.get(f"/admin/accounts/{worker.id}").text
    press(client, worker, "unlock")
    press(client, worker, "password", {"password": NEW["password"]})
    sign_out_everywhere(client, worker)
    history = client.get(f"/admin/accounts/{worker.id}/history").text
    assert "Permission history" in history and "권한 기록" not in history
    listed = rows(history)
    assert "Password reset by an administrator" in listed and "Unlock" in listed
