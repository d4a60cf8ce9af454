"""The municipal webhooks page through the Flask test client: register, pause, deliveries."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.auth.roles import Role
from core.db import db
from core.outbox import OutboxMessage, deliver_due
from municipalities.mail.models import WebhookEndpoint
from tests.municipalities.mail.test_mail import TEMPLATE, add_household, next_working
from tests.support.desk import HTML, assert_pages_refused, csrf_of, page_routes, post_form, sign_in
from tests.support.fakes.receiver import WebhookReceiver

PAGE = "/admin/webhooks/"
SECRET = "a-long-shared-secret-1234"


@pytest.fixture
def admin(client, world):
    """Tenant a's municipal admin, signed in."""
    account = world.a.accounts[Role.MUNICIPAL_ADMIN]
    sign_in(client, account)
    return account


def endpoints() -> list[WebhookEndpoint]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def register(client, url: str, secret: str = SECRET):
    return post_form(client, PAGE, PAGE, {"url": url, "secret": secret})


@pytest.mark.parametrize(
    ("url", "secret", "field", "message"),
    [
        ("ftp://example.org/hook", SECRET, "url", "HTTPS 주소여야 합니다"),
        ("http://example.org/hook", SECRET, "url", "HTTPS 주소여야 합니다"),
        ("https://me:pw@example.org/hook", SECRET, "url", "계정 정보"),
        ("https:/", SECRET, "url", "8~500자"),
        ("https://example.org/hook", "too-short", "secret", "16~200자"),
        ("https://example.org/hook", "", "secret", "필수 항목입니다"),
    ],
)
def test_a_refused_endpoint_names_its_field_and_never_echoes_the_secret(
    client, admin, url, secret, field, message
):
    refused = register(client, url, secret)
    assert refused.status_code == 422
    assert message in refused.text.split(f'id="{field}-error"')[1].split("</p>")[0]
    assert endpoints() == []
    if secret:
        assert secret not in refused.text


def test_an_admin_registers_pauses_and_resumes_an_endpoint(client, admin):
    url = "https://hooks.example.org/welfare"
    saved = register(client, url)
    assert saved.status_code == 302 and saved.headers["Location"] == PAGE
    [endpoint] = endpoints()
    assert (endpoint.url, endpoint.secret, endpoint.is_active) == (url, SECRET, True)
    listed = client.get(PAGE).text
    assert url in listed and "사용 중" in listed and "웹훅 주소를 등록했습니다." in listed
    assert SECRET not in listed

    action = f"{PAGE}{endpoint.id}/active"
    assert post_form(client, PAGE, action, {"is_active": "false"}).status_code == 302
    assert endpoints()[0].is_active is False
    assert "멈춤" in client.get(f"{PAGE}{endpoint.id}").text
    assert post_form(client, PAGE, action, {"is_active": "true"}).status_code == 302
    assert endpoints()[0].is_active is True
    missing = post_form(client, PAGE, action, {})
    assert missing.status_code == 422 and 'id="is_active-error"' in missing.text


def test_the_endpoint_page_shows_its_recent_deliveries(client, world, admin):
    with WebhookReceiver(fail_first=1) as receiver:
        assert register(client, receiver.url).status_code == 302
        [endpoint] = endpoints()
        worker = world.a.headers(Role.SOCIAL_WORKER)
        template = client.post("/api/v1/letter-templates", json=TEMPLATE, headers=worker).json
        household = add_household(client, world.a, "김순자")
        body = {
            "title": "t",
            "template_id": template["id"],
            "selection": {"household_ids": [household]},
            "send_date": next_working(),
        }
        mailing = client.post("/api/v1/mailings", json=body, headers=worker).json
        client.post(f"/api/v1/mailings/{mailing['id']}/submit", headers=worker)
        now = db.session.scalar(sa.select(sa.func.max(OutboxMessage.created_at)))
        for minutes in (0, 5, 10):
            deliver_due(now=now + timedelta(minutes=minutes))
    page = client.get(f"{PAGE}{endpoint.id}").text
    rows = page.split("<tbody>")[1].split("</tbody>")[0]
    assert "HTTP 503" in rows and "<td>204</td>" in rows and rows.count("<tr>") >= 2
    assert SECRET not in page and "김순자" not in page


def test_an_auditor_reads_the_endpoints_but_changes_nothing(client, world, admin):
    register(client, "https://hooks.example.org/welfare")
    [endpoint] = endpoints()
    sign_in(client, world.a.accounts[Role.AUDITOR])
    listed = client.get(PAGE).text
    assert "hooks.example.org" in listed and 'name="secret"' not in listed
    assert 'name="is_active"' not in listed
    assert client.get(f"{PAGE}{endpoint.id}").status_code == 200
    token = csrf_of(listed)
    for path in (PAGE, f"{PAGE}{endpoint.id}/active"):
        data = {
            "csrf_token": token,
            "is_active": "false",
            "url": "https://x.example",
            "secret": SECRET,
        }
        assert client.post(path, data=data, headers=HTML).status_code == 403
    assert endpoints()[0].is_active is True and len(endpoints()) == 1


def test_another_municipality_s_endpoint_is_not_found(client, world, admin):
    register(client, "https://hooks.example.org/welfare")
    [endpoint] = endpoints()
    sign_in(client, world.b.accounts[Role.MUNICIPAL_ADMIN])
    listed = client.get(PAGE).text
    assert "hooks.example.org" not in listed
    token = csrf_of(listed)
    assert client.get(f"{PAGE}{endpoint.id}", headers=HTML).status_code == 404
    refused = client.post(
        f"{PAGE}{endpoint.id}/active",
        data={"csrf_token": token, "is_active": "false"},
        headers=HTML,
    )
    assert refused.status_code == 404 and endpoints()[0].is_active is True


def test_the_webhooks_pages_are_for_municipal_admins_and_auditors(app, client, world):
    routes = page_routes(app, "webhook_pages")
    assert len(routes) == 4
    outsiders = [
        world.a.accounts[role] for role in (Role.SOCIAL_WORKER, Role.DISPATCHER, Role.CARRIER)
    ]
    assert_pages_refused(client, routes, outsiders + [world.admin], ("웹훅",))


def test_the_webhooks_page_has_its_english(client, admin):
    client.get(f"/language/en?next={PAGE}")
    html = client.get(PAGE).text
    assert "Register a webhook URL" in html and "Secret" in html and "웹훅" not in html
