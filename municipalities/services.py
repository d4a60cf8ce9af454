"""The household registry: scoped queries, create/update/close, bulk import, district assignment."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime

import sqlalchemy as sa
from flask import current_app

from core.audit import record_access
from core.auth.principal import Principal
from core.auth.roles import Role
from core.crypto import blind_index
from core.db import db, utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.geo import DistrictIndex
from core.inputs import UNSET, Unset, given
from core.outbox import enqueue_once
from municipalities.household_file import RowProblem, check_household_values
from municipalities.models import Household, Municipality
from postal.services import district_index

READERS = (Role.MUNICIPAL_ADMIN, Role.SOCIAL_WORKER, Role.AUDITOR)
WRITERS = (Role.MUNICIPAL_ADMIN, Role.SOCIAL_WORKER)
CLOSE_REASONS = ("moved", "deceased", "support_linked", "no_longer_at_risk", "duplicate", "other")


class DuplicateHousehold(Conflict):
    code = "duplicate_household"
    message = (
        "같은 이름과 주소의 가구가 이미 등록되어 있습니다. "
        "(A household with this name and address is already registered.)"
    )


class StaleVersion(Conflict):
    code = "stale_version"
    message = (
        "다른 사람이 먼저 수정했습니다. 새로 불러온 뒤 다시 시도하세요. "
        "(Someone changed this household first; reload and try again.)"
    )


class HouseholdInvalid(Invalid):
    @classmethod
    def from_problems(cls, problems: list[RowProblem]) -> HouseholdInvalid:
        fields: dict[str, list[str]] = {}
        for problem in problems:
            fields.setdefault(problem.column or "_", []).append(problem.message)
        return cls(fields=fields)


# --- scoping ---------------------------------------------------------------------------------


def households_visible_to(principal: Principal) -> sa.Select:
    """Households of the principal's municipality for municipal roles; none for anyone else."""
    query = sa.select(Household)
    if principal.role in READERS and principal.municipality_id is not None:
        return query.where(Household.municipality_id == principal.municipality_id)
    return query.where(sa.false())


def _require(principal: Principal, roles: tuple[Role, ...]) -> None:
    if principal.role not in roles:
        raise Forbidden()


def get_household(principal: Principal, household_id: int, *, log_as: str = "view") -> Household:
    """One household of the principal's municipality (404 otherwise); the read is logged."""
    household = db.session.scalar(
        households_visible_to(principal).where(Household.id == household_id)
    )
    if household is None:
        raise NotFound()
    if log_as:
        record_access(
            principal.account_id, log_as, "household", [household.id], household.municipality_id
        )
    return household


@dataclass(frozen=True)
class NewMunicipality:
    """A municipality to register: code, name, agreement, and (optionally) its letters' sender."""

    code: str
    name: str
    #: none | pending | active | suspended | ended
    agreement_status: str = "none"
    agreement_start: date | None = None
    agreement_end: date | None = None
    department: str | None = None
    road_address: str | None = None
    postal_code: str | None = None
    phone: str | None = None
    contact_person: str | None = None


@dataclass(frozen=True)
class MunicipalityChanges:
    """What to change of a municipality (UNSET: unchanged; an agreement date None clears it)."""

    name: str | Unset = UNSET
    agreement_status: str | Unset = UNSET
    agreement_start: date | None | Unset = UNSET
    agreement_end: date | None | Unset = UNSET
    #: Minutes within which an urgent welfare visit is due (URGENT_DUE_MIN-URGENT_DUE_MAX).
    urgent_due_minutes: int | Unset = UNSET


#: Bounds of a municipality's due time for urgent visits, in minutes.
URGENT_DUE_MIN, URGENT_DUE_MAX = 30, 480


def create_municipality(principal: Principal, new: NewMunicipality) -> Municipality:
    """Register a municipality (a tenant; system admins)."""
    _require(principal, (Role.SYSTEM_ADMIN,))
    if db.session.scalar(sa.select(Municipality.id).where(Municipality.code == new.code)):
        raise Conflict(fields={"code": ["이미 있는 지자체 코드입니다. (Code taken.)"]})
    municipality = Municipality(**asdict(new))
    db.session.add(municipality)
    db.session.flush()
    return municipality


def update_municipality(
    principal: Principal, municipality: Municipality, changes: MunicipalityChanges
) -> Municipality:
    """Change a municipality's name, agreement or urgent due time (system admins only: these
    are agreed with us)."""
    _require(principal, (Role.SYSTEM_ADMIN,))
    for key, value in given(changes).items():
        setattr(municipality, key, value)
    start, end = municipality.agreement_start, municipality.agreement_end
    if start and end and end < start:
        raise Invalid(
            fields={"agreement_end": ["종료일이 시작일보다 빠릅니다. (Ends before it starts.)"]}
        )
    db.session.flush()
    return municipality


@dataclass(frozen=True)
class SenderChanges:
    """Parts of the sender identity to set (UNSET: unchanged; None clears one)."""

    department: str | None | Unset = UNSET
    road_address: str | None | Unset = UNSET
    postal_code: str | None | Unset = UNSET
    phone: str | None | Unset = UNSET
    contact_person: str | None | Unset = UNSET


#: The sender identity printed on letters (return address, signature, whom to call).
SENDER_FIELDS = tuple(sender_field.name for sender_field in fields(SenderChanges))
#: What no letter goes out without; a contact person is printed when given.
SENDER_REQUIRED = ("department", "road_address", "postal_code", "phone")
SENDER_LABELS = {
    "department": "부서",
    "road_address": "주소",
    "postal_code": "우편번호",
    "phone": "전화번호",
    "contact_person": "담당자",
}


class SenderIncomplete(Invalid):
    code = "sender_incomplete"


def get_sender(principal: Principal, municipality: Municipality) -> Municipality:
    """A municipality's sender identity: for its admins, and system admins who run the tenants."""
    _require(principal, (Role.MUNICIPAL_ADMIN, Role.SYSTEM_ADMIN))
    return municipality


def update_sender(
    principal: Principal, municipality: Municipality, changes: SenderChanges
) -> Municipality:
    """Set the sender identity printed on the municipality's letters (its own admins only)."""
    _require(principal, (Role.MUNICIPAL_ADMIN,))
    for key, value in given(changes).items():
        setattr(municipality, key, value)
    db.session.flush()
    return municipality


def missing_sender_fields(municipality: Municipality) -> list[str]:
    """The sender fields every letter needs that the municipality has not set."""
    return [name for name in SENDER_REQUIRED if not getattr(municipality, name)]


def check_sender_complete(municipality: Municipality) -> None:
    """Refuse (422 naming each missing field) while the sender identity lacks a needed part."""
    missing = missing_sender_fields(municipality)
    if missing:
        korean = ", ".join(SENDER_LABELS[name] for name in missing)
        raise SenderIncomplete(
            f"발신 정보가 비어 있어 발송할 수 없습니다: {korean}. 지자체 관리자가 '발신 정보'에서 "
            f"채웁니다. (The sender identity lacks {', '.join(missing)}; a municipal admin "
            "sets it under Sender identity.)",
            fields={
                name: ["편지에 인쇄할 발신 정보입니다. (Printed on every letter: required.)"]
                for name in missing
            },
        )


def municipality_by_code(code: str) -> Municipality:
    """The municipality with this code, or 404."""
    municipality = db.session.scalar(sa.select(Municipality).where(Municipality.code == code))
    if municipality is None:
        raise NotFound(f"지자체 코드 {code}이(가) 없습니다. (No municipality with code {code}.)")
    return municipality


def municipality_exists(municipality_id: int) -> bool:
    """Whether the municipality exists (an account may be bound to it)."""
    found = sa.select(Municipality.id).where(Municipality.id == municipality_id)
    return db.session.scalar(found) is not None


def urgent_due_minutes(household_id: int) -> int:
    """Minutes within which an urgent visit to the household is due: its municipality's rule."""
    return db.session.scalar(
        sa.select(Municipality.urgent_due_minutes)
        .join(Household, Household.municipality_id == Municipality.id)
        .where(Household.id == household_id)
    )


def municipality_names() -> dict[int, str]:
    """Every municipality's name by id, ordered by name."""
    rows = db.session.execute(
        sa.select(Municipality.id, Municipality.name).order_by(Municipality.name, Municipality.id)
    )
    return {municipality_id: name for municipality_id, name in rows}


def municipalities_created_before(at: datetime) -> list[int]:
    """The ids of the municipalities registered before `at`, in order."""
    return list(
        db.session.scalars(
            sa.select(Municipality.id).where(Municipality.created_at < at).order_by(Municipality.id)
        )
    )


# --- search ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HouseholdFilters:
    """Which households to list (None: any); a name matches exactly, an address in part."""

    name: str | None = None
    address: str | None = None
    status: str | None = None
    household_type: str | None = None
    district_id: int | None = None
    office_id: int | None = None
    assignment_status: str | None = None
    #: A risk source code the household has among its risk sources.
    risk_source: str | None = None


def search_households(principal: Principal, filters: HouseholdFilters) -> sa.Select:
    """A filtered, ordered select of visible households (name matches exactly, via its index)."""
    _require(principal, READERS)
    query = households_visible_to(principal).order_by(Household.id)
    if filters.name:
        query = query.where(Household.name_index == blind_index(filters.name))
    if filters.address:
        pattern = "%" + filters.address.replace("%", r"\%").replace("_", r"\_") + "%"
        query = query.where(Household.road_address.like(pattern, escape="\\"))
    for key in ("status", "household_type", "district_id", "office_id", "assignment_status"):
        if getattr(filters, key) is not None:
            query = query.where(getattr(Household, key) == getattr(filters, key))
    if filters.risk_source:
        # JSON containment differs per database; the vocabulary code is quoted inside the list.
        query = query.where(
            sa.cast(Household.risk_sources, sa.Text).like(f'%"{filters.risk_source}"%')
        )
    return query


def road_addresses(household_ids: Iterable[int]) -> dict[int, str]:
    """The road address of each of these households, in one query (the caller logs the read)."""
    rows = db.session.execute(
        sa.select(Household.id, Household.road_address).where(Household.id.in_(list(household_ids)))
    )
    return {household_id: address for household_id, address in rows}


def log_listed(principal: Principal, households: Iterable[Household], action: str = "list") -> None:
    """Record that these households' personal data was shown."""
    households = list(households)
    if households:
        record_access(
            principal.account_id,
            action,
            "household",
            [h.id for h in households],
            principal.municipality_id,
        )


def unassigned_households(principal: Principal) -> sa.Select:
    """Households not in any district (outside every polygon or without coordinates)."""
    _require(principal, READERS)
    return (
        households_visible_to(principal)
        .where(Household.assignment_status != "assigned", Household.status == "active")
        .order_by(Household.id)
    )


# --- create / update / close -----------------------------------------------------------------


def dedup_key(municipality_id: int, name: str, road_address: str, detail: str | None) -> str:
    """The blind index that makes one household per name + address in a municipality."""
    return blind_index(str(municipality_id), name, road_address, detail or "")


def assign_district(household: Household, index: DistrictIndex) -> None:
    """Set office and district from the coordinates (or say why there are none)."""
    if household.lon is None or household.lat is None:
        household.office_id = household.district_id = None
        household.assignment_status = "not_geocoded"
        return
    ref = index.locate(household.lon, household.lat)
    household.office_id = ref.office_id if ref else None
    household.district_id = ref.district_id if ref else None
    household.assignment_status = "assigned" if ref else "outside_districts"


def _apply(household: Household, values: dict) -> None:
    location = values.pop("location", ...)
    for key, value in values.items():
        setattr(household, key, value)
    if location is not ...:
        if location is None:
            household.lon = household.lat = None
            household.geocode_status = "pending"
        else:
            household.lon, household.lat = location
            household.geocode_status = "given"
    household.name_index = blind_index(household.name)
    household.dedup_key = dedup_key(
        household.municipality_id, household.name, household.road_address, household.address_detail
    )


def _check_unique(household: Household) -> None:
    clash = db.session.scalar(
        sa.select(Household.id).where(
            Household.municipality_id == household.municipality_id,
            Household.dedup_key == household.dedup_key,
            Household.id != (household.id or 0),
        )
    )
    if clash is not None:
        raise DuplicateHousehold()


def _validated(values: dict, *, partial: bool) -> dict:
    values = dict(values)
    hours = values.pop("preferred_hours", None)  # checked by the API schema (HH:MM-HH:MM)
    checked, problems = check_household_values(values, partial=partial)
    if problems:
        raise HouseholdInvalid.from_problems(problems)
    if hours is not None:
        checked["preferred_hours"] = [text.split("-") for text in hours]
    return checked


GEOCODE_KIND = "geocode"


def request_geocoding() -> None:
    """Ask the maintenance queue to geocode the households that wait for coordinates, if a
    geocoder is configured (in the caller's transaction; one request covers them all)."""
    if current_app.config.get("GEOCODER_URL"):
        enqueue_once(GEOCODE_KIND)


@dataclass(frozen=True)
class NewHousehold:
    """A household to register; checked by the same rules as a row of a household file."""

    name: str
    road_address: str
    address_detail: str | None = None
    postal_code: str | None = None
    phone: str | None = None
    household_type: str = "other"
    risk_sources: Sequence[str] = ()
    #: [lon, lat], or None: to geocode.
    location: Sequence[float] | None = None
    note: str | None = None
    #: "HH:MM-HH:MM" spans the household prefers visits in.
    preferred_hours: Sequence[str] = ()


@dataclass(frozen=True)
class HouseholdChanges:
    """What to change of a household read at `version` (UNSET: unchanged; None clears)."""

    version: int
    name: str | Unset = UNSET
    road_address: str | Unset = UNSET
    address_detail: str | None | Unset = UNSET
    postal_code: str | None | Unset = UNSET
    phone: str | None | Unset = UNSET
    household_type: str | Unset = UNSET
    risk_sources: Sequence[str] | Unset = UNSET
    #: [lon, lat], or None: to geocode.
    location: Sequence[float] | None | Unset = UNSET
    note: str | None | Unset = UNSET
    preferred_hours: Sequence[str] | Unset = UNSET


def create_household(principal: Principal, new: NewHousehold) -> Household:
    """Register one household in the principal's municipality."""
    _require(principal, WRITERS)
    checked = _validated(asdict(new), partial=False)
    household = Household(
        municipality_id=principal.municipality_id,
        created_by=principal.account_id,
        geocode_status="pending",
    )
    _apply(household, checked)
    _check_unique(household)
    assign_district(household, district_index())
    db.session.add(household)
    db.session.flush()
    if household.geocode_status == "pending":
        request_geocoding()
    record_access(
        principal.account_id, "create", "household", [household.id], household.municipality_id
    )
    return household


def update_household(
    principal: Principal, household_id: int, changes: HouseholdChanges
) -> Household:
    """Change a household; `version` must match the stored one (no silent overwrite)."""
    household = get_household(principal, household_id, log_as="")
    _require(principal, WRITERS)
    if household.status != "active":
        raise Conflict("종결된 가구는 수정할 수 없습니다. (A closed household cannot be changed.)")
    if changes.version != household.version:
        raise StaleVersion()
    checked = _validated(given(changes), partial=True)
    address_changed = any(k in checked for k in ("road_address", "location"))
    _apply(household, checked)
    if "road_address" in checked and "location" not in checked:
        # A new address without new coordinates: the old position is no longer true.
        household.lon = household.lat = None
        household.geocode_status = "pending"
    _check_unique(household)
    if address_changed:
        assign_district(household, district_index())
    if household.geocode_status == "pending":
        request_geocoding()
    db.session.flush()
    record_access(
        principal.account_id,
        "update",
        "household",
        [household.id],
        household.municipality_id,
        detail="fields=" + ",".join(sorted(checked)),
    )
    return household


def close_household(principal: Principal, household_id: int, reason: str) -> Household:
    """Close a household (it stays for the record until its retention period ends)."""
    household = get_household(principal, household_id, log_as="")
    _require(principal, WRITERS)
    if household.status == "closed":
        raise Conflict("이미 종결된 가구입니다. (Already closed.)")
    household.status = "closed"
    household.closed_at = utcnow()
    household.closed_reason = reason
    db.session.flush()
    record_access(
        principal.account_id,
        "close",
        "household",
        [household.id],
        household.municipality_id,
        reason,
    )
    return household


# --- district assignment ---------------------------------------------------------------------


def reassign_households(batch_size: int = 5000) -> int:
    """Locate every active household with coordinates again (after districts changed)."""
    index = district_index()
    changed = 0
    last_id = 0
    while True:
        rows = db.session.execute(
            sa.select(
                Household.id,
                Household.lon,
                Household.lat,
                Household.district_id,
                Household.office_id,
            )
            .where(Household.id > last_id, Household.lon.is_not(None), Household.status == "active")
            .order_by(Household.id)
            .limit(batch_size)
        ).all()
        if not rows:
            return changed
        refs = index.locate_many([r.lon for r in rows], [r.lat for r in rows])
        updates = [
            {
                "row_id": row.id,
                "row_lon": row.lon,
                "row_lat": row.lat,
                "new_office_id": ref.office_id if ref else None,
                "new_district_id": ref.district_id if ref else None,
                "new_status": "assigned" if ref else "outside_districts",
            }
            for row, ref in zip(rows, refs, strict=True)
            if (ref.district_id if ref else None) != row.district_id
        ]
        if updates:
            # Core executemany: the ORM's bulk UPDATE demands the version column, and a
            # district change is no edit of the household (staff editing it get no 409).
            # The coordinates guard skips a household whose position changed meanwhile.
            db.session.execute(_reassign_statement(), updates)
            changed += len(updates)
        last_id = rows[-1].id


def _reassign_statement() -> sa.Update:
    table = Household.__table__
    return (
        sa.update(table)
        .where(
            table.c.id == sa.bindparam("row_id"),
            table.c.lon == sa.bindparam("row_lon"),
            table.c.lat == sa.bindparam("row_lat"),
        )
        .values(
            office_id=sa.bindparam("new_office_id"),
            district_id=sa.bindparam("new_district_id"),
            assignment_status=sa.bindparam("new_status"),
        )
    )


@dataclass
class Reindexed:
    """What re-indexing found: households checked, indexes changed, duplicates now visible."""

    checked: int = 0
    changed: int = 0
    #: (household, the earlier household it is now seen to be): left for staff to close one.
    duplicates: list[tuple[int, int]] = field(default_factory=list)


def reindex_households(batch_size: int = 1000) -> Reindexed:
    """Compute every household's blind indexes again with today's normaliser and key.

    Needed after the normaliser changed (invisible characters are ignored since issue 14: an
    older index of "김\u200b순자" differs from "김순자"'s) or the index key was rotated. A
    household that now equals another keeps its old key and is reported, not merged.
    """
    report, entries, last_id = Reindexed(), [], 0
    while True:
        rows = db.session.execute(
            sa.select(
                Household.id,
                Household.municipality_id,
                Household.name,
                Household.road_address,
                Household.address_detail,
                Household.name_index,
                Household.dedup_key,
            )
            .where(Household.id > last_id)
            .order_by(Household.id)
            .limit(batch_size)
        ).all()
        if not rows:
            break
        for row in rows:
            key = dedup_key(row.municipality_id, row.name, row.road_address, row.address_detail)
            entries.append((row, key, blind_index(row.name)))
        report.checked += len(rows)
        last_id = rows[-1].id
    # Keys that do not change are held already; a changed key that one of them (or an earlier
    # changed one) holds is a duplicate. A changed old key was made with invisible characters,
    # which no new key holds: the updates below cannot collide with each other.
    holders = {(row.municipality_id, row.dedup_key): row.id for row, _, _ in entries}
    fresh = []
    for row, key, name_index in entries:
        if key != row.dedup_key:
            holder = holders.setdefault((row.municipality_id, key), row.id)
            if holder != row.id:
                report.duplicates.append((row.id, holder))
                key = row.dedup_key
        if (name_index, key) != (row.name_index, row.dedup_key):
            fresh.append({"row_id": row.id, "new_name": name_index, "new_key": key})
    table = Household.__table__
    statement = (  # Core, as for districts: re-indexing is no edit of the household
        sa.update(table)
        .where(table.c.id == sa.bindparam("row_id"))
        .values(name_index=sa.bindparam("new_name"), dedup_key=sa.bindparam("new_key"))
    )
    for start in range(0, len(fresh), batch_size):
        db.session.execute(statement, fresh[start : start + batch_size])
    report.changed = len(fresh)
    return report
