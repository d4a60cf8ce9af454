"""Welfare items as the stops of a round: what planning and the carrier app read of them, and
what handing them out does. Plain records, by ids, each function one query whatever the count
(a plan has thousands of stops); reading a name is the caller's to access-log."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from core.db import db
from municipalities.mail.models import MailItem
from municipalities.mail.services import record_event
from municipalities.mail.tracking import EventCode, ItemStatus
from municipalities.models import Household

# Items at the office: handing one out sends it out for delivery.
WAITING = (ItemStatus.AT_OFFICE.value, ItemStatus.REDELIVERY_SCHEDULED.value)
# Items a round can take: waiting at the office, due again, or out on a plan being redone.
DUE_STATUSES = (*WAITING, ItemStatus.OUT_FOR_DELIVERY.value)


@dataclass(frozen=True)
class ItemToPlan:
    """A welfare item with what planning weighs: its household's position, hours and risks."""

    item_id: int
    household_id: int
    district_id: int
    status: str
    created_at: datetime
    lon: float | None
    lat: float | None
    #: The household's preferred hours, [["HH:MM", "HH:MM"], ...]; empty: any.
    preferred_hours: list
    #: How many risk sources the household has (which ones planning never needs).
    risk_count: int


@dataclass(frozen=True)
class ItemPlace:
    """Where a welfare item goes: its number, its household's address, whose household it is."""

    registered_number: str
    road_address: str
    address_detail: str | None
    household_id: int
    municipality_id: int


@dataclass(frozen=True)
class ItemAtDoor(ItemPlace):
    """What a carrier's app shows of a welfare item at the door: also its status and addressee."""

    status: str
    addressee: str


_TO_PLAN = sa.select(
    MailItem.id,
    MailItem.household_id,
    MailItem.district_id,
    MailItem.status,
    MailItem.created_at,
    Household.lon,
    Household.lat,
    Household.preferred_hours,
    Household.risk_sources,
).join(Household, Household.id == MailItem.household_id)
_PLACE = (
    MailItem.registered_number,
    Household.road_address,
    Household.address_detail,
    MailItem.household_id,
    MailItem.municipality_id,
)
# A carrier's visit asks this on every upload: built once.
_AT_OFFICE = (
    sa.select(MailItem, Household.lon, Household.lat)
    .join(Household, Household.id == MailItem.household_id)
    .where(
        MailItem.registered_number == sa.bindparam("number"),
        MailItem.office_id == sa.bindparam("office_id"),
    )
)


def _to_plan(row: sa.Row) -> ItemToPlan:
    *facts, risks = row
    return ItemToPlan(*facts, risk_count=len(risks or []))


def items_due(office_id: int, day: date) -> list[ItemToPlan]:
    """The office's items a round can take by `day` whose household has a position, by id."""
    rows = db.session.execute(
        _TO_PLAN.where(
            MailItem.office_id == office_id,
            MailItem.status.in_(DUE_STATUSES),
            MailItem.due_on <= day,
            Household.lon.is_not(None),
        ).order_by(MailItem.id)
    )
    return [_to_plan(row) for row in rows]


def item_to_plan(item_id: int, office_id: int) -> ItemToPlan | None:
    """One item of the office as planning weighs it (whatever its status), or None."""
    row = db.session.execute(
        _TO_PLAN.where(MailItem.id == item_id, MailItem.office_id == office_id)
    ).first()
    return None if row is None else _to_plan(row)


def open_items(item_ids: Iterable[int]) -> set[int]:
    """Which of these items a round can still take (the others left the office's hands)."""
    return set(
        db.session.scalars(
            sa.select(MailItem.id).where(
                MailItem.id.in_(list(item_ids)), MailItem.status.in_(DUE_STATUSES)
            )
        )
    )


def roll_over(item_ids: Iterable[int], day: date) -> None:
    """Items left off a published round are due on `day` (one out for delivery keeps its day)."""
    items = db.session.scalars(
        sa.select(MailItem).where(
            MailItem.id.in_(list(item_ids)),
            MailItem.status != ItemStatus.OUT_FOR_DELIVERY.value,
        )
    )
    for item in items:
        item.due_on = day


def send_out(item_ids: Iterable[int], actor_id: int | None, place: str) -> None:
    """Those of these items still waiting at the office go out for delivery from `place`."""
    items = db.session.scalars(
        sa.select(MailItem)
        .where(MailItem.id.in_(list(item_ids)), MailItem.status.in_(WAITING))
        .order_by(MailItem.id)
    )
    for item in items:
        record_event(item, EventCode.OUT_FOR_DELIVERY, actor_id=actor_id, place=place)


def places_of(item_ids: Iterable[int]) -> dict[int, ItemPlace]:
    """Each of these items' number and address, by item id."""
    return {row[0]: ItemPlace(*row[1:]) for row in _by_id(_PLACE, item_ids)}


def doors_of(item_ids: Iterable[int]) -> dict[int, ItemAtDoor]:
    """Each of these items as the carrier's app shows it, by item id; the name is decrypted."""
    columns = (*_PLACE, MailItem.status, Household.name)
    return {row[0]: ItemAtDoor(*row[1:]) for row in _by_id(columns, item_ids)}


def _by_id(columns: tuple, item_ids: Iterable[int]) -> list[sa.Row]:
    """Only the columns asked for: no other field of the household is read or decrypted."""
    ids = list(item_ids)
    if not ids:
        return []
    return db.session.execute(
        sa.select(MailItem.id, *columns)
        .join(Household, Household.id == MailItem.household_id)
        .where(MailItem.id.in_(ids))
        .order_by(MailItem.id)
    ).all()


def item_at_office(number: str, office_id: int) -> tuple[MailItem, tuple[float, float]] | None:
    """The office's item with this registered number and its household's position, or None."""
    row = db.session.execute(_AT_OFFICE, {"number": number, "office_id": office_id}).first()
    return None if row is None else (row.MailItem, (row.lon, row.lat))


def item_of_number(number: sa.ColumnElement[str] | str) -> sa.Select[tuple[int]]:
    """The id of the item with this registered number (no row: none), as a select to build into
    a query: a carrier's scan stays one statement whatever kind of item it finds."""
    return sa.select(MailItem.id).where(MailItem.registered_number == number)
