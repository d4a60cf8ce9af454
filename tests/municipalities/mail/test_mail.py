"""Welfare mailings end to end through the API: select, submit, produce, track, notify."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from core import clock as working_days
from core.auth.roles import Role
from core.clock import next_working_day, seoul_today
from core.db import db
from core.outbox import OutboxMessage, deliver_due
from municipalities.mail import services as mail
from municipalities.mail.models import MailItem
from municipalities.mail.registered_numbers import is_valid
from municipalities.mail.webhooks import SIGNATURE_HEADER, verify_signature
from tests.support.fakes.receiver import WebhookReceiver

TEMPLATE = {
    "name": "기본 안내문",
    "body": (
        "{addressee}님께\n\n{municipality}에서 복지 서비스를 안내드립니다.\n\n"
        "{programmes}\n\n문의: {contact}"
    ),
    "contact": "복지정책과 희망복지지원팀 02-123-4567",
    "programmes": "긴급복지 생계지원\n에너지바우처",
}


def next_working(days: int = 1) -> str:
    return next_working_day(seoul_today() + timedelta(days=days)).isoformat()


def add_household(client, tenant, name: str, location=(126.96, 37.51)) -> int:
    response = client.post(
        "/api/v1/households",
        json={
            "name": name,
            "road_address": f"서울특별시 시험구 희망로 {len(name)}",
            "location": list(location),
        },
        headers=tenant.headers(Role.SOCIAL_WORKER),
    )
    assert response.status_code == 201, response.json
    return response.json["id"]


@pytest.fixture
def setup(client, world):
    """Tenant a with a template and three households (one outside every district)."""
    headers = world.a.headers(Role.SOCIAL_WORKER)
    template = client.post("/api/v1/letter-templates", json=TEMPLATE, headers=headers).json
    ids = [add_household(client, world.a, name) for name in ("김순자", "이영호")]
    outside = add_household(client, world.a, "박민수", location=(128.5, 35.8))
    return {"headers": headers, "template": template["id"], "households": ids, "outside": outside}


def draft(client, setup, selection=None, send_date=None):
    return client.post(
        "/api/v1/mailings",
        json={
            "title": "11월 복지등기",
            "template_id": setup["template"],
            "selection": selection or {"household_ids": setup["households"] + [setup["outside"]]},
            "send_date": send_date or next_working(),
        },
        headers=setup["headers"],
    )


def submit(client, setup, **kwargs) -> dict:
    mailing = draft(client, setup, **kwargs).json
    response = client.post(f"/api/v1/mailings/{mailing['id']}/submit", headers=setup["headers"])
    assert response.status_code == 200, response.json
    return response.json


def test_template_merge_fields_are_checked(client, world):
    bad = TEMPLATE | {"body": "{addressee}님, {ssn} 확인"}
    response = client.post(
        "/api/v1/letter-templates", json=bad, headers=world.a.headers(Role.SOCIAL_WORKER)
    )
    assert response.status_code == 422 and "ssn" in response.json["error"]["fields"]["body"][0]


def upcoming(weekday: int) -> date:
    """The first day after today that is `weekday` (Monday 0 ... Sunday 6)."""
    today = seoul_today()
    return today + timedelta(days=(weekday - today.weekday()) % 7 or 7)


def upcoming_holiday_on_a_weekday() -> date:
    """The first Korean public holiday after today that falls on Monday to Friday."""
    day = seoul_today() + timedelta(days=1)
    while not (working_days.is_public_holiday(day) and day.weekday() < 5):
        day += timedelta(days=1)
    return day


@pytest.mark.parametrize(
    "refused",
    [upcoming(5), upcoming(6), upcoming_holiday_on_a_weekday()],
    ids=["saturday", "sunday", "holiday"],
)
def test_weekends_and_public_holidays_are_refused_naming_the_next_working_day(
    client, setup, refused
):
    response = draft(client, setup, send_date=refused.isoformat())
    assert response.status_code == 422
    error = response.json["error"]
    following = working_days.next_working_day(refused)
    assert following > refused and following.weekday() < 5
    named = f"{refused}({'월화수목금토일'[refused.weekday()]})은"
    for message in (error["message"], error["fields"]["send_date"][0]):
        assert message.startswith(f"{named} 발송할 수 없는 날입니다. 다음 발송 가능일: {following}")
        assert f"({refused} is a day mail is not sent; the next one is {following}.)" in message
    assert error["code"] == "not_a_working_day"
    assert draft(client, setup, send_date=following.isoformat()).status_code == 201


def test_preview_names_who_is_left_out_and_why(client, setup):
    mailing = draft(client, setup).json
    preview = client.get(f"/api/v1/mailings/{mailing['id']}/preview", headers=setup["headers"]).json
    assert preview["household_count"] == 2
    assert [e["household_id"] for e in preview["exclusions"]] == [setup["outside"]]
    assert "집배구" in preview["exclusions"][0]["reason"]
    assert preview["sample_text"].startswith("김순자님께")
    assert "에너지바우처" in preview["sample_text"]
    pdf = client.get(f"/api/v1/mailings/{mailing['id']}/preview.pdf", headers=setup["headers"])
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def test_submit_creates_items_with_valid_unique_numbers_and_never_mails_twice(client, setup):
    mailing = submit(client, setup)
    assert mailing["status"] == "submitted" and mailing["item_count"] == 2
    items = client.get(
        f"/api/v1/mail-items?mailing_id={mailing['id']}", headers=setup["headers"]
    ).json["items"]
    numbers = [item["registered_number"] for item in items]
    assert len(set(numbers)) == 2 and all(is_valid(n) for n in numbers)
    assert {item["status"] for item in items} == {"accepted"}
    again = draft(client, setup).json
    preview = client.get(f"/api/v1/mailings/{again['id']}/preview", headers=setup["headers"]).json
    assert preview["household_count"] == 0
    assert {e["household_id"] for e in preview["exclusions"]} == set(setup["households"]) | {
        setup["outside"]
    }
    refused = client.post(f"/api/v1/mailings/{again['id']}/submit", headers=setup["headers"])
    assert refused.status_code == 422


def test_only_an_active_agreement_can_submit(client, world, setup):
    client.patch(
        f"/api/v1/municipalities/{world.a.municipality.id}",
        json={"agreement_status": "suspended"},
        headers=world.admin_headers(),
    )
    mailing = draft(client, setup).json
    response = client.post(f"/api/v1/mailings/{mailing['id']}/submit", headers=setup["headers"])
    assert response.status_code == 403
    assert response.json["error"]["code"] == "agreement_inactive"


def test_letters_are_produced_by_the_worker_and_tracking_follows_the_item(client, world, setup):
    mailing = submit(client, setup)
    batches = client.get(f"/api/v1/mailings/{mailing['id']}/batches", headers=setup["headers"]).json
    assert [b["status"] for b in batches] == ["queued"]
    assert deliver_due().sent >= 1
    batch = client.get(f"/api/v1/letter-batches/{batches[0]['id']}", headers=setup["headers"]).json
    assert batch["status"] == "produced" and batch["page_count"] >= 2
    pdf = client.get(f"/api/v1/letter-batches/{batch['id']}/letters.pdf", headers=setup["headers"])
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    dispatcher = world.a.headers(Role.DISPATCHER)
    received = client.post(f"/api/v1/letter-batches/{batch['id']}/receive", headers=dispatcher)
    assert received.status_code == 200
    item = client.get(
        f"/api/v1/mail-items?mailing_id={mailing['id']}", headers=setup["headers"]
    ).json["items"][0]
    url = f"/api/v1/mail-items/{item['id']}/events"
    out = client.post(url, json={"code": "out_for_delivery"}, headers=dispatcher)
    assert out.status_code == 201
    delivered = client.post(url, json={"code": "delivered"}, headers=dispatcher)
    assert delivered.status_code == 201 and delivered.json["status"] == "delivered"
    assert [e["code"] for e in delivered.json["events"]] == [
        "accepted",
        "produced",
        "handed_to_office",
        "out_for_delivery",
        "delivered",
    ]
    again = client.post(url, json={"code": "absent"}, headers=dispatcher)
    assert again.status_code == 409 and again.json["error"]["code"] == "event_refused"


def test_returned_items_keep_their_reason(client, world, setup):
    submit(client, setup)
    deliver_due()
    item = db.session.scalars(sa.select(MailItem).order_by(MailItem.id)).first()
    for code in ("handed_to_office", "out_for_delivery", "moved", "returned"):
        mail.record_event(item, mail.EventCode(code), actor_id=None)
    db.session.commit()
    returned = client.get("/api/v1/mail-items?returned=true", headers=setup["headers"]).json
    assert [(i["id"], i["return_reason"]) for i in returned["items"]] == [(item.id, "moved")]


def test_carriers_record_outcomes_only_through_visits_to_their_own_stops(client, world, setup):
    """A carrier's token (account or phone) cannot post a tracking event for an office item."""
    submit(client, setup)
    deliver_due()  # printed
    item = db.session.scalars(sa.select(MailItem).order_by(MailItem.id)).first()
    mail.record_event(item, mail.EventCode.HANDED_TO_OFFICE, actor_id=None)
    mail.record_event(item, mail.EventCode.OUT_FOR_DELIVERY, actor_id=None)
    db.session.commit()
    url = f"/api/v1/mail-items/{item.id}/events"
    body = {"code": "addressee_deceased", "detail": "이웃 말로는 지난주 사망"}
    refused = client.post(url, json=body, headers=world.a.headers(Role.CARRIER))
    assert refused.status_code == 404 and refused.json["error"]["code"] == "not_found"
    db.session.refresh(item)
    assert item.status == "out_for_delivery" and item.return_reason is None
    assert [e.code for e in mail.events_of(item)][-1] == "out_for_delivery"


def test_public_lookup_shows_generic_steps_and_nothing_of_who_or_why(client, world, setup):
    """A walked number tells nobody the addressee, the sender, a door outcome or any text."""
    submit(client, setup)
    deliver_due()  # printed
    item = db.session.scalars(sa.select(MailItem).order_by(MailItem.id)).first()
    for code in ("handed_to_office", "out_for_delivery", "absent", "redelivery"):
        mail.record_event(item, mail.EventCode(code), actor_id=None, place="가온우체국 3층")
    mail.record_event(item, mail.EventCode.OUT_FOR_DELIVERY, actor_id=None)
    secret = "이웃 말로는 지난주 사망, 복지팀 의뢰 가구"
    mail.record_event(item, mail.EventCode.ADDRESSEE_DECEASED, actor_id=None, detail=secret)
    db.session.commit()
    response = client.get(f"/api/v1/tracking/{item.registered_number}")
    assert response.status_code == 200
    body = response.json
    assert set(body) == {"registered_number", "status", "status_label", "events"}
    assert (body["status"], body["status_label"]) == ("returned", "반송 (returned to sender)")
    assert [(e["status"], e["label"]) for e in body["events"]] == [
        ("accepted", "접수 (accepted)"),
        ("in_delivery", "배달 중 (in delivery)"),
        ("returned", "반송 (returned to sender)"),
    ]
    assert all(set(event) == {"status", "label", "at"} for event in body["events"])
    text = json.dumps(body, ensure_ascii=False)
    municipality = world.a.municipality
    for private in (
        "김순자",
        "김*자",
        "희망로",
        municipality.name,
        municipality.department,
        world.a.office.name,
        "가온우체국",
        "사망",
        "이사",
        "수취거절",
        "부재",
        "deceased",
        "absent",
        secret,
    ):
        assert private not in text, private
    typo = item.registered_number[:-1] + str((int(item.registered_number[-1]) + 1) % 10)
    bad = client.get(f"/api/v1/tracking/{typo}")
    assert bad.status_code == 422 and "registered_number" in bad.json["error"]["fields"]
    swapped = (
        item.registered_number[:3]
        + item.registered_number[4]
        + item.registered_number[3]
        + item.registered_number[5:]
    )
    if swapped != item.registered_number:
        assert client.get(f"/api/v1/tracking/{swapped}").status_code == 422


def test_items_of_another_municipality_are_not_found(client, world, setup):
    submit(client, setup)
    item = db.session.scalars(sa.select(MailItem)).first()
    for role in (Role.SOCIAL_WORKER, Role.MUNICIPAL_ADMIN, Role.AUDITOR, Role.DISPATCHER):
        headers = world.b.headers(role)
        assert client.get(f"/api/v1/mail-items/{item.id}", headers=headers).status_code == 404
        by_number = client.get(
            f"/api/v1/mail-items/by-number/{item.registered_number}", headers=headers
        )
        assert by_number.status_code == 404


def test_webhook_receiver_that_fails_twice_gets_each_event_once_signed(client, world, setup):
    admin = world.a.headers(Role.MUNICIPAL_ADMIN)
    secret = "a-long-shared-secret-1234"
    with WebhookReceiver(fail_first=2) as receiver:
        endpoint = client.post(
            "/api/v1/webhooks", json={"url": receiver.url, "secret": secret}, headers=admin
        )
        assert endpoint.status_code == 201, endpoint.json
        submit(client, setup)  # two items accepted: two events
        now = db.session.scalar(sa.select(sa.func.max(OutboxMessage.created_at)))
        for minutes in (0, 5, 10, 20, 40):
            deliver_due(now=now + timedelta(minutes=minutes))
    events = [json.loads(r.body) for r in receiver.received]
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)) >= 2
    assert {e["data"]["event"] for e in events} >= {"accepted"}
    for r in receiver.received:
        assert verify_signature(secret, r.headers[SIGNATURE_HEADER], r.body)
        assert not verify_signature("wrong-secret-000000", r.headers[SIGNATURE_HEADER], r.body)
    log = client.get(f"/api/v1/webhooks/{endpoint.json['id']}/deliveries", headers=admin).json
    statuses = [d["status_code"] for d in log["items"]]
    assert statuses.count(503) == 2 and statuses.count(204) == len(ids)


def test_webhook_urls_must_be_https(client, world):
    admin = world.a.headers(Role.MUNICIPAL_ADMIN)
    for url in ("http://example.org/hook", "ftp://x/y", "https://user:pw@example.org/h"):
        response = client.post(
            "/api/v1/webhooks", json={"url": url, "secret": "s" * 20}, headers=admin
        )
        assert response.status_code == 422 and "url" in response.json["error"]["fields"]
    social = world.a.headers(Role.SOCIAL_WORKER)
    ok = {"url": "https://example.org/h", "secret": "s" * 20}
    assert client.post("/api/v1/webhooks", json=ok, headers=social).status_code == 403


def test_public_lookup_is_rate_limited(app, client, setup):
    submit(client, setup)
    number = db.session.scalars(sa.select(MailItem.registered_number)).first()
    previous = app.config["RATELIMIT_TRACKING"]
    app.config["RATELIMIT_TRACKING"] = "3 per minute"
    try:
        codes = [client.get(f"/api/v1/tracking/{number}").status_code for _ in range(5)]
    finally:
        app.config["RATELIMIT_TRACKING"] = previous
    assert codes[:3] == [200, 200, 200]
    assert codes[3:] == [429, 429]
    limited = client.get(f"/api/v1/tracking/{number}")
    assert limited.status_code == 200  # the normal limit applies again
