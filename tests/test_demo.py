"""`flask demo load`: the fictitious demo district, loaded once, with working logins."""

from __future__ import annotations

import re

import sqlalchemy as sa

from core.auth.models import Account
from core.db import db
from municipalities.models import Household, Municipality
from routing.demo import DEMO_PASSWORD
from routing.models import Carrier, CarrierDistrict, DeliveryOffice

MODELS = (Municipality, DeliveryOffice, CarrierDistrict, Carrier, Account, Household)
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
