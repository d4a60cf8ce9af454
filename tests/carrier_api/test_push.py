"""Pushes through pyfcm's real client to a local FCM endpoint, sent by the outbox worker."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from carrier_api import push as carrier_push
from carrier_api.models import Device
from core.db import db, utcnow
from core.outbox import OutboxMessage, deliver_due
from core.push import enqueue_push
from tests.support.factories import make_carrier
from tests.support.fakes.fcm import FakeFcm


@pytest.fixture
def fcm(app, tmp_path, monkeypatch):
    with FakeFcm(retry_after=120) as fake:
        monkeypatch.setitem(
            app.config, "FCM_SERVICE_ACCOUNT_FILE", str(fake.write_service_account(tmp_path))
        )
        monkeypatch.setitem(app.config, "FCM_ENDPOINT", fake.endpoint)
        yield fake


def phone(account_id: int, token: str | None, **fields) -> Device:
    device = Device(account_id=account_id, label="휴대폰", fcm_token=token, **fields)
    db.session.add(device)
    db.session.flush()
    return device


def test_a_push_reaches_every_phone_drops_dead_tokens_and_waits_as_fcm_asks(fcm, world):
    carrier = make_carrier(world.a.office)
    good = phone(carrier.account_id, "good-1")
    gone = phone(carrier.account_id, "unregistered-1")
    bad = phone(carrier.account_id, "invalid-1")
    busy = phone(carrier.account_id, "busy-1")
    phone(carrier.account_id, "good-revoked", revoked_at=utcnow())
    other = make_carrier(world.a.office)
    phone(other.account_id, "good-2")
    enqueue_push(carrier.account_id, "route_published", {"plan_id": 7, "day": "2026-11-26"})
    enqueue_push(other.account_id, "route_changed", {"plan_id": 7, "urgent": True})
    db.session.commit()

    first = deliver_due()

    # The busy phone's Retry-After does not hold up the other carrier's push.
    assert (first.sent, first.retried) == (1, 1)
    assert sorted(m["token"] for m in fcm.sent) == ["good-1", "good-2"]
    published = next(m for m in fcm.sent if m["token"] == "good-1")
    assert published["notification"]["title"] == "오늘의 배달 경로가 나왔습니다"
    assert published["data"] == {
        "event": "route_published",
        "message_id": published["data"]["message_id"],
        "plan_id": "7",
        "day": "2026-11-26",
    }
    urgent = next(m for m in fcm.sent if m["token"] == "good-2")
    assert urgent["notification"]["title"].startswith("긴급 방문")
    for device in (gone, bad):
        db.session.refresh(device)
        assert device.fcm_token is None  # FCM said the token is dead: removed
    db.session.refresh(good)
    assert good.fcm_token == "good-1"
    message = db.session.scalar(
        sa.select(OutboxMessage).where(OutboxMessage.target_id == carrier.account_id)
    )
    assert message.status == "pending"
    assert message.available_at >= utcnow() + timedelta(seconds=100)

    again = deliver_due(now=utcnow() + timedelta(seconds=121))

    assert again.sent == 1
    # Only the busy phone gets it now: the others were served by the first attempt.
    assert [m["token"] for m in fcm.sent].count("good-1") == 1
    assert [m["token"] for m in fcm.sent].count("busy-1") == 1
    assert fcm.token_requests >= 1  # a real OAuth exchange against the token endpoint
    db.session.refresh(busy)
    assert busy.fcm_token == "busy-1"


def test_an_account_without_a_registered_phone_contacts_no_fcm(fcm, world):
    carrier = make_carrier(world.a.office)
    phone(carrier.account_id, None)
    enqueue_push(carrier.account_id, "route_published", {})
    db.session.commit()
    assert deliver_due().sent == 1
    assert fcm.sent == [] and fcm.token_requests == 0


def test_without_fcm_no_push_is_queued_to_die(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "FCM_SERVICE_ACCOUNT_FILE", None)
    carrier = make_carrier(world.a.office)
    phone(carrier.account_id, "good-1")
    enqueue_push(carrier.account_id, "route_published", {})
    db.session.commit()
    pushes = sa.select(OutboxMessage).where(OutboxMessage.kind == "push")
    assert db.session.scalars(pushes).all() == []


def test_pushes_queued_before_fcm_was_turned_off_are_dead_with_the_reason(
    app, world, fcm, monkeypatch
):
    carrier = make_carrier(world.a.office)
    phone(carrier.account_id, "good-1")
    enqueue_push(carrier.account_id, "route_published", {})
    db.session.commit()
    monkeypatch.setitem(app.config, "FCM_SERVICE_ACCOUNT_FILE", None)
    assert deliver_due().dead == 1
    message = db.session.scalar(sa.select(OutboxMessage).order_by(OutboxMessage.id.desc()))
    assert "FCM is not configured" in message.last_error and fcm.sent == []


def test_threads_sharing_the_fcm_client_each_get_a_token(app, fcm):
    """The alerts worker's threads share one client; its credentials are set up once, safely."""
    with app.app_context():
        client = carrier_push._configured_client()
    start = threading.Barrier(8)

    def authorization(_: int) -> str:
        start.wait()
        return client.request_headers()["Authorization"]

    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(authorization, range(8)))
    assert all(token.startswith("Bearer ") and len(token) > len("Bearer x") for token in tokens)
