"""The social worker's desk for page tests: a carrier with welfare visits to upload, and sign-in.

`set_up_desk` only flushes (like the factories): the page tests run it in their rolled-back
transaction, the browser tests in a database of their own and then commit.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from core.auth.models import Account, StaffSession
from core.auth.roles import Role
from core.auth.services import issue_token
from core.clock import seoul_today
from core.db import db, utcnow
from tests.carrier_api.test_visits import INTERVIEW, OBSERVATION
from tests.support.factories import (
    PASSWORD,
    World,
    build_world,
    make_account,
    make_carrier,
    make_district,
    make_due_item,
    publish_routes,
    square,
)

#: An absent household with three signs of trouble: the form's emergency rules fire.
EMERGENCY = OBSERVATION | {"bad_smell": True, "lights_tv_on_absent": True, "mail_piling": True}
COLLEAGUE = "김동료"
#: A browser's Accept header: errors come back as pages, not JSON.
HTML = {"Accept": "text/html"}


@dataclass
class Desk:
    world: World
    colleague: Account
    carrier_token: str
    numbers: list[str]

    @property
    def social_worker(self) -> Account:
        return self.world.a.accounts[Role.SOCIAL_WORKER]


def set_up_desk(visits: int = 4) -> Desk:
    """Two tenants; in a's office a carrier's published route of `visits` welfare items today."""
    world = build_world()
    tenant = world.a
    colleague = make_account(
        Role.SOCIAL_WORKER, municipality_id=tenant.municipality.id, display_name=COLLEAGUE
    )
    district = make_district(tenant.office, square(126.95, 37.50, 0.02))
    carrier = make_carrier(tenant.office, district)
    items = [
        make_due_item(
            tenant,
            (126.951 + 0.001 * n, 37.505),
            seoul_today(),
            district,
            status="out_for_delivery",
        )
        for n in range(visits)
    ]
    publish_routes(tenant.office, seoul_today(), {carrier: items})
    numbers = [item.registered_number for item in items]
    token = issue_token(db.session.get(Account, carrier.account_id))
    return Desk(world=world, colleague=colleague, carrier_token=token, numbers=numbers)


def visit(number: str, *, emergency: bool = True) -> dict:
    """A carrier's upload: nobody home and an emergency, or a delivery with an urgent survey."""
    answers, outcome = (EMERGENCY, "absent") if emergency else (INTERVIEW, "delivered")
    return {
        "client_uuid": str(uuid.uuid4()),
        "registered_number": number,
        "outcome": outcome,
        "recorded_at": utcnow().isoformat(),
        "location": [126.951, 37.505],
        "accuracy_m": 10.0,
        "survey": {"form": "wellbeing", "version": 1, "answers": answers},
    }


def carrier_headers(token: str, body: dict) -> dict[str, str]:
    """The carrier phone's headers for uploading `body`."""
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": body["client_uuid"]}


def upload_visit(client, desk: Desk, number: str, *, emergency: bool = True) -> dict:
    """A carrier's visit through the carrier API, stored (201); the session sees what it made."""
    body = visit(number, emergency=emergency)
    response = client.post(
        "/api/v1/carrier/visits", json=body, headers=carrier_headers(desk.carrier_token, body)
    )
    assert response.status_code == 201, response.json
    db.session.expire_all()
    return response.json


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def post_form(client, page: str, action: str, data: dict):
    """Post a form of `page` as the browser would: with the page's CSRF token."""
    token = csrf_of(client.get(page).text)
    return client.post(action, data=data | {"csrf_token": token}, headers=HTML)


def sign_in(client, account: Account) -> None:
    """Sign in to the staff pages with the test client."""
    token = csrf_of(client.get("/login").text)
    form = {"username": account.username, "password": PASSWORD, "csrf_token": token}
    assert client.post("/login", data=form).status_code == 302


def idle_out() -> None:
    """Make every staff page session look unused for longer than the idle timeout, as the
    server keeps it (the cookie holds no time to tamper with)."""
    idle = timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"] + 1)
    db.session.execute(sa.update(StaffSession).values(last_seen_at=utcnow() - idle))
    db.session.commit()  # the test's SAVEPOINT: the next request sees it


def page_routes(app, *blueprints: str) -> list[tuple[str, str]]:
    """Every page route of the blueprints with its method, integer arguments filled with 1."""
    found = []
    for rule in app.url_map.iter_rules():
        blueprint, _, name = rule.endpoint.partition(".")
        if blueprint in blueprints and name != "static":
            path = re.sub(r"<int:\w+>", "1", rule.rule)
            found += [(method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return found


def assert_pages_refused(client, routes, outsiders: list[Account], links: tuple[str, ...]) -> None:
    """Anonymous visitors are sent to sign in (a post has no CSRF token: refused first); each
    outsider gets 403 on every route and none of the pages' links in the navigation."""
    assert all("<" not in path for _, path in routes)
    for method, path in routes:
        anonymous = client.open(path, method=method, data={}, headers=HTML)
        assert anonymous.status_code == (302 if method == "GET" else 400), path
    for account in outsiders:
        sign_in(client, account)
        token = csrf_of(client.get("/").text)
        for method, path in routes:
            response = client.open(path, method=method, data={"csrf_token": token}, headers=HTML)
            assert response.status_code == 403, (account.role, method, path)
        home = client.get("/").text
        assert not [link for link in links if link in home]
        client.post("/logout", data={"csrf_token": token})
