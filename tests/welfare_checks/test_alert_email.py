"""Alert e-mails through smtplib's real client to a local SMTP server, sent by the outbox."""

from __future__ import annotations

import logging
import socket
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import create_app
from core.audit import AccessLog
from core.auth.models import Account
from core.auth.roles import Role
from core.config import ConfigError
from core.db import db, utcnow
from core.email import enqueue_email
from core.outbox import OutboxMessage, deliver_due
from municipalities.models import Household
from tests.carrier_api.test_visits import day, item, post  # noqa: F401
from tests.conftest import TEST_KEYS
from tests.routing.test_planning import office  # noqa: F401
from tests.support.factories import auth, make_account
from tests.support.fakes.fcm import fcm_on  # noqa: F401
from tests.support.fakes.smtp import FakeSmtp
from tests.welfare_checks.test_check_reports import EMERGENCY, absent, outbox
from welfare_checks.alerts import escalate_overdue
from welfare_checks.models import CheckReport

SENDER = "복지등기 알림 <alerts@city.example.go.kr>"
PUBLIC_URL = "https://welfare.city.example.go.kr"
# The fake server takes AUTH without TLS on loopback; aiosmtpd rightly warns about that.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def smtp(app, monkeypatch):
    with FakeSmtp(credentials=("alerts", "smtp-secret-42")) as fake:
        settings = {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": fake.port,
            "SMTP_STARTTLS": False,  # the local server speaks plain SMTP
            "SMTP_USERNAME": "alerts",
            "SMTP_PASSWORD": "smtp-secret-42",
            "SMTP_FROM": SENDER,
            "PUBLIC_URL": PUBLIC_URL + "/",
        }
        for key, value in settings.items():
            monkeypatch.setitem(app.config, key, value)
        yield fake


def worker(tenant, email: str | None) -> Account:
    return make_account(Role.SOCIAL_WORKER, municipality_id=tenant.municipality.id, email=email)


def emergency(client, day) -> tuple[CheckReport, Household]:  # noqa: F811
    """An emergency visit to the day's first household, which has a phone and a note."""
    number = day["numbers"][0]
    household = db.session.get(Household, item(number).household_id)
    household.phone, household.note = "010-2345-6789", "비공개 메모: 혼자 사심"
    db.session.commit()
    assert post(client, day, absent(number, EMERGENCY)).status_code == 201
    report = db.session.scalar(
        sa.select(CheckReport).where(CheckReport.household_id == household.id)
    )
    return report, household


def test_an_emergency_emails_each_on_duty_worker_with_an_address_and_no_personal_data(
    client,
    day,  # noqa: F811
    smtp,
):
    tenant = day["tenant"]
    me = tenant.accounts[Role.SOCIAL_WORKER]
    colleague, no_address = worker(tenant, None), worker(tenant, None)
    db.session.commit()
    own = client.patch(
        "/api/v1/auth/me",
        json={"email": "Me.Kim@City.Example.Go.KR"},
        headers=auth(tenant.tokens[Role.SOCIAL_WORKER]),
    )
    assert own.status_code == 200 and own.json["email"] == "Me.Kim@city.example.go.kr"
    admin = tenant.headers(Role.MUNICIPAL_ADMIN)
    set_by_admin = client.patch(
        f"/api/v1/accounts/{colleague.id}", json={"email": "lee@city.example.go.kr"}, headers=admin
    )
    assert set_by_admin.status_code == 200
    on_duty = client.put(
        "/api/v1/on-duty", json={"account_ids": [me.id, colleague.id, no_address.id]}, headers=admin
    )
    assert on_duty.status_code == 200

    report, household = emergency(client, day)

    queued = outbox("email")
    assert sorted(m.target_id for m in queued) == sorted([me.id, colleague.id])
    assert all("@" not in str(m.payload) for m in queued)  # addresses are read at send time
    run = deliver_due()
    assert run.sent >= 2 and run.dead == 0
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == [
        "Me.Kim@city.example.go.kr",
        "lee@city.example.go.kr",
    ]
    assert smtp.logins == 2
    for received in smtp.received:
        message = received.message
        assert message["Subject"] == f"[복지등기] 긴급 확인 보고 #{report.id} (emergency)"
        assert message["From"] == SENDER
        assert message["To"] == received.rcpt_tos[0]
        assert message["Auto-Submitted"] == "auto-generated"
        body = message.get_content()
        assert body.index("등급: 긴급") < body.index("Severity: emergency")  # Korean first
        assert f"가구 번호: {household.id}" in body
        assert "absent_smell_lights_mail, observations_three_or_more" in body
        assert f"{PUBLIC_URL}/welfare/reports/{report.id}" in body  # the staff pages
        assert f"{PUBLIC_URL}/welfare/\n" in body
        for private in (household.name, household.phone, household.road_address, household.note):
            assert private not in body and private not in message["Subject"]
        for answer in EMERGENCY:  # no survey answers either
            assert answer not in body
    ids = {r.message["Message-ID"] for r in smtp.received}
    assert len(ids) == 2 and all(i.endswith("@city.example.go.kr>") for i in ids)
    assert deliver_due().sent == 0  # sent once


def test_no_email_is_queued_while_smtp_is_off(client, day, fcm_on):  # noqa: F811
    on_duty = day["tenant"].accounts[Role.SOCIAL_WORKER]
    on_duty.email = "kim@city.example.go.kr"
    emergency(client, day)
    assert outbox("email") == []
    alerts = [m for m in outbox("push") if m.payload["event"] == "check_alert"]
    assert [m.target_id for m in alerts] == [on_duty.id]  # the push still goes


def test_a_busy_server_is_tried_again_later_and_a_refused_mailbox_is_not(smtp, world, caplog):
    busy = worker(world.a, "busy-kim@city.example.go.kr")
    gone = worker(world.a, "gone-lee@city.example.go.kr")
    enqueue_email(busy.id, "[복지등기] 시험", "본문")
    enqueue_email(gone.id, "[복지등기] 시험", "본문")
    db.session.commit()

    with caplog.at_level(logging.INFO):
        first = deliver_due()

    assert (first.sent, first.retried, first.dead) == (0, 1, 1)
    assert smtp.refused == [
        (451, "busy-kim@city.example.go.kr"),
        (550, "gone-lee@city.example.go.kr"),
    ]
    rows = {m.target_id: m for m in outbox("email")}
    assert rows[busy.id].status == "pending" and rows[busy.id].attempts == 1
    assert rows[busy.id].available_at >= utcnow() + timedelta(seconds=25)
    assert rows[gone.id].status == "dead" and rows[gone.id].last_error.startswith("SMTP 550")
    # The dead letter is logged, and neither our logs nor the outbox row hold the address
    # (the fake server's own "mail.log" does, as a real mail server's log would).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    assert f"outbox message {rows[gone.id].id} (email) is dead" in ours
    assert "@city.example.go.kr" not in ours + rows[gone.id].last_error

    assert deliver_due().sent == 0  # not due yet
    again = deliver_due(now=utcnow() + timedelta(seconds=31))
    assert (again.sent, again.dead) == (1, 0)
    assert [r.rcpt_tos for r in smtp.received] == [["busy-kim@city.example.go.kr"]]


def test_an_unreachable_server_is_retried_and_a_cleared_address_is_skipped(
    smtp, world, app, monkeypatch
):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    closed_port = listener.getsockname()[1]
    listener.close()  # nothing listens there now: connection refused
    monkeypatch.setitem(app.config, "SMTP_PORT", closed_port)
    moved = worker(world.a, "park@city.example.go.kr")
    enqueue_email(moved.id, "[복지등기] 시험", "본문")
    db.session.commit()

    assert deliver_due().retried == 1
    [row] = outbox("email")
    assert row.last_error == "SMTP unavailable: ConnectionRefusedError"

    moved.email = None  # the address was cleared in the meantime
    db.session.commit()
    assert deliver_due(now=utcnow() + timedelta(seconds=31)).sent == 1
    assert smtp.received == []


def test_an_unacknowledged_emergency_emails_the_municipal_admins(
    client,
    day,  # noqa: F811
    smtp,
    ctx,
    app,
):
    admin = day["tenant"].accounts[Role.MUNICIPAL_ADMIN]
    admin.email = "admin@city.example.go.kr"
    report, _ = emergency(client, day)
    assert outbox("email") == []  # the on-duty worker has no address
    later = utcnow() + timedelta(minutes=app.config["ALERT_ESCALATE_MINUTES"] + 1)
    assert escalate_overdue(later) == 1
    db.session.commit()

    assert deliver_due().sent >= 1
    [received] = smtp.received
    assert received.rcpt_tos == ["admin@city.example.go.kr"]
    subject = f"[복지등기] 미확인 긴급 보고 #{report.id} (emergency, escalated)"
    assert received.message["Subject"] == subject
    minutes = app.config["ALERT_ESCALATE_MINUTES"]
    assert f"{minutes}분 넘게 아무도 확인하지 않아" in received.message.get_content()


def test_account_emails_are_validated_and_set_by_admins_and_their_holder(client, world):
    admin = world.a.headers(Role.MUNICIPAL_ADMIN)
    body = {
        "username": "mail.worker",
        "display_name": "메일 담당자",
        "password": "correct horse battery staple 42",
        "role": "social_worker",
        "municipality_id": world.a.municipality.id,
    }
    for bad in ("not-an-address", "kim@localhost", "김@city.example.go.kr", "a" * 250 + "@x.kr", 7):
        refused = client.post("/api/v1/accounts", json=body | {"email": bad}, headers=admin)
        assert refused.status_code == 422, bad
        assert list(refused.json["error"]["fields"]) == ["email"]
    created = client.post(
        "/api/v1/accounts", json=body | {"email": "Kim.SW@Seoul.Example.KR"}, headers=admin
    )
    assert created.status_code == 201 and created.json["email"] == "Kim.SW@seoul.example.kr"
    account_url = f"/api/v1/accounts/{created.json['id']}"
    bad = client.patch(account_url, json={"email": "kim@"}, headers=admin)
    assert bad.status_code == 422 and "email" in bad.json["error"]["fields"]
    cleared = client.patch(account_url, json={"email": None}, headers=admin)
    assert cleared.status_code == 200 and cleared.json["email"] is None
    other = client.patch(
        account_url,
        json={"email": "x@city.example.go.kr"},
        headers=world.b.headers(Role.MUNICIPAL_ADMIN),
    )
    assert other.status_code == 404

    holder = world.a.headers(Role.SOCIAL_WORKER)
    assert client.patch("/api/v1/auth/me", json={}, headers=holder).status_code == 422
    wrong = client.patch("/api/v1/auth/me", json={"email": "me at work"}, headers=holder)
    assert wrong.status_code == 422 and list(wrong.json["error"]["fields"]) == ["email"]
    mine = client.patch("/api/v1/auth/me", json={"email": "me@city.example.go.kr"}, headers=holder)
    assert mine.status_code == 200
    assert client.get("/api/v1/auth/me", headers=holder).json["email"] == "me@city.example.go.kr"
    changes = db.session.scalars(
        sa.select(AccessLog).where(AccessLog.subject_type == "account", AccessLog.detail == "email")
    ).all()
    assert {c.subject_id for c in changes} == {
        created.json["id"],
        world.a.accounts[Role.SOCIAL_WORKER].id,
    }
    assert not db.session.scalar(
        sa.select(sa.func.count(AccessLog.id)).where(AccessLog.detail.contains("@"))
    )
    assert not db.session.scalar(
        sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.kind == "email")
    )


def test_smtp_settings_come_from_the_environment_and_need_a_sender(tmp_path, monkeypatch):
    monkeypatch.setenv("WELFARE_SMTP_HOST", "smtp.city.example.go.kr")
    monkeypatch.setenv("WELFARE_SMTP_PORT", "465")
    monkeypatch.setenv("WELFARE_SMTP_SSL", "true")
    monkeypatch.setenv("WELFARE_SMTP_PASSWORD", "20261125")
    config = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db", **TEST_KEYS}
    with pytest.raises(ConfigError, match="WELFARE_SMTP_FROM"):
        create_app(config)
    monkeypatch.setenv("WELFARE_SMTP_FROM", "alerts@city.example.go.kr")
    app = create_app(config)
    assert (app.config["SMTP_PORT"], app.config["SMTP_SSL"]) == (465, True)
    assert app.config["SMTP_PASSWORD"] == 20261125  # digits arrive as a number


def test_a_password_of_digits_still_signs_in(app, world, monkeypatch):
    with FakeSmtp(credentials=("alerts", "20261125")) as fake:
        settings = {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": fake.port,
            "SMTP_STARTTLS": False,
            "SMTP_USERNAME": "alerts",
            "SMTP_PASSWORD": 20261125,  # as WELFARE_SMTP_PASSWORD=20261125 is loaded
            "SMTP_FROM": "alerts@city.example.go.kr",
        }
        for key, value in settings.items():
            monkeypatch.setitem(app.config, key, value)
        enqueue_email(worker(world.a, "kim@city.example.go.kr").id, "[복지등기] 시험", "본문")
        db.session.commit()
        assert deliver_due().sent == 1
    assert [r.rcpt_tos for r in fake.received] == [["kim@city.example.go.kr"]]
