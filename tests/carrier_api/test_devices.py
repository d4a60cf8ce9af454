"""Carriers' phones: enrolment codes, rotating device tokens, revocation at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from carrier_api.models import Device, EnrolmentCode
from core.auth.models import Account, PermissionEvent
from core.auth.roles import Role
from core.db import db, utcnow
from tests.support.factories import auth, make_carrier


@pytest.fixture
def carrier(world):
    carrier = make_carrier(world.a.office)
    db.session.commit()
    return carrier


def issue_code(client, world, carrier, tenant=None) -> dict:
    tenant = tenant or world.a
    return client.post(
        f"/api/v1/carriers/{carrier.id}/enrolment-codes", headers=tenant.headers(Role.DISPATCHER)
    )


def enrol(client, code: str, label: str = "집배원 휴대폰"):
    return client.post(
        "/api/v1/devices/enrol", json={"code": code, "label": label, "platform": "android"}
    )


def enrolled(client, world, carrier) -> dict:
    code = issue_code(client, world, carrier).json["code"]
    response = enrol(client, code)
    assert response.status_code == 201, response.json
    return response.json


def test_a_code_enrols_one_phone_once_and_its_token_acts_as_the_carrier(client, world, carrier):
    issued = issue_code(client, world, carrier)
    assert issued.status_code == 201
    code = issued.json["code"]
    assert len(code) == 11 and code[5] == "-"
    typed = code.replace("-", " ").lower()  # typed on a phone: case and separators don't matter
    credentials = enrol(client, typed)
    assert credentials.status_code == 201, credentials.json
    me = client.get("/api/v1/auth/me", headers=auth(credentials.json["access_token"]))
    assert me.status_code == 200 and me.json["id"] == carrier.account_id
    again = enrol(client, code)
    assert again.status_code == 401 and again.json["error"]["code"] == "enrolment_failed"
    stored = db.session.scalars(sa.select(EnrolmentCode.code_hash)).all()
    assert code.replace("-", "") not in stored  # only hashes are kept


def test_an_expired_or_unknown_code_is_refused_with_one_message(client, world, carrier):
    code = issue_code(client, world, carrier).json["code"]
    row = db.session.scalar(sa.select(EnrolmentCode).order_by(EnrolmentCode.id.desc()))
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    expired, unknown = enrol(client, code), enrol(client, "AAAAA-AAAAA")
    assert expired.status_code == unknown.status_code == 401
    assert expired.json == unknown.json


def test_refresh_rotates_and_a_replayed_refresh_token_cuts_the_device_off(client, world, carrier):
    first = enrolled(client, world, carrier)
    second = client.post("/api/v1/devices/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    fresh = second.json
    assert (
        fresh["refresh_token"] != first["refresh_token"]
        and fresh["device_id"] == first["device_id"]
    )
    assert client.get("/api/v1/auth/me", headers=auth(fresh["access_token"])).status_code == 200
    stolen = client.post("/api/v1/devices/refresh", json={"refresh_token": first["refresh_token"]})
    assert stolen.status_code == 401 and stolen.json["error"]["code"] == "refresh_failed"
    # The copy was used: the device is revoked, so even the newest tokens stop working.
    assert client.get("/api/v1/auth/me", headers=auth(fresh["access_token"])).status_code == 401
    late = client.post("/api/v1/devices/refresh", json={"refresh_token": fresh["refresh_token"]})
    assert late.status_code == 401
    assert db.session.get(Device, first["device_id"]).revoked_at is not None


def test_a_revoked_device_is_refused_on_its_next_request(client, world, carrier):
    credentials = enrolled(client, world, carrier)
    headers = auth(credentials["access_token"])
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    dispatcher = world.a.headers(Role.DISPATCHER)
    listed = client.get(f"/api/v1/carriers/{carrier.id}/devices", headers=dispatcher).json
    assert [d["id"] for d in listed] == [credentials["device_id"]] and not listed[0]["revoked_at"]
    revoked = client.post(f"/api/v1/devices/{credentials['device_id']}/revoke", headers=dispatcher)
    assert revoked.status_code == 200 and revoked.json["revoked_at"]
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    refreshed = client.post(
        "/api/v1/devices/refresh", json={"refresh_token": credentials["refresh_token"]}
    )
    assert refreshed.status_code == 401
    actions = db.session.scalars(
        sa.select(PermissionEvent.action).where(PermissionEvent.account_id == carrier.account_id)
    ).all()
    assert {"device_enrol", "device_revoke"} <= set(actions)


def test_disabling_the_carrier_stops_its_phones(client, world, carrier):
    credentials = enrolled(client, world, carrier)
    account = db.session.get(Account, carrier.account_id)
    response = client.patch(
        f"/api/v1/accounts/{account.id}", json={"is_active": False}, headers=world.admin_headers()
    )
    assert response.status_code == 200, response.json
    assert (
        client.get("/api/v1/auth/me", headers=auth(credentials["access_token"])).status_code == 401
    )


def test_another_offices_dispatcher_cannot_issue_codes_or_revoke(client, world, carrier):
    assert issue_code(client, world, carrier, tenant=world.b).status_code == 404
    credentials = enrolled(client, world, carrier)
    other = client.post(
        f"/api/v1/devices/{credentials['device_id']}/revoke",
        headers=world.b.headers(Role.DISPATCHER),
    )
    assert other.status_code == 404
    social = client.post(
        f"/api/v1/carriers/{carrier.id}/enrolment-codes",
        headers=world.a.headers(Role.SOCIAL_WORKER),
    )
    assert social.status_code == 404


def test_the_phone_registers_its_push_token_and_an_account_token_cannot(client, world, carrier):
    credentials = enrolled(client, world, carrier)
    url = "/api/v1/devices/me/fcm-token"
    registered = client.put(
        url, json={"token": "fcm-registration-token"}, headers=auth(credentials["access_token"])
    )
    assert registered.status_code == 200 and registered.json["push_registered"] is True
    assert db.session.get(Device, credentials["device_id"]).fcm_token == "fcm-registration-token"
    account_token = client.put(url, json={"token": "x"}, headers=world.a.headers(Role.CARRIER))
    assert account_token.status_code == 403


def test_a_municipal_admin_enrols_a_social_workers_phone_for_alerts(client, world):
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    url = f"/api/v1/accounts/{worker.id}/enrolment-codes"
    issued = client.post(url, headers=world.a.headers(Role.MUNICIPAL_ADMIN))
    assert issued.status_code == 201 and issued.json["account_id"] == worker.id
    credentials = enrol(client, issued.json["code"])
    assert credentials.status_code == 201
    me = client.get("/api/v1/auth/me", headers=auth(credentials.json["access_token"]))
    assert me.json["id"] == worker.id
    for headers in (world.b.headers(Role.MUNICIPAL_ADMIN), world.a.headers(Role.SOCIAL_WORKER)):
        assert client.post(url, headers=headers).status_code == 404
    carrier = world.a.accounts[Role.CARRIER]
    other = client.post(
        f"/api/v1/accounts/{carrier.id}/enrolment-codes",
        headers=world.a.headers(Role.MUNICIPAL_ADMIN),
    )
    assert other.status_code == 404


def test_enrolment_and_refresh_are_rate_limited_per_address(app, client):
    # Guessing codes or refresh tokens from one address runs into the limit (wrong ones count).
    previous = app.config["RATELIMIT_DEVICE_AUTH"]
    app.config["RATELIMIT_DEVICE_AUTH"] = "3 per minute"
    refresh = {"refresh_token": "wpr_guess"}
    try:
        enrolments = [enrol(client, f"WRONG-{n:05d}").status_code for n in range(4)]
        refreshes = [
            client.post("/api/v1/devices/refresh", json=refresh).status_code for _ in range(4)
        ]
    finally:
        app.config["RATELIMIT_DEVICE_AUTH"] = previous
    # Each endpoint has its own budget.
    assert enrolments == [401, 401, 401, 429]
    assert refreshes == [401, 401, 401, 429]
