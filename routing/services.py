"""The postal network: offices, carrier districts, carriers, and locating points in districts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from shapely.geometry import mapping, shape

from core.auth.models import Account
from core.auth.principal import Principal
from core.auth.roles import Role
from core.auth.services import create_account
from core.db import db
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.geo import DistrictIndex
from core.working_days import check_working_day, next_working_day
from municipalities.services import reassign_households
from routing.districts import DistrictShape, DistrictsRejected, area_m2, parse_districts
from routing.models import Carrier, CarrierDistrict, DeliveryOffice


class DistrictsInvalid(Invalid):
    code = "districts_invalid"
    message = "구역 파일에 문제가 있습니다. (The districts file has problems.)"

    @classmethod
    def from_rejection(cls, rejected: DistrictsRejected) -> DistrictsInvalid:
        problems = [
            {"feature": p.feature, "code": p.code, "problem": p.problem, "message": p.message}
            for p in rejected.problems
        ]
        return cls(fields={"features": problems})


# --- offices ---------------------------------------------------------------------------------


def offices_visible_to(principal: Principal) -> sa.Select:
    """System admins see every office; dispatchers their own; others (carriers too) none."""
    query = sa.select(DeliveryOffice).order_by(DeliveryOffice.id)
    if principal.role == Role.SYSTEM_ADMIN:
        return query
    if principal.role == Role.DISPATCHER:
        return query.where(DeliveryOffice.id == principal.office_id)
    return query.where(sa.false())


def get_office(principal: Principal, office_id: int) -> DeliveryOffice:
    """One visible office, or 404."""
    office = db.session.scalar(offices_visible_to(principal).where(DeliveryOffice.id == office_id))
    if office is None:
        raise NotFound()
    return office


def dispatchers_office(principal: Principal, office_id: int) -> DeliveryOffice:
    """The office, for its own dispatchers only (anyone else: 404)."""
    office = get_office(principal, office_id)
    if principal.role != Role.DISPATCHER:
        raise NotFound()
    return office


def _require_system_admin(principal: Principal | None) -> None:
    if principal is not None and principal.role != Role.SYSTEM_ADMIN:
        raise Forbidden()


def create_office(principal: Principal | None, data: dict) -> DeliveryOffice:
    """Register a delivery office (system admins; None: the CLI)."""
    _require_system_admin(principal)
    if db.session.scalar(sa.select(DeliveryOffice.id).where(DeliveryOffice.code == data["code"])):
        raise Conflict(fields={"code": ["이미 있는 우체국 코드입니다. (Office code taken.)"]})
    lon, lat = data.pop("depot")
    office = DeliveryOffice(**data, depot_lon=lon, depot_lat=lat)
    db.session.add(office)
    db.session.flush()
    return office


def update_office(principal: Principal, office_id: int, data: dict) -> DeliveryOffice:
    """Change an office's name, address, depot or delivery weekdays."""
    office = get_office(principal, office_id)
    _require_system_admin(principal)
    if "depot" in data:
        office.depot_lon, office.depot_lat = data.pop("depot")
    for key, value in data.items():
        setattr(office, key, value)
    db.session.flush()
    return office


def office_by_code(code: str) -> DeliveryOffice:
    """The office with this code (CLI use), or 404."""
    office = db.session.scalar(sa.select(DeliveryOffice).where(DeliveryOffice.code == code))
    if office is None:
        raise NotFound(f"우체국 코드 {code}이(가) 없습니다. (No office with code {code}.)")
    return office


# --- delivery days ---------------------------------------------------------------------------


def office_weekdays(office_id: int) -> tuple[int, ...]:
    """The weekdays an office delivers on (Monday 0 ... Sunday 6)."""
    return tuple(db.session.get(DeliveryOffice, office_id).delivery_weekdays)


def check_delivery_day(office: DeliveryOffice, day: date, field: str = "day") -> None:
    """Refuse (422) a day the office does not deliver on, naming its next delivery day."""
    check_working_day(day, field, office.delivery_weekdays)


def next_delivery_day(office: DeliveryOffice, day: date) -> date:
    """The office's first delivery day on or after `day` (its weekdays, never a holiday)."""
    return next_working_day(day, office.delivery_weekdays)


# --- districts -------------------------------------------------------------------------------


def districts_of(principal: Principal, office_id: int) -> list[CarrierDistrict]:
    """The districts of a visible office."""
    office = get_office(principal, office_id)
    return list(
        db.session.scalars(
            sa.select(CarrierDistrict)
            .where(CarrierDistrict.office_id == office.id)
            .order_by(CarrierDistrict.code)
        )
    )


def get_district(principal: Principal, district_id: int) -> CarrierDistrict:
    """One district of a visible office, or 404."""
    district = db.session.scalar(
        sa.select(CarrierDistrict)
        .join(DeliveryOffice, DeliveryOffice.id == CarrierDistrict.office_id)
        .where(
            CarrierDistrict.id == district_id,
            DeliveryOffice.id.in_(
                offices_visible_to(principal).with_only_columns(DeliveryOffice.id)
            ),
        )
    )
    if district is None:
        raise NotFound()
    return district


def district_shapes(districts: list[CarrierDistrict]) -> list[DistrictShape]:
    """Stored districts as parsed shapes."""
    return [DistrictShape(d.code, d.name, shape(d.geometry)) for d in districts]


def load_districts(
    principal: Principal | None, office: DeliveryOffice, geojson
) -> list[CarrierDistrict]:
    """Add or replace (by code) an office's districts from GeoJSON; every problem is reported.

    Nothing is repaired: an invalid or overlapping polygon rejects the whole upload. Households
    are assigned again afterwards, since their district may have changed.
    """
    _require_system_admin(principal)
    others = list(db.session.scalars(sa.select(CarrierDistrict)))
    try:
        shapes = parse_districts(geojson, existing=district_shapes(others))
    except DistrictsRejected as rejected:
        raise DistrictsInvalid.from_rejection(rejected) from rejected
    own = {d.code: d for d in others if d.office_id == office.id}
    foreign_codes = {d.code for d in others if d.office_id != office.id}
    # Codes are unique per office, but the same code in two offices confuses people. The
    # shapes come back in feature order (any invalid feature rejected the upload above).
    taken = [
        {
            "feature": index,
            "code": item.code,
            "problem": "code_used_by_other_office",
            "message": f"구역 코드 '{item.code}'은(는) 다른 우체국이 쓰고 있습니다 "
            f"(district code '{item.code}' is used by another office)",
        }
        for index, item in enumerate(shapes)
        if item.code in foreign_codes
    ]
    if taken:
        raise DistrictsInvalid(fields={"features": taken})
    loaded = []
    for item in shapes:
        district = own.get(item.code) or CarrierDistrict(office_id=office.id, code=item.code)
        district.name = item.name
        district.geometry = mapping(item.geometry)
        district.area_m2 = area_m2(item.geometry)
        db.session.add(district)
        loaded.append(district)
    db.session.flush()
    reassign_households()
    return loaded


@dataclass
class _IndexCache:
    key: tuple | None = None
    index: DistrictIndex | None = None


_index_cache = _IndexCache()


def district_index() -> DistrictIndex:
    """Every district in an STRtree; rebuilt only when the districts changed."""
    key = tuple(
        db.session.execute(
            sa.select(sa.func.count(CarrierDistrict.id), sa.func.max(CarrierDistrict.updated_at))
        ).one()
    )
    if _index_cache.index is None or _index_cache.key != key:
        rows = db.session.execute(
            sa.select(CarrierDistrict.id, CarrierDistrict.office_id, CarrierDistrict.geometry)
        ).all()
        _index_cache.index = DistrictIndex(
            (row.id, row.office_id, shape(row.geometry)) for row in rows
        )
        _index_cache.key = key
    return _index_cache.index


# --- carriers --------------------------------------------------------------------------------


def carriers_of(principal: Principal, office_id: int) -> list[tuple[Carrier, Account]]:
    """The carriers of a visible office with their accounts."""
    office = get_office(principal, office_id)
    rows = db.session.execute(
        sa.select(Carrier, Account)
        .join(Account, Account.id == Carrier.account_id)
        .where(Account.office_id == office.id)
        .order_by(Carrier.employee_no)
    )
    return [(carrier, account) for carrier, account in rows]


def get_carrier(principal: Principal, carrier_id: int) -> tuple[Carrier, Account]:
    """One carrier of a visible office, or 404."""
    row = db.session.execute(
        sa.select(Carrier, Account)
        .join(Account, Account.id == Carrier.account_id)
        .where(
            Carrier.id == carrier_id,
            Account.office_id.in_(
                offices_visible_to(principal).with_only_columns(DeliveryOffice.id)
            ),
        )
    ).first()
    if row is None:
        raise NotFound()
    carrier, account = row
    return carrier, account


def _home_district(office_id: int, district_id: int | None) -> int | None:
    if district_id is None:
        return None
    found = db.session.scalar(
        sa.select(CarrierDistrict.id).where(
            CarrierDistrict.id == district_id, CarrierDistrict.office_id == office_id
        )
    )
    if found is None:
        raise Invalid(
            fields={
                "home_district_id": [
                    "이 우체국의 구역이 아닙니다. (Not a district of this office.)"
                ]
            }
        )
    return found


def create_carrier(principal: Principal | None, office: DeliveryOffice, data: dict) -> Carrier:
    """Create a carrier's account and attach it to the office and a home district."""
    _require_system_admin(principal)
    if db.session.scalar(sa.select(Carrier.id).where(Carrier.employee_no == data["employee_no"])):
        raise Conflict(
            fields={"employee_no": ["이미 있는 직원번호입니다. (Employee number taken.)"]}
        )
    home = _home_district(office.id, data.get("home_district_id"))
    account = create_account(
        principal,
        username=data["username"],
        display_name=data["display_name"],
        password=data["password"],
        role=Role.CARRIER,
        office_id=office.id,
    )
    carrier = Carrier(account_id=account.id, employee_no=data["employee_no"], home_district_id=home)
    db.session.add(carrier)
    db.session.flush()
    return carrier


def update_carrier(principal: Principal, carrier_id: int, data: dict) -> Carrier:
    """Change a carrier's home district (same office), travel profile, shift or lunch length."""
    carrier, account = get_carrier(principal, carrier_id)
    if principal.role not in (Role.SYSTEM_ADMIN, Role.DISPATCHER):
        raise Forbidden()
    if "home_district_id" in data:
        carrier.home_district_id = _home_district(account.office_id, data["home_district_id"])
    if "shift" in data:
        carrier.shift_start_min, carrier.shift_end_min = data["shift"]
    for key in ("profile", "lunch_minutes"):
        if key in data:
            setattr(carrier, key, data[key])
    db.session.flush()
    return carrier
