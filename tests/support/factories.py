"""Plain factory functions: they flush, never commit (the test's transaction is rolled back)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date
from functools import cache

from core.auth.models import Account
from core.auth.passwords import hash_password
from core.auth.roles import Role
from core.auth.services import issue_token
from core.crypto import blind_index
from core.db import db
from municipalities.mail.models import LetterTemplate, Mailing, MailItem, TrackingEvent
from municipalities.mail.registered_numbers import make_number
from municipalities.models import Household, Municipality
from postal.models import Carrier, CarrierDistrict, DeliveryOffice
from routing.models import OfficeItem, PlanRoute, PlanStop, RoutePlan
from routing.plans.handout import hand_out

PASSWORD = "correct horse battery staple 42"
_serial = itertools.count(1)


@cache
def password_hash() -> str:
    """One argon2id hash shared by every factory account (hashing is deliberately slow)."""
    return hash_password(PASSWORD)


def make_municipality(**overrides) -> Municipality:
    n = next(_serial)
    values = {
        "code": f"9{n:04d}",
        "name": f"시험시 {n}구",
        "agreement_status": "active",
        "agreement_start": date(2026, 1, 1),
        # The sender identity its letters carry (a mailing is refused without it).
        "department": "복지정책과",
        "road_address": f"서울특별시 시험구 시청로 {n}",
        "postal_code": "06000",
        "phone": "02-2100-1234",
    }
    municipality = Municipality(**(values | overrides))
    db.session.add(municipality)
    db.session.flush()
    return municipality


def square(lon: float, lat: float, size: float = 0.01) -> dict:
    """A GeoJSON square polygon with its south-west corner at (lon, lat)."""
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def make_office(**overrides) -> DeliveryOffice:
    n = next(_serial)
    values = {
        "code": f"OF{n:04d}",
        "name": f"시험우체국 {n}",
        "road_address": f"서울특별시 시험구 우정로 {n}",
        "postal_code": "06000",
        "depot_lon": 127.0,
        "depot_lat": 37.5,
    }
    office = DeliveryOffice(**(values | overrides))
    db.session.add(office)
    db.session.flush()
    return office


def make_district(office: DeliveryOffice, geometry: dict, **overrides) -> CarrierDistrict:
    n = next(_serial)
    values = {"code": f"D{n:04d}", "name": f"{n}구역", "geometry": geometry, "area_m2": 1.0}
    district = CarrierDistrict(office_id=office.id, **(values | overrides))
    db.session.add(district)
    db.session.flush()
    return district


def make_account(role: Role, **overrides) -> Account:
    n = next(_serial)
    values = {
        "username": f"{role.value.replace('_', '')}{n}",
        "display_name": f"시험 {role.value} {n}",
        "password_hash": password_hash(),
        "role": role.value,
    }
    account = Account(**(values | overrides))
    db.session.add(account)
    db.session.flush()
    return account


def auth(token: str) -> dict[str, str]:
    """Request headers for a bearer token."""
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Tenant:
    """One municipality and one office with an account and token for every role."""

    municipality: Municipality
    office: DeliveryOffice
    accounts: dict[Role, Account] = field(default_factory=dict)
    tokens: dict[Role, str] = field(default_factory=dict)

    def headers(self, role: Role) -> dict[str, str]:
        return auth(self.tokens[role])


@dataclass
class World:
    a: Tenant
    b: Tenant
    admin: Account
    admin_token: str

    def admin_headers(self) -> dict[str, str]:
        return auth(self.admin_token)


def make_tenant(lon: float) -> Tenant:
    municipality = make_municipality()
    office = make_office(depot_lon=lon + 0.01, depot_lat=37.51)
    make_district(office, square(lon, 37.5, 0.02))
    tenant = Tenant(municipality, office)
    for role in Role:
        if role == Role.SYSTEM_ADMIN:
            continue
        binding = (
            {"office_id": office.id}
            if role in (Role.DISPATCHER, Role.CARRIER)
            else {"municipality_id": municipality.id}
        )
        account = make_account(role, **binding)
        tenant.accounts[role] = account
        tenant.tokens[role] = issue_token(account)
    return tenant


def build_world() -> World:
    """Two tenants side by side (west and east of lon 127.0) and a system admin."""
    a = make_tenant(126.95)
    b = make_tenant(127.05)
    admin = make_account(Role.SYSTEM_ADMIN)
    return World(a=a, b=b, admin=admin, admin_token=issue_token(admin))


def make_carrier(
    office: DeliveryOffice, home: CarrierDistrict | None = None, **overrides
) -> Carrier:
    """A carrier account of the office with its Carrier row (shift 09:00-18:00 unless told)."""
    account = make_account(Role.CARRIER, office_id=office.id)
    values = {"employee_no": f"E{account.id:06d}", "home_district_id": home.id if home else None}
    carrier = Carrier(account_id=account.id, **(values | overrides))
    db.session.add(carrier)
    db.session.flush()
    return carrier


def make_due_item(
    tenant: Tenant,
    location: tuple[float, float],
    day: date,
    district: CarrierDistrict,
    *,
    status: str = "at_office",
    **household_fields,
) -> MailItem:
    """A welfare mail item waiting at the tenant's office for `day`, for a new household."""
    n = next(_serial)
    municipality = tenant.municipality
    household = Household(
        municipality_id=municipality.id,
        name=f"가구{n}",
        name_index=blind_index(f"가구{n}"),
        dedup_key=f"dedup-{n}",
        road_address=f"서울특별시 시험구 희망로 {n}",
        lon=location[0],
        lat=location[1],
        geocode_status="given",
        office_id=tenant.office.id,
        district_id=district.id,
        assignment_status="assigned",
        **household_fields,
    )
    template = LetterTemplate(municipality_id=municipality.id, name="t", body="b", contact="c")
    db.session.add_all([household, template])
    db.session.flush()
    mailing = Mailing(
        municipality_id=municipality.id,
        title="m",
        template_id=template.id,
        selection={},
        send_date=day,
    )
    db.session.add(mailing)
    db.session.flush()
    item = MailItem(
        registered_number=make_number(2026, n),
        mailing_id=mailing.id,
        municipality_id=municipality.id,
        household_id=household.id,
        office_id=tenant.office.id,
        district_id=district.id,
        status=status,
        due_on=day,
    )
    db.session.add(item)
    db.session.flush()
    # The history that leads to the status, as the tracking state machine replays it.
    codes = ["accepted", "produced", "handed_to_office"]
    codes += ["out_for_delivery"] if status == "out_for_delivery" else []
    db.session.add_all(TrackingEvent(item_id=item.id, code=code) for code in codes)
    db.session.flush()
    return item


def publish_routes(
    office: DeliveryOffice,
    day: date,
    routes: dict[Carrier, list[MailItem | OfficeItem]],
    *,
    service_s: int = 600,
    priority: int = 50,
) -> RoutePlan:
    """A published plan of the office's day: each carrier's items in this order on its route
    (09:00-18:00, stops two minutes apart from 10:00), handed out as publishing does.

    Set directly: solving belongs to the planning tests; here the routes only have to exist.
    """
    plan = RoutePlan(office_id=office.id, day=day, time_limit_s=1, status="published")
    db.session.add(plan)
    db.session.flush()
    for carrier, items in routes.items():
        db.session.add(
            PlanRoute(
                plan_id=plan.id,
                carrier_id=carrier.id,
                profile="motorbike",
                shift_start_s=32_400,
                shift_end_s=64_800,
                lunch_s=3600,
            )
        )
        db.session.add_all(
            PlanStop(
                plan_id=plan.id,
                carrier_id=carrier.id,
                position=position,
                arrival_s=36_000 + 120 * position,
                service_s=service_s,
                priority=priority,
                **_stop_of(item),
            )
            for position, item in enumerate(items)
        )
    db.session.flush()
    hand_out(plan, None)
    return plan


def _stop_of(item: MailItem | OfficeItem) -> dict:
    """Where a stop for the item is, and what it holds."""
    if isinstance(item, OfficeItem):
        return {"kind": "registered", "office_item_id": item.id, "lon": item.lon, "lat": item.lat}
    household = db.session.get(Household, item.household_id)
    return {
        "kind": "welfare",
        "mail_item_id": item.id,
        "household_id": household.id,
        "district_id": item.district_id,
        "lon": household.lon,
        "lat": household.lat,
    }
