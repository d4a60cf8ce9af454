"""Starting a plan: the day's due items and carriers on shift, stored as its stops and routes.

What a plan takes is fixed when it starts; the worker solves it later (a queued search).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import sqlalchemy as sa

from core.auth.principal import Principal
from core.clock import SEOUL, parse_range
from core.db import db
from core.errors import Conflict, Invalid
from municipalities.mail.stops import ItemToPlan, items_due
from municipalities.mail.tracking import ItemStatus
from postal.directory import carriers_on_duty, lock_office
from postal.services import check_delivery_day, dispatchers_office
from routing import postal_model
from routing.models import OfficeItem, PlanRoute, PlanStop, RoutePlan
from routing.plans import days
from routing.plans.claims import claimed_mail_items, release, release_past_days, unclaimed
from routing.plans.settings import Settings
from routing.plans.states import DRAFTS, HANDED_OUT, PlanStatus, set_status
from routing.plans.worker import send_to_worker

if TYPE_CHECKING:
    from postal.directory import Carrier


@dataclass(frozen=True)
class NewPlan:
    """A day to plan: which of the office's carriers on shift take part, and the search's limit."""

    day: date
    #: None: every carrier on shift.
    carrier_ids: Sequence[int] | None = None
    #: None: the settings' time limit.
    time_limit_s: int | None = None


def start_plan(principal: Principal, office_id: int, new: NewPlan) -> RoutePlan:
    """Snapshot the day's stops and carriers and queue the solve (the answer is a job)."""
    office = dispatchers_office(principal, office_id)
    settings = Settings.current()
    day = new.day
    if days.is_over(day):
        raise Invalid(fields={"day": ["지난 날의 계획은 만들 수 없습니다. (The day has passed.)"]})
    check_delivery_day(office, day)
    lock_office(office.id)  # two dispatchers planning the office's day at once take turns
    release_past_days(office.id)
    _replace_drafts(office.id, day)
    carriers = _carriers_on_shift(office.id, new.carrier_ids)
    limit = new.time_limit_s or settings.time_limit_s
    if limit > settings.time_limit_max_s:
        most = settings.time_limit_max_s
        raise Invalid(fields={"time_limit_s": [f"{most}초까지입니다. (At most {most} s.)"]})
    plan = RoutePlan(
        office_id=office.id, day=day, time_limit_s=limit, requested_by=principal.account_id
    )
    set_status(plan, PlanStatus.QUEUED)
    db.session.add(plan)
    db.session.flush()
    for carrier in carriers:
        db.session.add(
            PlanRoute(
                plan_id=plan.id,
                carrier_id=carrier.id,
                profile=carrier.profile,
                shift_start_s=carrier.shift_start_min * 60,
                shift_end_s=carrier.shift_end_min * 60,
                lunch_s=carrier.lunch_minutes * 60,
            )
        )
    homes = {c.id: c.home_district_id for c in carriers}
    last = last_carriers(office.id)
    welfare = _welfare_stops(office.id, day, settings)
    for stop in welfare + _office_stops(office.id, day, settings):
        stop.plan_id = plan.id
        stop.preferred_carriers = preferred_carriers(
            stop.district_id, last.get(stop.household_id), homes
        )
        db.session.add(stop)
    send_to_worker(plan, "solve")
    return plan


def _replace_drafts(office_id: int, day: date) -> None:
    """A new plan of a day replaces its drafts; a published day is changed, not planned again."""
    plans = list(
        db.session.scalars(
            sa.select(RoutePlan).where(
                RoutePlan.office_id == office_id,
                RoutePlan.day == day,
                RoutePlan.status.in_((*DRAFTS, PlanStatus.PUBLISHED)),
            )
        )
    )
    published = next((p for p in plans if p.status == PlanStatus.PUBLISHED), None)
    if published is not None:
        raise Conflict(
            f"{day.isoformat()} 계획 #{published.id}은 이미 배포되었습니다. 그 계획을 고치거나 "
            f"다시 최적화하세요. (Plan #{published.id} of this day is published: edit or "
            "re-optimise it.)"
        )
    for draft in plans:
        set_status(draft, PlanStatus.DISCARDED)
        draft.version += 1
    release([p.id for p in plans])


def _carriers_on_shift(office_id: int, carrier_ids: Sequence[int] | None) -> list[Carrier]:
    carriers = carriers_on_duty(office_id)
    if carrier_ids is not None:
        known = {c.id: c for c in carriers}
        unknown = [i for i in carrier_ids if i not in known]
        if unknown:
            raise Invalid(fields={"carrier_ids": [f"이 우체국의 집배원이 아닙니다: {unknown}"]})
        carriers = [known[i] for i in dict.fromkeys(carrier_ids)]
    if not carriers:
        raise Invalid(
            fields={"carrier_ids": ["근무하는 집배원이 없습니다. (No carrier on shift.)"]}
        )
    return carriers


def _windows(hours: list) -> list[list[int]]:
    return [list(parse_range(f"{start}-{end}")) for start, end in hours]


def _welfare_stops(office_id: int, day: date, settings: Settings) -> list[PlanStop]:
    items = items_due(office_id, day)
    claimed = claimed_mail_items(item.item_id for item in items)
    stops = []
    for item in items:
        if item.item_id in claimed:
            continue  # on another open plan
        waited = (day - item.created_at.astimezone(SEOUL).date()).days
        priority = postal_model.item_priority(
            "welfare",
            risk_sources=item.risk_count,
            age_days=waited,
            redelivery=item.status == ItemStatus.REDELIVERY_SCHEDULED.value,
        )
        stops.append(welfare_stop(item, settings, priority))
    return stops


def welfare_stop(item: ItemToPlan, settings: Settings, priority: int) -> PlanStop:
    """A stop delivering the welfare item at its household, in the household's hours."""
    return PlanStop(
        kind="welfare",
        mail_item_id=item.item_id,
        household_id=item.household_id,
        district_id=item.district_id,
        lon=item.lon,
        lat=item.lat,
        service_s=settings.welfare_service_s,
        windows=_windows(item.preferred_hours or []),
        priority=priority,
    )


def last_carriers(office_id: int, household_ids: list[int] | None = None) -> dict[int, int]:
    """Each household's carrier on the office's latest published plan that visited it."""
    query = (
        sa.select(PlanStop.household_id, PlanStop.carrier_id)
        .join(RoutePlan, RoutePlan.id == PlanStop.plan_id)
        .where(
            RoutePlan.office_id == office_id,
            RoutePlan.status.in_(HANDED_OUT),
            PlanStop.household_id.is_not(None),
            PlanStop.carrier_id.is_not(None),
        )
        .order_by(RoutePlan.day, RoutePlan.published_at)
    )
    if household_ids is not None:
        query = query.where(PlanStop.household_id.in_(household_ids))
    return {household: carrier for household, carrier in db.session.execute(query)}


def _office_stops(office_id: int, day: date, settings: Settings) -> list[PlanStop]:
    items = db.session.scalars(
        sa.select(OfficeItem)
        .where(
            OfficeItem.office_id == office_id,
            OfficeItem.day == day,
            OfficeItem.status == "due",
            unclaimed(PlanStop.office_item_id, OfficeItem.id),
        )
        .order_by(OfficeItem.id)
    )
    return [
        PlanStop(
            kind="registered",
            office_item_id=item.id,
            district_id=item.district_id,
            lon=item.lon,
            lat=item.lat,
            service_s=item.service_s or settings.registered_service_s,
            windows=_windows(item.windows or []),
            priority=postal_model.item_priority("registered"),
        )
        for item in items
    ]


def preferred_carriers(
    district_id: int | None, last: int | None, homes: dict[int, int | None]
) -> list[int]:
    """The last visitor of a welfare household if on shift, else its district's carriers."""
    if last in homes:
        return [last]
    return [carrier for carrier, home in homes.items() if home and home == district_id]
