"""`flask demo load`: the fictitious demo district, loaded once, with working logins."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from core.auth.models import Account
from core.db import db
from core.outbox import deliver_due
from demo.cli import DEMO_PASSWORD
from municipalities.models import Household, Municipality
from postal.models import Carrier, CarrierDistrict, DeliveryOffice
from routing.models import OfficeItem

MODELS = (Municipality, DeliveryOffice, CarrierDistrict, Carrier, Account, Household, OfficeItem)
LOGIN_LINE = re.compile(
    r"^  (\S+)\s+(system_admin|municipal_admin|social_worker|dispatcher|auditor|carrier)\s", re.M
)


def counts() -> dict[str, int]:
    return {
        model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in MODELS
    }


def test_demo_load_builds_the_district_once_with_working_logins(runner, client):
    before = counts()

    result = runner.invoke(args=["demo", "load"])

    assert result.exit_code == 0, result.output
    added = {name: count - before[name] for name, count in counts().items()}
    assert added["Municipality"] == 1 and added["DeliveryOffice"] == 1
    assert 8 <= added["CarrierDistrict"] <= 10
    assert added["Carrier"] == 10
    assert 450 <= added["Household"] <= 550
    assert added["Account"] == 6 + 10  # staff of every role and the carriers
    assert added["OfficeItem"] == 300  # the next working day's registered mail, to plan

    municipality = db.session.scalar(sa.select(Municipality).order_by(Municipality.id.desc()))
    statuses = db.session.execute(
        sa.select(Household.assignment_status, sa.func.count())
        .where(Household.municipality_id == municipality.id)
        .group_by(Household.assignment_status)
    ).all()
    assert dict(statuses) == {"assigned": added["Household"]}
    office = db.session.scalar(sa.select(DeliveryOffice).order_by(DeliveryOffice.id.desc()))
    homes = db.session.scalars(
        sa.select(CarrierDistrict.office_id).join(
            Carrier, Carrier.home_district_id == CarrierDistrict.id
        )
    ).all()
    assert homes == [office.id] * 10

    logins = LOGIN_LINE.findall(result.output)
    assert DEMO_PASSWORD in result.output
    assert {role for _, role in logins} == {
        "system_admin",
        "municipal_admin",
        "social_worker",
        "dispatcher",
        "auditor",
        "carrier",
    }
    db.session.commit()
    for username, role in logins:
        response = client.post(
            "/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD}
        )
        assert response.status_code == 201, (username, response.json)
        assert response.json["account"]["role"] == role

    # The social worker sees the demo households, already assigned to districts.
    worker = next(username for username, role in logins if role == "social_worker")
    token = client.post(
        "/api/v1/auth/token", json={"username": worker, "password": DEMO_PASSWORD}
    ).json["token"]
    listed = client.get(
        "/api/v1/households?assignment_status=assigned",
        headers={"Authorization": f"Bearer {token}"},
    ).json
    assert listed["meta"]["total"] == added["Household"]

    loaded = counts()
    again = runner.invoke(args=["demo", "load"])

    assert again.exit_code == 0, again.output
    assert "already loaded" in again.output
    assert LOGIN_LINE.findall(again.output) == logins
    assert counts() == loaded


def test_demo_load_refuses_in_production(app, runner, monkeypatch):
    monkeypatch.setitem(app.config, "ENV", "production")
    before = counts()

    result = runner.invoke(args=["demo", "load"])

    assert result.exit_code != 0
    assert "production" in result.output
    assert DEMO_PASSWORD not in result.output
    assert counts() == before


@pytest.mark.slow
def test_the_demo_dispatcher_plans_a_day_of_the_demo_office(runner, client):
    assert runner.invoke(args=["demo", "load"]).exit_code == 0
    day = "2031-03-04"
    added = runner.invoke(args=["demo", "day", "--day", day, "--items", "120"])
    assert added.exit_code == 0 and "120 registered items for 2031-03-04" in added.output
    db.session.commit()
    token = client.post(
        "/api/v1/auth/token", json={"username": "gaon.dispatch", "password": DEMO_PASSWORD}
    ).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    office = client.get("/api/v1/offices", headers=headers).json["items"][0]
    items = client.get(f"/api/v1/offices/{office['id']}/items?day={day}", headers=headers).json
    assert len(items) == 120 and all(i["district_id"] for i in items)
    job = client.post(
        f"/api/v1/offices/{office['id']}/plans",
        json={"day": day, "time_limit_s": 3},
        headers=headers,
    )
    assert job.status_code == 202 and job.json["stops"] == 120
    assert deliver_due().sent == 1
    plan = client.get(job.headers["Location"], headers=headers).json
    assert plan["status"] == "ready" and plan["unassigned"] == 0
    served = [s for r in plan["routes"] for s in r["stops"]]
    assert len(served) == 120
    # Carriers keep to their home districts unless it is not worth it.
    homes = {
        c["id"]: c["home_district_id"]
        for c in client.get(f"/api/v1/offices/{office['id']}/carriers", headers=headers).json
    }
    at_home = sum(
        s["district_id"] == homes[r["carrier_id"]] for r in plan["routes"] for s in r["stops"]
    )
    assert at_home >= 0.8 * len(served)
