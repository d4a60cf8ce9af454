"""The postal network: offices, carrier districts, carriers, and locating points in districts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask import Flask
from shapely.geometry import mapping, shape

from core.auth.directory import account_by_id
from core.auth.principal import Principal
from core.auth.roles import Role
from core.auth.services import NewAccount, create_account
from core.clock import DEFAULT_WEEKDAYS, check_working_day, next_working_day
from core.db import db
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.geo import DistrictIndex
from core.hooks import Hook
from core.inputs import UNSET, Unset, given
from postal.directory import carriers_with_accounts
from postal.districts import DistrictShape, DistrictsRejected, area_m2, parse_districts
from postal.models import Carrier, CarrierDistrict, DeliveryOffice

if TYPE_CHECKING:
    from core.auth.directory import Account

# Households above this package are assigned to districts: municipalities registers here what
# runs after an office's districts changed (postal never imports upward).
DISTRICTS_CHANGED: Hook[Callable[[], object]] = Hook("postal.districts_changed")


def on_districts_changed(app: Flask, callback: Callable[[], object]) -> None:
    """Run callback (in the same transaction) whenever an office's districts are loaded."""
    DISTRICTS_CHANGED.register(app, callback)


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


def office_exists(office_id: int) -> bool:
    """Whether the delivery office exists (an account may be bound to it)."""
    found = sa.select(DeliveryOffice.id).where(DeliveryOffice.id == office_id)
    return db.session.scalar(found) is not None


def office_names() -> dict[int, str]:
    """Every delivery office's name by id, ordered by name."""
    rows = db.session.execute(
        sa.select(DeliveryOffice.id, DeliveryOffice.name).order_by(
            DeliveryOffice.name, DeliveryOffice.id
        )
    )
    return {office_id: name for office_id, name in rows}


def dispatchers_office(principal: Principal, office_id: int) -> DeliveryOffice:
    """The office, for its own dispatchers only (anyone else: 404)."""
    office = get_office(principal, office_id)
    if principal.role != Role.DISPATCHER:
        raise NotFound()
    return office


def _require_system_admin(principal: Principal) -> None:
    if principal.role != Role.SYSTEM_ADMIN:
        raise Forbidden()


@dataclass(frozen=True)
class NewOffice:
    """A delivery office to register: its code (never changed afterwards), address and depot."""

    code: str
    name: str
    road_address: str
    postal_code: str | None
    #: [lon, lat]
    depot: Sequence[float]
    delivery_weekdays: Sequence[int] = DEFAULT_WEEKDAYS


@dataclass(frozen=True)
class OfficeChanges:
    """What to change of an office (UNSET: unchanged; a postal code None clears it)."""

    name: str | Unset = UNSET
    road_address: str | Unset = UNSET
    postal_code: str | None | Unset = UNSET
    #: [lon, lat]
    depot: Sequence[float] | Unset = UNSET
    delivery_weekdays: Sequence[int] | Unset = UNSET


def create_office(principal: Principal, new: NewOffice) -> DeliveryOffice:
    """Register a delivery office (system admins)."""
    _require_system_admin(principal)
    if db.session.scalar(sa.select(DeliveryOffice.id).where(DeliveryOffice.code == new.code)):
        raise Conflict(fields={"code": ["이미 있는 우체국 코드입니다. (Office code taken.)"]})
    lon, lat = new.depot
    office = DeliveryOffice(
        code=new.code,
        name=new.name,
        road_address=new.road_address,
        postal_code=new.postal_code,
        delivery_weekdays=list(new.delivery_weekdays),
        depot_lon=lon,
        depot_lat=lat,
    )
    db.session.add(office)
    db.session.flush()
    return office


def update_office(principal: Principal, office_id: int, changes: OfficeChanges) -> DeliveryOffice:
    """Change an office's name, address, depot or delivery weekdays."""
    office = get_office(principal, office_id)
    _require_system_admin(principal)
    values = given(changes)
    if "depot" in values:
        office.depot_lon, office.depot_lat = values.pop("depot")
    if "delivery_weekdays" in values:
        values["delivery_weekdays"] = list(values["delivery_weekdays"])
    for key, value in values.items():
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


def load_districts(principal: Principal, office: DeliveryOffice, geojson) -> list[CarrierDistrict]:
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
    for callback in DISTRICTS_CHANGED.entries():
        callback()
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
    return carriers_with_accounts([get_office(principal, office_id).id])


def carriers_per_office(office_ids: list[int]) -> dict[int, int]:
    """How many carriers each of these offices has (offices without any left out)."""
    return Counter(account.office_id for _, account in carriers_with_accounts(office_ids))


def get_carrier(principal: Principal, carrier_id: int) -> tuple[Carrier, Account]:
    """One carrier of a visible office, or 404."""
    carrier = db.session.get(Carrier, carrier_id)
    account = account_by_id(carrier.account_id) if carrier else None
    if account is None or account.office_id is None:
        raise NotFound()
    get_office(principal, account.office_id)  # 404 unless the principal sees that office
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


@dataclass(frozen=True)
class NewCarrier:
    """A carrier to create: the account's sign-in, the employee number, a home district."""

    username: str
    display_name: str
    password: str = field(repr=False)
    employee_no: str
    home_district_id: int | None = None


@dataclass(frozen=True)
class CarrierChanges:
    """What to change of a carrier (UNSET: unchanged; a home district None clears it)."""

    home_district_id: int | None | Unset = UNSET
    #: A routing.vrp.matrix profile: foot, motorbike or van.
    profile: str | Unset = UNSET
    #: The usual shift as (start, end) minutes after midnight (Seoul).
    shift: tuple[int, int] | Unset = UNSET
    lunch_minutes: int | Unset = UNSET


def create_carrier(principal: Principal, office: DeliveryOffice, new: NewCarrier) -> Carrier:
    """Create a carrier's account and attach it to the office and a home district."""
    _require_system_admin(principal)
    if db.session.scalar(sa.select(Carrier.id).where(Carrier.employee_no == new.employee_no)):
        raise Conflict(
            fields={"employee_no": ["이미 있는 직원번호입니다. (Employee number taken.)"]}
        )
    home = _home_district(office.id, new.home_district_id)
    account = create_account(
        principal,
        NewAccount(
            username=new.username,
            display_name=new.display_name,
            password=new.password,
            role=Role.CARRIER,
            office_id=office.id,
        ),
    )
    carrier = Carrier(account_id=account.id, employee_no=new.employee_no, home_district_id=home)
    db.session.add(carrier)
    db.session.flush()
    return carrier


def update_carrier(principal: Principal, carrier_id: int, changes: CarrierChanges) -> Carrier:
    """Change a carrier's home district (same office), travel profile, shift or lunch length."""
    carrier, account = get_carrier(principal, carrier_id)
    if principal.role not in (Role.SYSTEM_ADMIN, Role.DISPATCHER):
        raise Forbidden()
    if changes.home_district_id is not UNSET:
        carrier.home_district_id = _home_district(account.office_id, changes.home_district_id)
    if changes.shift is not UNSET:
        carrier.shift_start_min, carrier.shift_end_min = changes.shift
    if changes.profile is not UNSET:
        carrier.profile = changes.profile
    if changes.lunch_minutes is not UNSET:
        carrier.lunch_minutes = changes.lunch_minutes
    db.session.flush()
    return carrier
