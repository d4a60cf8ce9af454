"""Tenant isolation and authorization over the whole API (OWASP API1 BOLA, API5 function level).

The routes come from app.url_map, not from a list written here: a new route whose argument
this file cannot map, or whose body it does not know, fails the test instead of being skipped.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask
from werkzeug.routing import Rule

from core.auth.roles import Role
from core.auth.services import issue_token
from core.clock import seoul_today
from core.db import db
from core.errors import Forbidden, NotFound, Unauthorized
from municipalities.mail.models import MailItem
from municipalities.mail.registered_numbers import make_number
from municipalities.mail.services import next_working_day
from postal.models import Carrier
from routing.models import OfficeItem, PlanRoute, PlanStop, RoutePlan
from routing.plans.handout import hand_out
from tests.support.factories import PASSWORD, World, auth, square
from tests.support.household_file_builders import to_csv, valid_rows
from welfare_checks import access_review

API = "/api/v1"
TENANT_ROLES = (
    Role.MUNICIPAL_ADMIN,
    Role.SOCIAL_WORKER,
    Role.AUDITOR,
    Role.DISPATCHER,
    Role.CARRIER,
)
ALL_ROLES = (Role.SYSTEM_ADMIN, *TENANT_ROLES)
#: Arguments naming what a system admin runs for every tenant: the postal network and accounts.
ADMIN_SEES = frozenset(
    {"office_id", "district_id", "carrier_id", "account_id", "municipality_id", "device_id"}
)
#: Routes anyone may call with an object's key, by design (rule -> why).
PUBLIC_RULES = {
    f"{API}/tracking/<string:registered_number>": "public tracking: status only, name masked",
    f"{API}/carrier/forms/<string:form_id>": "survey forms: the same for every tenant",
    f"{API}/carrier/forms/<string:form_id>/<int:version>": "survey forms: the same for everyone",
}
NOT_FOUND = {"error": {"code": "not_found", "message": NotFound.message, "fields": {}}}
FORBIDDEN = {"error": {"code": "forbidden", "message": Forbidden.message, "fields": {}}}
UNAUTHORIZED = {"error": {"code": "unauthorized", "message": Unauthorized.message, "fields": {}}}
_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
_serial = itertools.count(1)


@dataclass
class Seeded:
    """One tenant's objects: route argument name -> keys, and the text that identifies them."""

    keys: dict[str, list[Any]]
    texts: set[str]

    def first(self) -> dict[str, Any]:
        """One key per argument (the first: for accounts, a spare one nobody acts as)."""
        return {name: values[0] for name, values in self.keys.items()}


def _ok(response, status: int) -> Any:
    assert response.status_code == status, (response.request.path, response.get_json())
    return response.get_json()


def seed(client, world: World, tenant) -> Seeded:
    """Create one of everything a route can name, in the tenant's municipality and office."""
    n = next(_serial)
    office = tenant.office
    admin, social = world.admin_headers(), tenant.headers(Role.SOCIAL_WORKER)
    # Two households: one is mailed (items, batch), the other waits in a draft mailing.
    households = [
        _ok(
            client.post(
                f"{API}/households",
                json={
                    "name": f"주민{n}{i}호",
                    "road_address": f"서울특별시 격리구 비밀로 {n}{i}0",
                    "address_detail": f"{n}동 {n}0{i}호",
                    "phone": f"010-7{n:03d}-{n:03d}{i}",
                    "household_type": "single_elderly",
                    "note": f"비공개 메모 {n}-{i}",
                    # The depot lies inside the tenant's one district.
                    "location": [office.depot_lon, office.depot_lat],
                },
                headers=social,
            ),
            201,
        )
        for i in (1, 2)
    ]
    districts = _ok(client.get(f"{API}/offices/{office.id}/districts", headers=admin), 200)
    carrier = _ok(
        client.post(f"{API}/offices/{office.id}/carriers", json=new_carrier(), headers=admin), 201
    )
    spare = _ok(
        client.post(
            f"{API}/accounts",
            json=new_account(tenant.municipality.id) | {"display_name": f"예비 계정 {n}"},
            headers=admin,
        ),
        201,
    )
    template = _ok(
        client.post(
            f"{API}/letter-templates",
            json={
                "name": f"안내문 {n}",
                "body": f"{{addressee}}님께 드리는 비공개 안내 {n}",
                "contact": f"복지팀 02-555-{n:04d}",
            },
            headers=social,
        ),
        201,
    )
    mailing, draft = (
        _ok(
            client.post(
                f"{API}/mailings",
                json={
                    "title": f"격리 시험 발송 {n}-{household['id']}",
                    "template_id": template["id"],
                    "selection": {"household_ids": [household["id"]]},
                    "send_date": next_working_day(seoul_today()).isoformat(),
                },
                headers=social,
            ),
            201,
        )
        for household in households
    )
    _ok(client.post(f"{API}/mailings/{mailing['id']}/submit", headers=social), 200)
    batch = _ok(client.get(f"{API}/mailings/{mailing['id']}/batches", headers=social), 200)[0]
    items = client.get(f"{API}/mail-items?mailing_id={mailing['id']}", headers=social)
    item = _ok(items, 200)["items"][0]
    webhook = _ok(
        client.post(
            f"{API}/webhooks",
            json={"url": f"https://hooks{n}.example.org/in", "secret": "s3cret-" * 4},
            headers=tenant.headers(Role.MUNICIPAL_ADMIN),
        ),
        201,
    )
    dispatcher = tenant.headers(Role.DISPATCHER)
    office_item = _ok(
        client.post(
            f"{API}/offices/{office.id}/items",
            json={
                "day": PLAN_DAY,
                "items": [office_item_body([office.depot_lon, office.depot_lat])],
            },
            headers=dispatcher,
        ),
        201,
    )[0]
    plan = _ok(
        client.post(f"{API}/offices/{office.id}/plans", json={"day": PLAN_DAY}, headers=dispatcher),
        202,
    )
    # Two jobs, queued: the municipality's household import and the office's item import.
    household_job = _ok(
        send(
            client,
            f"{API}/households/imports",
            "POST",
            social,
            BODIES[("/households/imports", "POST")]({}) | {"query_string": {"dry_run": "false"}},
        ),
        202,
    )
    item_job = _ok(
        send(
            client,
            f"{API}/offices/{office.id}/items/imports",
            "POST",
            dispatcher,
            office_item_file(),
        ),
        202,
    )
    stops = _ok(client.get(f"{API}/plans/{plan['id']}", headers=dispatcher), 200)[
        "unassigned_stops"
    ]
    publish_for_the_tenants_carrier(tenant, plan["id"], stops[0]["id"], item["id"])
    visit = visit_body({"registered_number": item["registered_number"]}, single=True)
    _ok(send(client, f"{API}/carrier/visits", "POST", tenant.headers(Role.CARRIER), visit), 201)
    report = _ok(client.get(f"{API}/check-reports", headers=social), 200)["items"][0]
    alert = _ok(client.get(f"{API}/alerts", headers=social), 200)["items"][0]
    case = _ok(client.get(f"{API}/cases", headers=social), 200)["items"][0]
    # The month so far: its staff (usernames in texts) must not leak to another tenant.
    review = access_review.create_review(tenant.municipality.id, seoul_today())
    db.session.commit()
    code = _ok(client.post(f"{API}/carriers/{carrier['id']}/enrolment-codes", headers=admin), 201)
    device = _ok(
        client.post(
            f"{API}/devices/enrol", json={"code": code["code"], "label": f"격리 휴대폰 {n}"}
        ),
        201,
    )
    accounts = [
        spare,
        {"id": carrier["account_id"], "username": carrier["username"], "display_name": ""},
        *(
            {"id": a.id, "username": a.username, "display_name": a.display_name}
            for a in tenant.accounts.values()
        ),
    ]
    keys = {
        "household_id": [h["id"] for h in households],
        "account_id": [a["id"] for a in accounts],
        "office_id": [office.id],
        "district_id": [d["id"] for d in districts],
        "carrier_id": [carrier["id"]],
        "municipality_id": [tenant.municipality.id],
        "template_id": [template["id"]],
        "mailing_id": [draft["id"], mailing["id"]],
        "batch_id": [batch["id"]],
        "item_id": [item["id"]],
        "endpoint_id": [webhook["id"]],
        "registered_number": [item["registered_number"]],
        "plan_id": [plan["id"]],
        "stop_id": [stops[0]["id"]],
        "device_id": [device["device_id"]],
        "client_uuid": [visit["json"]["client_uuid"]],
        "report_id": [report["id"]],
        "alert_id": [alert["id"]],
        "case_id": [case["id"]],
        "review_id": [review.id],
        "job_id": [household_job["id"], item_job["id"]],
    }
    texts = {
        *(h[k] for h in households for k in ("name", "phone", "road_address", "address_detail")),
        *(h["note"] for h in households),
        *(a["username"] for a in accounts),
        *(a["display_name"] for a in accounts if a["display_name"]),
        spare["email"],
        tenant.municipality.code,
        tenant.municipality.name,
        office.code,
        office.name,
        office.road_address,
        *(d["code"] for d in districts),
        *(d["name"] for d in districts),
        carrier["employee_no"],
        carrier["display_name"],
        template["name"],
        template["body"],
        template["contact"],
        mailing["title"],
        draft["title"],
        item["registered_number"],
        webhook["url"],
        office_item["registered_number"],
        office_item["road_address"],
        f"격리 휴대폰 {n}",
    }
    return Seeded(keys, texts)


def new_carrier() -> dict:
    """A valid carrier-create body with a fresh username and employee number."""
    n = next(_serial)
    return {
        "username": f"tenancy.carrier{n}",
        "display_name": f"격리 집배원 {n}",
        "password": PASSWORD,
        "employee_no": f"TC-{n:05d}",
        "home_district_id": None,
    }


def new_account(municipality_id: int) -> dict:
    """A valid account-create body: a social worker of the municipality."""
    n = next(_serial)
    return {
        "username": f"tenancy.worker{n}",
        "display_name": f"격리 담당자 {n}",
        "password": PASSWORD,
        "role": "social_worker",
        "municipality_id": municipality_id,
        "email": f"tenancy.worker{n}@city.example.go.kr",
    }


def far_districts() -> dict:
    """A valid districts upload: one new square far from every other district."""
    n = next(_serial)
    feature = {
        "type": "Feature",
        "properties": {"code": f"TEN{n}", "name": f"격리 구역 {n}"},
        "geometry": square(128.0 + 0.05 * (n % 40), 35.5, 0.01),
    }
    return {"type": "FeatureCollection", "features": [feature]}


Body = Callable[[dict[str, Any]], dict[str, Any]]


# Today: the carrier app's routes and scans default to today.
PLAN_DAY = next_working_day(seoul_today()).isoformat()


def office_item_body(location: list[float]) -> dict:
    """A valid office item with a fresh registered number."""
    return {
        "registered_number": make_number(2026, next(_serial), "9"),
        "addressee": "격리 수취인",
        "road_address": f"서울특별시 격리구 등기로 {next(_serial)}",
        "location": location,
    }


def office_item_file() -> dict:
    """A valid one-item CSV upload for the plan day."""
    number = make_number(2026, next(_serial), "9")
    text = f"등기번호,수취인,도로명주소,경도,위도\n{number},수취인,주소 1,126.96,37.51\n"
    return {
        "query_string": {"day": PLAN_DAY},
        "data": {"file": (io.BytesIO(text.encode()), "items.csv")},
        "content_type": "multipart/form-data",
    }


def publish_for_the_tenants_carrier(tenant, plan_id: int, stop_id: int, item_id: int) -> None:
    """Put the stop and the mailed item on the tenant's carrier's route; publish the plan.

    (Set directly: solving belongs to the planning tests; here the route only has to exist.)
    """
    account = tenant.accounts[Role.CARRIER]
    carrier = Carrier(account_id=account.id, employee_no=f"T{account.id:06d}")
    db.session.add(carrier)
    db.session.flush()
    db.session.add(
        PlanRoute(
            plan_id=plan_id,
            carrier_id=carrier.id,
            profile="motorbike",
            shift_start_s=32_400,
            shift_end_s=64_800,
            lunch_s=3600,
        )
    )
    stop = db.session.get(PlanStop, stop_id)
    stop.carrier_id, stop.position, stop.arrival_s = carrier.id, 0, 36_000
    item = db.session.get(MailItem, item_id)
    db.session.add(
        PlanStop(
            plan_id=plan_id,
            kind="welfare",
            mail_item_id=item.id,
            household_id=item.household_id,
            lon=stop.lon,
            lat=stop.lat,
            service_s=600,
            priority=60,
            carrier_id=carrier.id,
            position=1,
        )
    )
    plan = db.session.get(RoutePlan, plan_id)
    # Today's route, whatever day this runs on: the carrier's route and scan default to today.
    plan.status, plan.day = "published", seoul_today()
    db.session.flush()
    hand_out(plan, None)
    db.session.commit()


def visit_body(keys: dict[str, Any], *, single: bool = False) -> dict[str, Any]:
    """A valid visit to the seeded welfare item, with a fresh key (and its header if single)."""
    key = str(uuid.uuid4())
    record = {
        "client_uuid": key,
        "registered_number": keys.get("registered_number", "7260000000019"),
        "outcome": "delivered",
        "recorded_at": "2026-11-24T10:00:00+09:00",
        "location": [126.96, 37.51],
        "accuracy_m": 10.0,
        "survey": {
            "form": "wellbeing",
            "version": 1,
            "answers": {
                "contact": "met_addressee",
                "meals": "skipping",  # urgent: the visit raises an alert
                "mobility_difficulty": False,
                "consent_contact": True,
                "emergency_now": False,
            },
        },
    }
    return {"json": record, "headers": {"Idempotency-Key": key}} if single else {"json": record}


def no_body(keys: dict[str, Any]) -> dict[str, Any]:
    """No request body at all."""
    return {}


# Keyword arguments for client.open: a syntactically valid body for every route that takes one,
# so a refusal is about who asks, not about what they sent. Keys are rules without the prefix.
BODIES: dict[tuple[str, str], Body] = {
    # routes with an id
    ("/accounts/<int:account_id>", "PATCH"): lambda k: {"json": {"display_name": "바뀐 이름"}},
    ("/accounts/<int:account_id>/revoke-sessions", "POST"): no_body,
    ("/accounts/<int:account_id>/unlock", "POST"): no_body,
    ("/accounts/<int:account_id>/password", "POST"): lambda k: {
        "json": {"password": "a brand new passphrase 88"}
    },
    ("/municipalities/<int:municipality_id>", "PATCH"): lambda k: {"json": {"name": "바뀐 시"}},
    ("/municipalities/<int:municipality_id>/sender", "PATCH"): lambda k: {
        "json": {"contact_person": "바뀐 담당자"}
    },
    ("/households/<int:household_id>", "PATCH"): lambda k: {"json": {"version": 1, "note": "새"}},
    ("/households/<int:household_id>/close", "POST"): lambda k: {"json": {"reason": "moved"}},
    ("/mailings/<int:mailing_id>/submit", "POST"): no_body,
    ("/webhooks/<int:endpoint_id>", "PATCH"): lambda k: {"json": {"is_active": False}},
    ("/offices/<int:office_id>", "PATCH"): lambda k: {"json": {"name": "바뀐 우체국"}},
    ("/offices/<int:office_id>/districts", "PUT"): lambda k: {"json": far_districts()},
    ("/offices/<int:office_id>/carriers", "POST"): lambda k: {"json": new_carrier()},
    ("/carriers/<int:carrier_id>", "PATCH"): lambda k: {"json": {"home_district_id": None}},
    ("/letter-batches/<int:batch_id>/receive", "POST"): no_body,
    ("/carriers/<int:carrier_id>/enrolment-codes", "POST"): no_body,
    ("/accounts/<int:account_id>/enrolment-codes", "POST"): no_body,
    ("/devices/<int:device_id>/revoke", "POST"): no_body,
    ("/devices/me/fcm-token", "PUT"): lambda k: {"json": {"token": "fcm-token"}},
    ("/carrier/visits", "POST"): lambda k: visit_body(k, single=True),
    ("/alerts/<int:alert_id>/acknowledge", "POST"): no_body,
    ("/on-duty", "PUT"): lambda k: {"json": {"account_ids": []}},
    ("/cases/<int:case_id>", "PATCH"): lambda k: {"json": {"version": 1, "owner_id": None}},
    ("/cases/<int:case_id>/notes", "POST"): lambda k: {"json": {"text": "격리 메모"}},
    ("/cases/<int:case_id>/reopen", "POST"): lambda k: {"json": {"version": 1}},
    ("/case-policy", "PUT"): lambda k: {"json": {"open_on_watch": False}},
    ("/access-reviews/<int:review_id>/check", "POST"): lambda k: {"json": {"note": "점검 확인"}},
    ("/exports", "POST"): lambda k: {
        "json": {"kind": "cases", "from": PLAN_DAY, "to": PLAN_DAY, "reason": "격리 시험 내보내기"}
    },
    ("/carrier/visits/batch", "POST"): lambda k: {"json": {"records": [visit_body(k)["json"]]}},
    ("/offices/<int:office_id>/plans", "POST"): lambda k: {"json": {"day": PLAN_DAY}},
    ("/offices/<int:office_id>/items", "POST"): lambda k: {
        "json": {"day": PLAN_DAY, "items": [office_item_body([126.96, 37.51])]}
    },
    ("/offices/<int:office_id>/items/imports", "POST"): lambda k: office_item_file(),
    ("/plans/<int:plan_id>/stops/<int:stop_id>", "PATCH"): lambda k: {
        "json": {"version": 1, "locked": False}
    },
    ("/plans/<int:plan_id>/optimise", "POST"): lambda k: {"json": {"version": 1}},
    ("/plans/<int:plan_id>/publish", "POST"): lambda k: {"json": {"version": 1}},
    ("/plans/<int:plan_id>/urgent", "POST"): lambda k: {
        "json": {"version": 1, "item_id": k.get("item_id", 1)}
    },
    ("/mail-items/<int:item_id>/events", "POST"): lambda k: {
        "json": {"code": "out_for_delivery", "place": None, "detail": None}
    },
    # routes without an id
    ("/auth/token", "DELETE"): no_body,
    ("/auth/me", "PATCH"): lambda k: {"json": {"email": "me@city.example.go.kr"}},
    ("/auth/password", "POST"): lambda k: {
        "json": {"current_password": PASSWORD, "new_password": "another fine passphrase 77"}
    },
    ("/accounts", "POST"): lambda k: {"json": new_account(k["municipality_id"])},
    ("/municipalities", "POST"): lambda k: {
        "json": {"code": f"8{next(_serial):04d}", "name": f"새 시 {next(_serial)}"}
    },
    ("/households", "POST"): lambda k: {
        "json": {"name": f"새 주민 {next(_serial)}", "road_address": "서울특별시 새구 새길 1"}
    },
    ("/households/search", "POST"): lambda k: {"json": {}},
    ("/households/imports", "POST"): lambda k: {
        "data": {"file": (io.BytesIO(to_csv(valid_rows(2))), "households.csv")},
        "content_type": "multipart/form-data",
    },
    ("/letter-templates", "POST"): lambda k: {
        "json": {"name": "새 안내문", "body": "{addressee}님께", "contact": "복지팀"}
    },
    ("/mailings", "POST"): lambda k: {
        "json": {
            "title": "새 발송",
            "template_id": k["template_id"],
            "selection": {"household_ids": [k["household_id"]]},
            "send_date": next_working_day(seoul_today()).isoformat(),
        }
    },
    ("/webhooks", "POST"): lambda k: {
        "json": {"url": "https://new.example.org/hook", "secret": "another-secret-0123"}
    },
    ("/offices", "POST"): lambda k: {
        "json": {
            "code": f"NEW{next(_serial)}",
            "name": "새 우체국",
            "road_address": "서울특별시 새구 우정로 9",
            "depot": [127.2, 37.4],
        }
    },
}
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def api_routes(app: Flask, *, with_arguments: bool) -> list[tuple[Rule, str]]:
    """(rule, method) of every API route with (or without) arguments, HEAD/OPTIONS aside."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(f"{API}/") or rule.endpoint == "api-docs.openapi_json":
            continue
        if bool(rule.arguments) != with_arguments or rule.rule in PUBLIC_RULES:
            continue
        routes += [(rule, method) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


def short(rule: Rule) -> str:
    """The rule without the /api/v1 prefix (the key of BODIES and ALLOWED)."""
    return rule.rule.removeprefix(API)


def url(rule: Rule, keys: dict[str, Any]) -> str:
    """The rule's path with its arguments filled in."""
    return _ARGUMENT.sub(lambda m: str(keys[m.group(1)]), rule.rule)


def urls(rule: Rule, seeded: Seeded) -> Iterator[str]:
    """The rule's path for every combination of the seeded keys it names."""
    names = sorted(rule.arguments)
    for values in itertools.product(*(seeded.keys[name] for name in names)):
        yield url(rule, dict(zip(names, values, strict=True)))


def send(client, path: str, method: str, headers: dict | None, kwargs: dict[str, Any]):
    """client.open with the body's own headers (e.g. Idempotency-Key) added to the caller's."""
    kwargs = dict(kwargs)
    merged = {**(headers or {}), **kwargs.pop("headers", {})}
    return client.open(path, method=method, headers=merged, **kwargs)


def body(rule: Rule, method: str, keys: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for client.open with a valid body (none for GET)."""
    if method == "GET":
        return {}
    return BODIES[(short(rule), method)](keys)


def require_known(routes: list[tuple[Rule, str]], seeded: Seeded) -> None:
    """Fail on a route argument with no seeded object, or a write with no known body."""
    unmapped = sorted({a for rule, _ in routes for a in rule.arguments} - set(seeded.keys))
    assert not unmapped, f"route arguments with no object to try: {unmapped} (add them to seed())"
    bodiless = [
        f"{method} {short(rule)}"
        for rule, method in routes
        if method in WRITES and (short(rule), method) not in BODIES
    ]
    assert not bodiless, f"routes with no valid body in BODIES: {bodiless}"


def reached(response) -> bool:
    """The route found its object: 2xx, or a refusal that is not 401/403/422/the plain 404."""
    if response.status_code < 300:
        return True
    return response.status_code not in (401, 403, 422) and response.get_json() != NOT_FOUND


def answer_text(response) -> str:
    """The body as sent and, for JSON, with its escapes undone (Korean text is \\u-escaped)."""
    text = response.get_data(as_text=True)
    if response.is_json:
        text += json.dumps(response.get_json(), ensure_ascii=False)
    return text


def not_found_problems(response, texts: set[str], label: str) -> list[str]:
    """Why this answer is not the plain 404 a missing id gets (empty list: it is)."""
    problems = []
    if response.status_code != 404 or response.get_json() != NOT_FOUND:
        problems.append(f"{label}: {response.status_code} {response.get_data(as_text=True)[:200]}")
    body_text = answer_text(response)
    leaked = sorted(text for text in texts if text in body_text)
    if leaked:
        problems.append(f"{label}: leaked {leaked}")
    return problems


def test_no_object_of_another_municipality_is_reachable(client, world):
    """Every id route × every role of tenant a × tenant b's objects: the plain 404, no b data.

    The system admin runs the postal network and the accounts of every tenant, so it
    legitimately sees b's offices, districts, carriers, accounts and municipality (checked:
    GET answers 200); it never sees households or what carries them (mailings, items, batches,
    templates, webhooks), which answer it the plain 404 like everyone else. Every GET is also
    made with tenant a's own object, and every GET route must be reachable there by some role
    of a: the 404s come from tenancy, not from a route broken for everybody.
    """
    own, other = seed(client, world, world.a), seed(client, world, world.b)
    routes = api_routes(client.application, with_arguments=True)
    require_known(routes, other)
    problems: list[str] = []
    reachable: dict[str, set[Role]] = defaultdict(set)
    requests = 0
    for rule, method in routes:
        for role in TENANT_ROLES:
            headers = world.a.headers(role)
            for path in urls(rule, other):
                response = send(client, path, method, headers, body(rule, method, own.first()))
                requests += 1
                problems += not_found_problems(response, other.texts, f"{role} {method} {path}")
            if method == "GET":
                response = client.get(url(rule, own.first()), headers=headers)
                if reached(response):
                    reachable[rule.rule].add(role)
        admin = world.admin_headers()
        for path in urls(rule, other):
            if rule.arguments <= ADMIN_SEES:
                if method == "GET":
                    response = client.get(path, headers=admin)
                    assert response.status_code == 200, (path, response.get_json())
                continue
            response = send(client, path, method, admin, body(rule, method, {}))
            requests += 1
            problems += not_found_problems(response, other.texts, f"system_admin {method} {path}")

    print(f"tenancy matrix: {requests} requests, {len(problems)} leaks or non-404 answers")
    assert not problems, f"{len(problems)} of {requests} requests:\n" + "\n".join(problems[:60])
    assert requests > 100, f"tenancy matrix: only {requests} requests"
    unreachable = sorted({rule.rule for rule, m in routes if m == "GET"} - set(reachable))
    assert not unreachable, (
        f"GET routes no role of tenant a reaches with its own object: {unreachable}"
    )
    social = world.a.headers(Role.SOCIAL_WORKER)
    household = client.get(f"{API}/households/{own.first()['household_id']}", headers=social)
    assert (
        household.status_code == 200
        and household.json["municipality_id"] == world.a.municipality.id
    )
    assert Role.DISPATCHER in reachable[f"{API}/offices/<int:office_id>"]
    assert Role.MUNICIPAL_ADMIN in reachable[f"{API}/municipalities/<int:municipality_id>"]
    assert Role.CARRIER not in reachable[f"{API}/households/<int:household_id>"]


def test_own_objects_are_reachable_with_the_same_bodies(client, world):
    """The matrix's bodies are valid: every write reaches tenant a's own object for some actor."""
    own = seed(client, world, world.a)
    routes = api_routes(client.application, with_arguments=True)
    require_known(routes, own)
    keys = own.first()
    actors = {role: world.a.headers(role) for role in TENANT_ROLES}
    actors[Role.SYSTEM_ADMIN] = world.admin_headers()
    unreached = []
    for rule, method in routes:
        if method == "GET":
            continue
        path = url(rule, keys)
        answers = {
            role: send(client, path, method, headers, body(rule, method, keys))
            for role, headers in actors.items()
        }
        if not any(reached(response) for response in answers.values()):
            statuses = {str(role): response.status_code for role, response in answers.items()}
            unreached.append(f"{method} {path}: {statuses}")
    assert not unreached, "\n".join(unreached)


# Who may call each route without an id (from the code's intent). ANY: every signed-in role;
# STAFF: every role but the carrier's (carriers use the carrier app's endpoints only).
ANY = frozenset(ALL_ROLES)
STAFF = ANY - {Role.CARRIER}
READERS = frozenset({Role.MUNICIPAL_ADMIN, Role.SOCIAL_WORKER, Role.AUDITOR})
WRITERS = frozenset({Role.MUNICIPAL_ADMIN, Role.SOCIAL_WORKER})
ALLOWED: dict[tuple[str, str], frozenset[Role]] = {
    ("/auth/me", "GET"): ANY,
    ("/auth/me", "PATCH"): ANY,
    ("/auth/token", "DELETE"): ANY,
    ("/auth/password", "POST"): ANY,
    ("/accounts", "GET"): frozenset({Role.SYSTEM_ADMIN, Role.MUNICIPAL_ADMIN, Role.AUDITOR}),
    ("/accounts", "POST"): frozenset({Role.SYSTEM_ADMIN, Role.MUNICIPAL_ADMIN}),
    ("/municipalities", "GET"): STAFF,  # each sees its own; system admins all
    ("/municipalities", "POST"): frozenset({Role.SYSTEM_ADMIN}),
    ("/households", "GET"): READERS,
    ("/households", "POST"): WRITERS,
    ("/households/search", "POST"): READERS,
    ("/households/unassigned", "GET"): READERS,
    ("/households/imports", "POST"): WRITERS,
    ("/letter-templates", "GET"): STAFF,  # scoped: other roles get an empty page
    ("/letter-templates", "POST"): WRITERS,
    ("/mailings", "GET"): STAFF,  # scoped: other roles get an empty page
    ("/mailings", "POST"): WRITERS,
    ("/mail-items", "GET"): STAFF,  # municipality's items, or the office's for dispatchers
    ("/webhooks", "GET"): STAFF,  # scoped: admins and auditors see their municipality's
    ("/webhooks", "POST"): frozenset({Role.MUNICIPAL_ADMIN}),
    ("/offices", "GET"): frozenset({Role.SYSTEM_ADMIN, Role.DISPATCHER}),
    ("/offices", "POST"): frozenset({Role.SYSTEM_ADMIN}),
    ("/devices/me/fcm-token", "PUT"): frozenset(),  # enrolled phones only, not account tokens
    ("/carrier/route", "GET"): frozenset({Role.CARRIER}),
    ("/carrier/visits", "POST"): frozenset({Role.CARRIER}),
    ("/carrier/visits/batch", "POST"): frozenset({Role.CARRIER}),
    ("/check-reports", "GET"): READERS,
    ("/alerts", "GET"): READERS,
    ("/on-duty", "GET"): READERS,
    ("/on-duty", "PUT"): frozenset({Role.MUNICIPAL_ADMIN}),
    ("/cases", "GET"): READERS,
    ("/whereabouts", "GET"): READERS,
    ("/statistics", "GET"): READERS,
    ("/exports", "POST"): READERS,
    ("/case-policy", "GET"): READERS,
    ("/case-policy", "PUT"): frozenset({Role.MUNICIPAL_ADMIN}),
    ("/access-reviews", "GET"): frozenset({Role.MUNICIPAL_ADMIN, Role.AUDITOR}),
    ("/jobs", "GET"): STAFF,  # scoped: a municipality's to its staff, an office's to dispatchers
}
PUBLIC = {("/auth/token", "POST"), ("/devices/enrol", "POST"), ("/devices/refresh", "POST")}
#: Calls that end the caller's session: made last, with a token of their own.
SESSION_ENDING = (("/auth/token", "DELETE"), ("/auth/password", "POST"))


def test_every_role_gets_what_the_allow_table_says(client, world):
    """List/create routes × every role (and anonymous) against the declared allow-table."""
    own = seed(client, world, world.a)
    routes = [
        (rule, method)
        for rule, method in api_routes(client.application, with_arguments=False)
        if (short(rule), method) not in PUBLIC
    ]
    undeclared = [f"{m} {short(r)}" for r, m in routes if (short(r), m) not in ALLOWED]
    assert not undeclared, f"routes missing from the allow-table: {undeclared}"
    require_known(routes, own)
    routes.sort(key=lambda route: (short(route[0]), route[1]) in SESSION_ENDING)
    accounts = {role: world.a.accounts[role] for role in TENANT_ROLES}
    accounts[Role.SYSTEM_ADMIN] = world.admin
    keys = own.first()
    mismatches, cells = [], 0
    for role, account in accounts.items():
        for rule, method in routes:
            token = issue_token(account)
            db.session.commit()  # the test's SAVEPOINT only: the request must see the token
            response = send(client, rule.rule, method, auth(token), body(rule, method, keys))
            cells += 1
            allowed = role in ALLOWED[(short(rule), method)]
            if allowed and response.status_code >= 300:
                mismatches.append(
                    f"{role} {method} {short(rule)}: {response.status_code}, expected 2xx"
                )
            elif not allowed and (response.status_code, response.get_json()) != (403, FORBIDDEN):
                mismatches.append(
                    f"{role} {method} {short(rule)}: {response.status_code}, expected 403"
                )
    for rule, method in routes:
        response = send(client, rule.rule, method, None, body(rule, method, keys))
        cells += 1
        if (response.status_code, response.get_json()) != (401, UNAUTHORIZED):
            mismatches.append(f"anonymous {method} {short(rule)}: {response.status_code}")
    print(f"authorization table: {cells} cells, {len(mismatches)} mismatches")
    assert not mismatches, "\n".join(mismatches)
    assert cells > 100, f"authorization table: only {cells} cells"


#: Routes naming an object that serve a carrier: their own scans and visits (carrier_api).
CARRIER_ROUTES = {
    ("/carrier/items/<string:registered_number>", "GET"),
    ("/carrier/visits/<string:client_uuid>", "GET"),
}
#: Routes for an enrolled phone's token only (a carrier's phone is allowed, its account not).
PHONE_ROUTES = {("/devices/me/fcm-token", "PUT")}


def enrol_phone(client, world: World, account) -> str:
    """A device access token for a carrier account's new phone (the dispatcher's code)."""
    carrier_id = db.session.scalar(sa.select(Carrier.id).where(Carrier.account_id == account.id))
    code = client.post(
        f"{API}/carriers/{carrier_id}/enrolment-codes", headers=world.admin_headers()
    ).json["code"]
    enrolled = client.post(f"{API}/devices/enrol", json={"code": code, "label": "집배원 휴대폰"})
    return _ok(enrolled, 201)["access_token"]


def test_a_carrier_of_the_same_office_gets_only_their_own(client, world):
    """Every route × the office's carrier (account token and phone) with the office's objects.

    A carrier reads and records only through the carrier app's endpoints, scoped to their own
    route: every other route answers the list 403 or the plain 404 of a missing id, however
    much of the office's mail it holds, and no answer carries the office's other data.
    """
    own = seed(client, world, world.a)
    keys = own.first()
    carrier = world.a.accounts[Role.CARRIER]
    phone = enrol_phone(client, world, carrier)
    # What the carrier may see on their own route: the mailed item and its household.
    household = _ok(
        client.get(
            f"{API}/households/{keys['household_id']}",
            headers=world.a.headers(Role.SOCIAL_WORKER),
        ),
        200,
    )
    theirs = {household[k] for k in ("name", "road_address", "address_detail", "phone")}
    stop = db.session.get(OfficeItem, db.session.get(PlanStop, keys["stop_id"]).office_item_id)
    theirs |= {keys["registered_number"], stop.registered_number, stop.road_address}
    theirs |= {carrier.username, carrier.display_name}
    others = own.texts - theirs
    routes = api_routes(client.application, with_arguments=True)
    routes += api_routes(client.application, with_arguments=False)
    routes = [route for route in routes if (short(route[0]), route[1]) not in PUBLIC]
    require_known(routes, own)
    # The calls that end the caller's tokens come last, made with the account's token only
    # (ending the account's sessions ends its phone's too).
    routes.sort(key=lambda route: (short(route[0]), route[1]) in SESSION_ENDING)
    problems, cells = [], 0
    for rule, method in routes:
        key = (short(rule), method)
        tokens = [("account", None)] + ([] if key in SESSION_ENDING else [("phone", phone)])
        for label, token in tokens:
            if token is None:
                token = issue_token(carrier)
                db.session.commit()  # the test's SAVEPOINT only: the request must see it
            response = send(client, url(rule, keys), method, auth(token), body(rule, method, keys))
            cells += 1
            where = f"carrier {label} {method} {short(rule)}"
            if rule.arguments:
                allowed = key in CARRIER_ROUTES
            else:
                allowed = Role.CARRIER in ALLOWED[key] or (label == "phone" and key in PHONE_ROUTES)
            if allowed:
                if response.status_code >= 300:
                    problems.append(f"{where}: {response.status_code}, expected 2xx")
            elif rule.arguments:
                problems += not_found_problems(response, set(), where)
            elif (response.status_code, response.get_json()) != (403, FORBIDDEN):
                problems.append(f"{where}: {response.status_code}, expected 403")
            shown = answer_text(response) if response.data else ""
            leaked = sorted(text for text in others if text in shown)
            if leaked:
                problems.append(f"{where}: leaked {leaked}")
    print(f"carrier column: {cells} cells, {len(problems)} problems")
    assert not problems, "\n".join(problems)
    assert cells > 100, f"carrier column: only {cells} cells"


MASS_ASSIGNMENT = ("municipality_id", "role", "status", "created_by", "id", "office_id")
#: Bodies that take foreign members by design (GeoJSON), which nothing reads back.
OPEN_BODIES = {("/offices/<int:office_id>/districts", "PUT")}


def request_properties(spec: dict, rule: Rule, method: str) -> set[str] | None:
    """The JSON body's declared properties in the OpenAPI document (None: no JSON body)."""
    path = _ARGUMENT.sub(lambda m: "{" + m.group(1) + "}", rule.rule)
    operation = spec["paths"][path][method.lower()]
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    schema = content["application/json"]["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return set(schema.get("properties", {}))


def test_extra_fields_are_refused_by_name(client, world):
    """POST/PATCH/PUT with a field the operation does not declare: 422 naming it, for every role."""
    own = seed(client, world, world.a)
    spec = client.get(f"{API}/openapi.json").json
    keys = own.first()
    actors = {role: world.a.headers(role) for role in TENANT_ROLES}
    actors[Role.SYSTEM_ADMIN] = world.admin_headers()
    routes = api_routes(client.application, with_arguments=True)
    routes += api_routes(client.application, with_arguments=False)
    accepted, attempts, operations = [], 0, set()
    for rule, method in routes:
        if method not in WRITES or (short(rule), method) in OPEN_BODIES | PUBLIC:
            continue
        declared = request_properties(spec, rule, method)
        if declared is None:
            continue
        for extra in set(MASS_ASSIGNMENT) - declared:
            named = False
            for role, headers in actors.items():
                kwargs = body(rule, method, keys)
                kwargs["json"] = kwargs["json"] | {extra: keys["municipality_id"]}
                response = send(client, url(rule, keys), method, headers, kwargs)
                attempts += 1
                fields = (response.get_json() or {}).get("error", {}).get("fields", {})
                if response.status_code == 422 and extra in fields:
                    named = True
                elif response.status_code < 300 or response.status_code == 422:
                    accepted.append(
                        f"{role} {method} {short(rule)} +{extra}: {response.status_code}"
                    )
            if not named:
                accepted.append(f"{method} {short(rule)} +{extra}: no role got a 422 naming it")
            operations.add((short(rule), method))
    print(f"mass assignment: {attempts} attempts on {len(operations)} operations, 0 accepted")
    assert not accepted, "\n".join(accepted)
    assert len(operations) >= 10, operations
    household = client.get(
        f"{API}/households/{keys['household_id']}", headers=world.a.headers(Role.SOCIAL_WORKER)
    ).json
    assert household["municipality_id"] == world.a.municipality.id
    assert household["status"] == "active"
