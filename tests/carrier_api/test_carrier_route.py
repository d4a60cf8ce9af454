"""The carrier app's view of the day: its own published route, conditional fetches, scanning."""

from __future__ import annotations

import sqlalchemy as sa

from carrier_api.schemas import RouteStopSchema
from core.audit import AccessLog
from core.auth.models import Account
from core.auth.roles import Role
from core.auth.services import issue_token
from core.db import db
from municipalities.mail.models import MailItem
from tests.routing.test_planning import DAY, headers, items, office, orders, solved, start  # noqa: F401
from tests.support.factories import auth

STOP_FIELDS = set(RouteStopSchema().fields)


def published(client, office) -> dict:  # noqa: F811 - the fixture's value
    items(office, "west", 3)
    items(office, "east", 3)
    plan = solved(client, office, start(client, office)["id"])
    response = client.post(
        f"/api/v1/plans/{plan['id']}/publish",
        json={"version": plan["version"]},
        headers=headers(office),
    )
    assert response.status_code == 200
    return client.get(f"/api/v1/plans/{plan['id']}", headers=headers(office)).json


def carrier_headers(carrier) -> dict:
    token = issue_token(db.session.get(Account, carrier.account_id))
    db.session.commit()
    return auth(token)


def test_the_route_has_the_stops_in_order_with_only_what_the_door_needs(client, office):  # noqa: F811
    plan = published(client, office)
    west = office["carriers"]["west"]
    response = client.get(f"/api/v1/carrier/route?day={DAY}", headers=carrier_headers(west))
    assert response.status_code == 200, response.json
    body = response.json
    assert body["plan_id"] == plan["id"] and body["version"] == plan["version"]
    assert [s["stop_id"] for s in body["stops"]] == orders(plan)[west.id]
    for stop in body["stops"]:
        assert set(stop) == STOP_FIELDS  # nothing beyond the carrier schema
        assert stop["addressee"].startswith("가구") and stop["survey_required"]
    text = response.get_data(as_text=True)
    for forbidden in ("risk_sources", "note", "phone", "household_type", "preferred_carriers"):
        assert forbidden not in text
    logged = db.session.scalars(
        sa.select(AccessLog).where(AccessLog.account_id == west.account_id)
    ).all()
    assert logged and {row.action for row in logged} == {"read"}


def test_an_unchanged_route_answers_304_and_a_change_gives_a_new_etag(client, office):  # noqa: F811
    plan = published(client, office)
    west = office["carriers"]["west"]
    url = f"/api/v1/carrier/route?day={DAY}"
    first = client.get(url, headers=carrier_headers(west))
    tag = first.headers["ETag"]
    same = client.get(url, headers=carrier_headers(west) | {"If-None-Match": tag})
    assert same.status_code == 304 and same.get_data() == b""
    stop = orders(plan)[office["carriers"]["east"].id][0]
    moved = client.patch(
        f"/api/v1/plans/{plan['id']}/stops/{stop}",
        json={"version": plan["version"], "carrier_id": west.id},
        headers=headers(office),
    )
    assert moved.status_code == 200
    changed = client.get(url, headers=carrier_headers(west) | {"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag
    assert stop in [s["stop_id"] for s in changed.json["stops"]]


def test_scanning_finds_only_items_on_ones_own_route(client, office):  # noqa: F811
    plan = published(client, office)
    west, east = office["carriers"]["west"], office["carriers"]["east"]
    mine = db.session.get(MailItem, _item_of(plan, west.id))
    theirs = db.session.get(MailItem, _item_of(plan, east.id))
    url = "/api/v1/carrier/items/{}?day=" + DAY.isoformat()
    found = client.get(url.format(mine.registered_number), headers=carrier_headers(west))
    assert found.status_code == 200 and found.json["registered_number"] == mine.registered_number
    spaced = (
        f"{mine.registered_number[:3]}-{mine.registered_number[3:7]} {mine.registered_number[7:]}"
    )
    assert client.get(url.format(spaced), headers=carrier_headers(west)).status_code == 200
    other = client.get(url.format(theirs.registered_number), headers=carrier_headers(west))
    assert other.status_code == 404
    wrong = mine.registered_number[:-1] + str((int(mine.registered_number[-1]) + 1) % 10)
    bad = client.get(url.format(wrong), headers=carrier_headers(west))
    assert bad.status_code == 422 and "registered_number" in bad.json["error"]["fields"]
    social = client.get(
        url.format(mine.registered_number), headers=office["tenant"].headers(Role.SOCIAL_WORKER)
    )
    assert social.status_code == 404


def _item_of(plan: dict, carrier_id: int) -> int:
    route = next(r for r in plan["routes"] if r["carrier_id"] == carrier_id)
    number = route["stops"][0]["registered_number"]
    return db.session.scalar(sa.select(MailItem.id).where(MailItem.registered_number == number))
