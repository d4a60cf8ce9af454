"""Visits from the carrier app: outcomes, surveys, consequences, replays, offline batches."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import timedelta, timezone

import pytest
import sqlalchemy as sa

from carrier_api.models import Visit
from carrier_api.schemas import VisitInSchema
from carrier_api.visits import fingerprint, raw_fingerprint
from core.clock import seoul_today
from core.db import db, utcnow
from municipalities.mail.models import MailItem, TrackingEvent
from municipalities.mail.services import next_working_day, record_event, return_held_items
from municipalities.mail.tracking import EventCode
from tests.carrier_api.test_carrier_route import carrier_headers, published
from tests.routing.test_planning import headers, office, orders  # noqa: F401
from welfare_checks.models import CheckReport

INTERVIEW = {
    "contact": "met_addressee",
    "meals": "skipping",
    "mobility_difficulty": False,
    "consent_contact": True,
    "emergency_now": False,
}
OBSERVATION = {
    "contact": "absent",
    "mobility_difficulty": False,
    "needs_help": False,
    "mail_piling": True,
    "bad_smell": False,
    "insects": False,
    "rubbish_bottles": False,
    "lights_tv_on_absent": False,
    "vacancy_signs": "none",
    "emergency_now": False,
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def day(client, office):  # noqa: F811
    """A published plan; the west carrier's first two welfare items and its headers."""
    plan = published(client, office)
    west = office["carriers"]["west"]
    route = next(r for r in plan["routes"] if r["carrier_id"] == west.id)
    return {
        "plan": plan,
        "west": west,
        "east": office["carriers"]["east"],
        "tenant": office["tenant"],
        "headers": carrier_headers(west),
        "stops": route["stops"],
        "numbers": [s["registered_number"] for s in route["stops"]],
    }


def record(number: str, **changes) -> dict:
    body = {
        "client_uuid": str(uuid.uuid4()),
        "registered_number": number,
        "outcome": "delivered",
        "recorded_at": utcnow().isoformat(),
        "location": [126.953, 37.505],
        "accuracy_m": 12.5,
        "survey": {"form": "wellbeing", "version": 1, "answers": INTERVIEW},
    }
    body.update(changes)
    return body


def post(client, day, body, key: str | None = "same"):
    extra = {"Idempotency-Key": body["client_uuid"] if key == "same" else key} if key else {}
    return client.post("/api/v1/carrier/visits", json=body, headers=day["headers"] | extra)


def item(number: str) -> MailItem:
    found = db.session.scalar(sa.select(MailItem).where(MailItem.registered_number == number))
    db.session.refresh(found)
    return found


def test_a_delivery_with_its_survey_is_stored_once_and_moves_the_item(client, day):
    body = record(day["numbers"][0], location=day["stops"][0]["location"])
    first = post(client, day, body)
    assert first.status_code == 201, first.json
    assert first.json["item_status"] == "delivered" and first.json["flags"] == []
    events = db.session.scalars(
        sa.select(TrackingEvent.code).where(
            TrackingEvent.item_id == item(body["registered_number"]).id
        )
    ).all()
    assert events[-1] == "delivered"
    replay = post(client, day, body)
    assert replay.status_code == 200 and replay.json == first.json
    changed = post(client, day, body | {"accuracy_m": 3.0})
    assert changed.status_code == 422 and changed.json["error"]["code"] == "client_uuid_reused"
    assert db.session.scalar(sa.select(sa.func.count(Visit.id))) == 1
    visit = db.session.scalar(sa.select(Visit))
    assert visit.survey_form == "wellbeing" and visit.survey_version == 1
    assert visit.device_id is None and visit.distance_m < 1
    url = f"/api/v1/carrier/visits/{body['client_uuid']}"
    assert client.get(url, headers=day["headers"]).json == first.json
    colleague = carrier_headers(day["east"])
    assert client.get(url, headers=colleague).status_code == 404


def test_the_idempotency_key_is_required_and_must_match(client, day):
    body = record(day["numbers"][0])
    missing = post(client, day, body, key=None)
    assert missing.status_code == 400 and missing.json["error"]["code"] == "idempotency_key_missing"
    other = post(client, day, body, key=str(uuid.uuid4()))
    assert other.status_code == 422 and "client_uuid" in other.json["error"]["fields"]


def test_an_absence_schedules_the_next_attempt_until_the_policy_keeps_the_item(
    client,
    day,  # noqa: F811
    ctx,
):
    number = day["numbers"][0]
    absent = {
        "outcome": "absent",
        "survey": {"form": "wellbeing", "version": 1, "answers": OBSERVATION},
    }
    first = post(client, day, record(number, **absent))
    assert first.status_code == 201, first.json
    assert first.json["item_status"] == "redelivery_scheduled"
    assert first.json["due_on"] == next_working_day(seoul_today() + timedelta(days=1)).isoformat()
    answers = []
    for _ in (2, 3):  # out again, nobody home again
        mail = item(number)
        record_event(mail, EventCode.OUT_FOR_DELIVERY, actor_id=None)  # out again
        db.session.commit()
        answers.append(post(client, day, record(number, **absent)).json["item_status"])
    # The second absence schedules a third try; after the third the item stays at the office.
    assert answers == ["redelivery_scheduled", "absent"]
    # Held there for the hold period, then it goes back to the municipality.
    assert return_held_items(utcnow() + timedelta(days=1)) == 0
    assert return_held_items(utcnow() + timedelta(days=8)) == 1
    db.session.commit()
    returned = item(number)
    assert (returned.status, returned.return_reason) == ("returned", "absent_limit")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"survey": None}, "survey"),
        ({"outcome": "delivered_to_member"}, "relation"),
        ({"outcome": "other"}, "other_text"),
        ({"survey": {"form": "wellbeing", "version": 9, "answers": INTERVIEW}}, "survey"),
        ({"survey": {"form": "wellbeing", "version": 1, "answers": OBSERVATION}}, "survey"),
        (
            {"survey": {"form": "wellbeing", "version": 1, "answers": INTERVIEW | {"meals": "x"}}},
            "survey",
        ),
        ({"signature": {"type": "image/png", "data": "not base64!"}}, "signature"),
        (
            {"signature": {"type": "image/jpeg", "data": base64.b64encode(PNG).decode()}},
            "signature",
        ),
    ],
)
def test_a_bad_visit_is_refused_naming_the_field_and_nothing_is_stored(client, day, change, field):
    body = {k: v for k, v in (record(day["numbers"][0]) | change).items() if v is not None}
    response = post(client, day, body)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"]
    assert db.session.scalar(sa.select(sa.func.count(Visit.id))) == 0
    assert item(day["numbers"][0]).status == "out_for_delivery"


def test_a_bad_survey_answer_names_the_question(client, day):
    answers = INTERVIEW | {"meals": "x", "unknown_q": True}
    body = record(day["numbers"][0], survey={"form": "wellbeing", "version": 1, "answers": answers})
    problems = post(client, day, body).json["error"]["fields"]["survey"]
    assert set(problems) == {"meals", "unknown_q"}


def test_far_late_and_signed_visits_are_kept_with_flags_and_both_clocks(client, day):
    hours_ago = utcnow() - timedelta(hours=5)
    signature = {"type": "image/png", "data": base64.b64encode(PNG).decode()}
    body = record(
        day["numbers"][0],
        location=[126.99, 37.52],  # a few km from the household
        recorded_at=hours_ago.isoformat(),
        signature=signature,
    )
    answer = post(client, day, body)
    assert answer.status_code == 201 and answer.json["flags"] == ["far_from_household"]
    visit = db.session.scalar(sa.select(Visit))
    assert abs((visit.recorded_at - hours_ago).total_seconds()) < 1
    assert visit.received_at - visit.recorded_at > timedelta(hours=4)
    assert visit.signature_type == "image/png" and visit.distance_m > 1000


def test_a_visit_to_a_stop_moved_to_a_colleague_meanwhile_is_kept_flagged(client, day, office):  # noqa: F811
    plan, stop = day["plan"], day["stops"][0]
    moved = client.patch(
        f"/api/v1/plans/{plan['id']}/stops/{stop['id']}",
        json={"version": plan["version"], "carrier_id": office["carriers"]["east"].id},
        headers=headers(office),
    )
    assert moved.status_code == 200
    answer = post(client, day, record(stop["registered_number"]))
    assert answer.status_code == 201 and "reassigned" in answer.json["flags"]
    assert item(stop["registered_number"]).status == "out_for_delivery"  # not applied


def test_a_colleagues_item_is_not_found_singly_or_in_a_batch_and_leaves_no_trace(client, day):
    east = next(r for r in day["plan"]["routes"] if r["carrier_id"] == day["east"].id)
    number = east["stops"][0]["registered_number"]
    assert post(client, day, record(number)).status_code == 404
    batch = client.post(
        "/api/v1/carrier/visits/batch", json={"records": [record(number)]}, headers=day["headers"]
    )
    assert batch.status_code == 200 and batch.json["results"][0]["status"] == 404
    assert db.session.scalar(sa.select(sa.func.count(Visit.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(CheckReport.id))) == 0
    assert item(number).status == "out_for_delivery"
    # Its own carrier records it as usual.
    own = post(client, day | {"headers": carrier_headers(day["east"])}, record(number))
    assert own.status_code == 201 and "reassigned" not in own.json["flags"]


def test_items_never_on_the_carriers_routes_are_not_found(client, day, world):
    from tests.support.factories import make_due_item

    elsewhere = make_due_item(
        world.b,
        (127.06, 37.51),
        seoul_today(),
        world.b.office.districts[0] if False else _district(world.b),
    )
    db.session.commit()
    assert post(client, day, record(elsewhere.registered_number)).status_code == 404


def _district(tenant):
    from postal.models import CarrierDistrict

    return db.session.scalar(
        sa.select(CarrierDistrict).where(CarrierDistrict.office_id == tenant.office.id)
    )


def test_an_offline_batch_answers_each_record_on_its_own(client, day):
    good = record(day["numbers"][0])
    bad = record(day["numbers"][1], survey=None)
    del bad["survey"]
    malformed = {"client_uuid": "not-a-uuid", "outcome": "teleported"}
    response = client.post(
        "/api/v1/carrier/visits/batch",
        json={"records": [good, bad, malformed, good]},
        headers=day["headers"],
    )
    assert response.status_code == 200, response.json
    results = response.json["results"]
    assert [r["status"] for r in results] == [201, 422, 422, 200]
    assert results[3]["body"] == results[0]["body"]  # the duplicate got the stored answer
    assert "survey" in results[1]["body"]["error"]["fields"]
    assert {"client_uuid", "outcome", "registered_number"} <= set(
        results[2]["body"]["error"]["fields"]
    )
    assert db.session.scalar(sa.select(sa.func.count(Visit.id))) == 1
    again = client.post(
        "/api/v1/carrier/visits/batch", json={"records": [good]}, headers=day["headers"]
    )
    assert again.json["results"][0] == results[3]


def test_a_record_still_in_flight_is_a_409(client, day, app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; SQLite serialises writers instead")
    body = record(day["numbers"][0])
    with db.engine.connect() as other:
        key = sa.func.hashtextextended(body["client_uuid"], 0)
        other.execute(sa.select(sa.func.pg_advisory_lock(key)))
        busy = post(client, day, body)
        other.execute(sa.select(sa.func.pg_advisory_unlock(key)))
    assert busy.status_code == 409 and busy.json["error"]["code"] == "in_flight"
    assert post(client, day, body).status_code == 201


def test_the_app_gets_the_form_it_renders(client, day):
    latest = client.get("/api/v1/carrier/forms/wellbeing", headers=day["headers"])
    assert latest.status_code == 200 and latest.json["version"] == 1
    assert latest.json["questions"][0]["label"]["ko"]
    assert (
        client.get("/api/v1/carrier/forms/wellbeing/1", headers=day["headers"]).json == latest.json
    )
    assert (
        client.get("/api/v1/carrier/forms/wellbeing/7", headers=day["headers"]).status_code == 404
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"location": [126.953, 95]}, "location"),
        ({"recorded_at": "0001-01-01T00:00:00+09:00"}, "recorded_at"),
        ({"location": [999, 999]}, "location"),
        ({"accuracy_m": 1e308}, "accuracy_m"),
        ({"outcome": "other", "other_text": "문이 \ud800 잠김"}, "other_text"),
        ({"registered_number": "726\x0000"}, "registered_number"),
    ],
)
def test_one_bad_record_fails_alone_and_the_rest_of_the_batch_is_stored(
    client, day, changes, field
):
    first, bad, second = (
        record(day["numbers"][0]),
        record(day["numbers"][1]),
        record(day["numbers"][1]),
    )
    response = client.post(
        "/api/v1/carrier/visits/batch",
        json={"records": [first, bad | changes, second]},
        headers=day["headers"],
    )
    assert response.status_code == 200, response.json
    results = response.json["results"]
    assert [r["status"] for r in results] == [201, 422, 201]
    assert field in results[1]["body"]["error"]["fields"]
    stored = db.session.scalars(sa.select(Visit.client_uuid)).all()
    assert sorted(stored) == sorted([first["client_uuid"], second["client_uuid"]])
    single = post(client, day, record(day["numbers"][0]) | changes)
    assert single.status_code == 422 and field in single.json["error"]["fields"]


def test_a_replay_serialised_differently_gets_the_stored_answer(client, day):
    at = utcnow().replace(microsecond=0)
    body = record(day["numbers"][0], accuracy_m=9.0, recorded_at=at.isoformat())
    first = post(client, day, body)
    assert first.status_code == 201, first.json
    seoul = at.astimezone(timezone(timedelta(hours=9))).isoformat()
    for replay in (
        body | {"accuracy_m": 9},
        body | {"recorded_at": at.isoformat().replace("+00:00", "Z")},
        body | {"recorded_at": seoul, "location": [126.953, 37.505]},
        dict(reversed(body.items())),
    ):
        again = post(client, day, replay)
        assert again.status_code == 200 and again.json == first.json, replay
    batch = client.post(
        "/api/v1/carrier/visits/batch",
        json={"records": [body | {"accuracy_m": 9}]},
        headers=day["headers"],
    )
    assert batch.json["results"][0]["status"] == 200
    other = post(client, day, body | {"accuracy_m": 9.5})
    assert other.status_code == 422 and other.json["error"]["code"] == "client_uuid_reused"


def test_a_visit_stored_with_the_raw_fingerprint_still_answers_its_replay(client, day):
    """Visits stored before fingerprints were of the loaded record hold the raw form's hash."""
    body = record(day["numbers"][0])
    first = post(client, day, body)
    visit = db.session.scalar(sa.select(Visit).where(Visit.client_uuid == body["client_uuid"]))
    visit.fingerprint = raw_fingerprint(body)
    db.session.commit()
    replay = post(client, day, body)
    assert replay.status_code == 200 and replay.json == first.json
    other = post(client, day, body | {"accuracy_m": 1.0})
    assert other.status_code == 422 and other.json["error"]["code"] == "client_uuid_reused"


FINGERPRINTED = {
    "client_uuid": "6f1c1f5e-8c2a-4a8e-9d8b-0b1d2c3e4f50",
    "registered_number": "1234567890123",
    "outcome": "delivered",
    "recorded_at": "2026-03-02T10:15:00+09:00",
    "location": [126.95, 37.5],
    "accuracy_m": 9,
}


@pytest.mark.parametrize(
    ("changes", "canonical"),
    [
        (
            {},
            '{"accuracy_m":9.0,"client_uuid":"6f1c1f5e-8c2a-4a8e-9d8b-0b1d2c3e4f50"'
            ',"location":[126.95,37.5],"outcome":"delivered"'
            ',"recorded_at":"2026-03-02T01:15:00+00:00","registered_number":"1234567890123"}',
        ),
        (
            {
                "outcome": "delivered_to_member",
                "relation": "son",
                "other_text": "x",
                "survey": {"form": "wellbeing", "version": 1, "answers": {"meals": None}},
                "signature": {"type": "image/png", "data": "iVBORw0KGgo="},
            },
            '{"accuracy_m":9.0,"client_uuid":"6f1c1f5e-8c2a-4a8e-9d8b-0b1d2c3e4f50"'
            ',"location":[126.95,37.5],"other_text":"x","outcome":"delivered_to_member"'
            ',"recorded_at":"2026-03-02T01:15:00+00:00","registered_number":"1234567890123"'
            ',"relation":"son","signature":{"data":"iVBORw0KGgo=","type":"image/png"}'
            ',"survey":{"answers":{"meals":null},"form":"wellbeing","version":1}}',
        ),
    ],
)
def test_the_fingerprint_is_the_loaded_record_as_canonical_json(changes, canonical):
    """Stored visits hold these hashes: a field the record left out is not in them."""
    record = VisitInSchema().load(FINGERPRINTED | changes)
    assert fingerprint(record) == hashlib.sha256(canonical.encode()).hexdigest()
