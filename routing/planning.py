"""The dispatcher's day: due items become a plan, solved by the worker, edited and published.

A plan is a job: starting one stores its stops and carriers and queues an outbox message; the
worker (`flask outbox run`) solves it in a separate process and writes the routes back. Edits
(move, lock) are timed at once without a search; re-optimising and inserting an urgent visit
go through the worker again. Publishing tells the carriers (push through the outbox).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from core.audit import record_access
from core.auth.models import Account
from core.auth.principal import Principal
from core.auth.roles import Role
from core.db import db, transaction, utcnow
from core.errors import Conflict, Invalid, NotFound
from core.outbox import ALERTS, NOTICES, Message, enqueue
from core.push import enqueue_push
from municipalities.mail import SEOUL, record_event
from municipalities.models import Household, MailItem
from municipalities.tracking import EventCode, ItemStatus
from routing import postal_model, solver
from routing.decompose import solve_large
from routing.models import (
    Carrier,
    DeliveryOffice,
    OfficeItem,
    PlanRoute,
    PlanStop,
    RouteHandout,
    RoutePlan,
)
from routing.postal_model import CarrierSpec, StopSpec
from routing.services import check_delivery_day, dispatchers_office, next_delivery_day

KIND = "route_plan"
# Items a round can take: waiting at the office, due again, or out on a plan being redone.
# Items at the office: handing one out sends it out for delivery.
WAITING = (ItemStatus.AT_OFFICE.value, ItemStatus.REDELIVERY_SCHEDULED.value)
DUE_STATUSES = (*WAITING, ItemStatus.OUT_FOR_DELIVERY.value)
EDITABLE = ("ready", "published")
# A search waiting or under way: on a new plan its status, on a published plan its job_status.
BUSY = ("queued", "solving")
# Plans that were never handed out and can be replaced by a new plan of their day.
DRAFTS = ("queued", "solving", "ready", "failed")
# Keeping a stop with its current carrier when an urgent visit forces a re-plan.
KEEP_CARRIER_COST_S = 3600

REASONS = {
    solver.REASON_WINDOW: "희망 시간에 갈 집배원이 없습니다. (No carrier in time.)",
    solver.REASON_GENERIC: "근무 시간에 들어가지 않습니다. (Does not fit the shifts.)",
    solver.REASON_LOCKED: "고정된 집배원이 배달할 수 없습니다. (Its carrier cannot.)",
    solver.REASON_NOT_ROUTED: "배정되지 않았습니다. (Not on any route.)",
    "passed": "희망 시간이 이미 지났습니다. (Its preferred hours have passed.)",
    "rolled_over": "다음 배달일로 넘어갔습니다. (Rolled over to the next delivery day.)",
}


class StalePlan(Conflict):
    code = "stale_plan"
    message = "계획이 그사이 바뀌었습니다. 새로 불러오세요. (The plan changed; reload it.)"


class PlanBusy(Conflict):
    code = "plan_busy"
    message = "계획을 계산하는 중입니다. (The plan is being solved.)"


@dataclass(frozen=True)
class Settings:
    """Planning settings from the app's configuration (core.config.Config.ROUTING_*)."""

    welfare_service_s: int
    registered_service_s: int
    lunch_window: tuple[int, int]
    preference_cost: int
    time_limit_s: int
    time_limit_max_s: int
    osrm_url: str | None

    @classmethod
    def current(cls) -> Settings:
        """The settings of the running app."""
        config = current_app.config
        return cls(
            welfare_service_s=int(config["ROUTING_WELFARE_SERVICE_S"]),
            registered_service_s=int(config["ROUTING_REGISTERED_SERVICE_S"]),
            lunch_window=postal_model.parse_range(config["ROUTING_LUNCH_WINDOW"]),
            preference_cost=int(config["ROUTING_PREFERENCE_COST_S"]),
            time_limit_s=int(config["ROUTING_PLAN_TIME_LIMIT_S"]),
            time_limit_max_s=int(config["ROUTING_PLAN_TIME_LIMIT_MAX_S"]),
            osrm_url=config["OSRM_URL"],
        )


def seoul_now() -> datetime:
    """The current time in Korea."""
    return datetime.now(SEOUL)


def _clock(day: date, now: datetime) -> int | None:
    """Seconds after midnight of `day` at `now`: 0 for a future day, None for a past one."""
    today = now.astimezone(SEOUL).date()
    if day > today:
        return 0
    if day < today:
        return None
    local = now.astimezone(SEOUL)
    return local.hour * 3600 + local.minute * 60 + local.second


# --- Access ----------------------------------------------------------------------------------


def plans_visible_to(principal: Principal) -> sa.Select:
    """Dispatchers see their office's plans; others none (carriers read /carrier/route)."""
    query = sa.select(RoutePlan).order_by(RoutePlan.day.desc(), RoutePlan.id.desc())
    if principal.role == Role.DISPATCHER:
        return query.where(RoutePlan.office_id == principal.office_id)
    return query.where(sa.false())


def get_plan(principal: Principal, plan_id: int, *, for_update: bool = False) -> RoutePlan:
    """One visible plan, or 404; dispatchers only when for_update."""
    if for_update and principal.role != Role.DISPATCHER:
        raise NotFound()
    plan = db.session.scalar(plans_visible_to(principal).where(RoutePlan.id == plan_id))
    if plan is None:
        raise NotFound()
    return plan


def _editable(principal: Principal, plan_id: int, version: int) -> RoutePlan:
    plan = get_plan(principal, plan_id, for_update=True)
    if plan.status in BUSY or plan.job_status is not None:
        raise PlanBusy()
    if plan.status not in EDITABLE:
        raise Conflict(
            f"{plan.status} 상태의 계획은 바꿀 수 없습니다. (A {plan.status} plan is final.)"
        )
    if plan.version != version:
        raise StalePlan()
    return plan


# --- Starting a plan --------------------------------------------------------------------------


def start_plan(principal: Principal, office_id: int, data: dict) -> RoutePlan:
    """Snapshot the day's stops and carriers and queue the solve (the answer is a job)."""
    office = dispatchers_office(principal, office_id)
    settings = Settings.current()
    day: date = data["day"]
    if _clock(day, seoul_now()) is None:
        raise Invalid(fields={"day": ["지난 날의 계획은 만들 수 없습니다. (The day has passed.)"]})
    check_delivery_day(office, day)
    _lock_office(office.id)
    _release_past_days(office.id)
    _replace_drafts(office.id, day)
    carriers = _carriers_on_shift(office.id, data.get("carrier_ids"))
    limit = data.get("time_limit_s") or settings.time_limit_s
    if limit > settings.time_limit_max_s:
        most = settings.time_limit_max_s
        raise Invalid(fields={"time_limit_s": [f"{most}초까지입니다. (At most {most} s.)"]})
    plan = RoutePlan(
        office_id=office.id, day=day, time_limit_s=limit, requested_by=principal.account_id
    )
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
    last = _last_carriers(office.id)
    welfare = _welfare_stops(office.id, day, settings)
    for stop in welfare + _office_stops(office.id, day, settings):
        stop.plan_id = plan.id
        stop.preferred_carriers = _preferred(stop.district_id, last.get(stop.household_id), homes)
        db.session.add(stop)
    _queue(plan, "solve")
    return plan


def _lock_office(office_id: int) -> None:
    """Serialise whatever claims the office's items (two dispatchers planning at once)."""
    db.session.execute(
        sa.select(DeliveryOffice.id).where(DeliveryOffice.id == office_id).with_for_update()
    )


def _release(plan_ids: sa.Select | list[int]) -> None:
    """The plans' stops no longer hold their items: another plan may take them."""
    db.session.execute(
        sa.update(PlanStop)
        .where(PlanStop.plan_id.in_(plan_ids), PlanStop.claimed.is_(True))
        .values(claimed=None)
    )


def _release_past_days(office_id: int) -> None:
    """Plans of days that are over give their unvisited items back: they roll over now."""
    today = seoul_now().date()
    _release(sa.select(RoutePlan.id).where(RoutePlan.office_id == office_id, RoutePlan.day < today))


def _replace_drafts(office_id: int, day: date) -> None:
    """A new plan of a day replaces its drafts; a published day is changed, not planned again."""
    plans = list(
        db.session.scalars(
            sa.select(RoutePlan).where(
                RoutePlan.office_id == office_id,
                RoutePlan.day == day,
                RoutePlan.status.in_((*DRAFTS, "published")),
            )
        )
    )
    published = next((p for p in plans if p.status == "published"), None)
    if published is not None:
        raise Conflict(
            f"{day.isoformat()} 계획 #{published.id}은 이미 배포되었습니다. 그 계획을 고치거나 "
            f"다시 최적화하세요. (Plan #{published.id} of this day is published: edit or "
            "re-optimise it.)"
        )
    for draft in plans:
        draft.status = "discarded"
        draft.version += 1
    _release([p.id for p in plans])


def _unclaimed(stop_column: Any, item_id: Any) -> sa.ColumnElement[bool]:
    """The item is on no open plan (its stops there claim it)."""
    return ~sa.exists().where(stop_column == item_id, PlanStop.claimed.is_(True))


def _carriers_on_shift(office_id: int, carrier_ids: list[int] | None) -> list[Carrier]:
    query = (
        sa.select(Carrier)
        .join(Account, Account.id == Carrier.account_id)
        .where(Account.office_id == office_id, Account.is_active.is_(True))
        .order_by(Carrier.employee_no)
    )
    carriers = list(db.session.scalars(query))
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
    return [list(postal_model.parse_range(f"{start}-{end}")) for start, end in hours]


def _welfare_stops(office_id: int, day: date, settings: Settings) -> list[PlanStop]:
    rows = db.session.execute(
        sa.select(MailItem, Household)
        .join(Household, Household.id == MailItem.household_id)
        .where(
            MailItem.office_id == office_id,
            MailItem.status.in_(DUE_STATUSES),
            MailItem.due_on <= day,
            Household.lon.is_not(None),
            _unclaimed(PlanStop.mail_item_id, MailItem.id),
        )
        .order_by(MailItem.id)
    )
    stops = []
    for item, household in rows:
        waited = (day - item.created_at.astimezone(SEOUL).date()).days
        priority = postal_model.item_priority(
            "welfare",
            risk_sources=len(household.risk_sources or []),
            age_days=waited,
            redelivery=item.status == ItemStatus.REDELIVERY_SCHEDULED.value,
        )
        stops.append(_welfare_stop(item, household, settings, priority))
    return stops


def _welfare_stop(
    item: MailItem, household: Household, settings: Settings, priority: int
) -> PlanStop:
    return PlanStop(
        kind="welfare",
        mail_item_id=item.id,
        household_id=household.id,
        district_id=item.district_id,
        lon=household.lon,
        lat=household.lat,
        service_s=settings.welfare_service_s,
        windows=_windows(household.preferred_hours or []),
        priority=priority,
    )


def _last_carriers(office_id: int, household_ids: list[int] | None = None) -> dict[int, int]:
    """Each household's carrier on the office's latest published plan that visited it."""
    query = (
        sa.select(PlanStop.household_id, PlanStop.carrier_id)
        .join(RoutePlan, RoutePlan.id == PlanStop.plan_id)
        .where(
            RoutePlan.office_id == office_id,
            RoutePlan.status.in_(("published", "superseded")),
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
            _unclaimed(PlanStop.office_item_id, OfficeItem.id),
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


def _preferred(
    district_id: int | None, last: int | None, homes: dict[int, int | None]
) -> list[int]:
    """The last visitor of a welfare household if on shift, else its district's carriers."""
    if last in homes:
        return [last]
    return [carrier for carrier, home in homes.items() if home and home == district_id]


def _queue(plan: RoutePlan, mode: str, **extra: Any) -> None:
    """Queue a search; a published plan keeps serving its carriers until the answer is in."""
    if plan.status == "published":
        plan.job_status = "queued"
    else:
        plan.status = "queued"
    plan.version += 1
    plan.error = None
    db.session.flush()
    enqueue(KIND, {"plan": plan.id, "version": plan.version, "mode": mode, **extra}, plan.id)


# --- Solving (the worker) ---------------------------------------------------------------------


def run_plan(message: Message) -> None:
    """Outbox handler: solve a queued plan in a solver process and store the routes.

    The database is read and written in short transactions around the solve, never held
    during it. An urgent insertion first tries the routes as they are (every stop locked, so
    at most the absorbing route changes) and re-plans the unvisited stops only if that fails.
    """
    payload, settings, mode = message.payload, Settings.current(), message.payload["mode"]
    with transaction():
        plan = db.session.get(RoutePlan, payload["plan"])
        # "solving" again means the worker that claimed it died (the outbox lease ran out).
        if plan is None or plan.version != payload["version"] or _search_state(plan) not in BUSY:
            return
        keep = plan.status == "published"
        _set_search_state(plan, "solving")
        plan.started_at = utcnow()
        before = _route_orders(plan.id)
        served = {s.id: (s.carrier_id, s.arrival_s, s.waiting_s) for s in _stops(plan.id)}
        limit = plan.time_limit_s
        built = _build(plan, settings, keep_routes=mode != "solve", lock_all=mode == "insert")
    answer = solve_large(built.problem, limit, osrm_url=settings.osrm_url)
    passes = 1
    if mode == "insert" and payload["stop"] in {u["id"] for u in answer.get("unassigned", [])}:
        with transaction():
            plan = db.session.get(RoutePlan, payload["plan"])
            built = _build(plan, settings, keep_routes=True, keep_carriers=True)
        answer = solve_large(built.problem, limit, osrm_url=settings.osrm_url)
        passes = 2
    with transaction():
        plan = db.session.get(RoutePlan, payload["plan"])
        if plan.version != payload["version"] or _search_state(plan) != "solving":
            return  # replaced by a new plan of its day meanwhile: the answer is not wanted
        if answer["code"] != 0:
            plan.error = answer.get("error", "")[:300]
            if not keep:
                plan.status = "failed"
                _release([plan.id])
        else:
            _store(plan, answer, built.passed)
            plan.summary = {**answer["summary"], "passes": passes}
            if keep:
                _keep_visited(plan, served)
            else:
                plan.status = "ready"
        plan.job_status, plan.finished_at = None, utcnow()
        plan.version += 1
        if keep and answer["code"] == 0:
            hand_out(plan, None)
            _notify_changes(plan, before, urgent=mode == "insert")


def _search_state(plan: RoutePlan) -> str | None:
    """queued or solving while a search is due or under way, else None."""
    if plan.status == "published":
        return plan.job_status
    return plan.status if plan.status in BUSY else None


def _set_search_state(plan: RoutePlan, state: str) -> None:
    if plan.status == "published":
        plan.job_status = state
    else:
        plan.status = state


def _keep_visited(plan: RoutePlan, served: dict[int, tuple[int | None, int, int]]) -> None:
    """Stops visited while the search ran stay where the carrier who had them visited them."""
    stops = _stops(plan.id)
    visited = _closed_stop_ids(stops)
    moved = []
    for stop in stops:
        carrier_id, arrival_s, waiting_s = served.get(stop.id, (None, None, None))
        if stop.id in visited and carrier_id is not None and stop.carrier_id != carrier_id:
            done = _done_stop_ids(stops)
            before = [s for s in _ordered(stops, carrier_id) if s.id in done]
            position = sum(1 for s in before if s.arrival_s <= arrival_s)
            _move(plan, stops, stop, carrier_id, position)
            stop.arrival_s, stop.waiting_s = arrival_s, waiting_s
            moved.append(stop)
    if moved:
        db.session.flush()
        _retime(plan)


def hand_out(plan: RoutePlan, actor_id: int | None) -> None:
    """Record which carrier has which item in this published version (theirs to visit); mail
    newly on a route goes out for delivery."""
    known = {
        (stop_id, carrier_id)
        for stop_id, carrier_id in db.session.execute(
            sa.select(RouteHandout.stop_id, RouteHandout.carrier_id).where(
                RouteHandout.plan_id == plan.id
            )
        )
    }
    stops = [s for s in _stops(plan.id) if s.carrier_id is not None]
    office = db.session.get(DeliveryOffice, plan.office_id)
    for item in _items_of(stops).values():
        if item.status in WAITING:
            record_event(item, EventCode.OUT_FOR_DELIVERY, actor_id=actor_id, place=office.name)
    for stop in stops:
        if (stop.id, stop.carrier_id) not in known:
            db.session.add(
                RouteHandout(
                    plan_id=plan.id,
                    stop_id=stop.id,
                    carrier_id=stop.carrier_id,
                    mail_item_id=stop.mail_item_id,
                    office_item_id=stop.office_item_id,
                    version=plan.version,
                )
            )


@dataclass
class _Built:
    problem: dict[str, Any]
    passed: dict[int, str]  # stops left out, with the reason


def _build(
    plan: RoutePlan,
    settings: Settings,
    *,
    keep_routes: bool,
    lock_all: bool = False,
    keep_carriers: bool = False,
    now_s: int | None = None,
) -> _Built:
    """The plan as a problem: visited stops pinned, the rest from now on (for a day under way).

    keep_routes: the current routes are the starting point; lock_all: and every routed stop
    stays on its carrier in its order; keep_carriers: moving a stop to another carrier costs
    KEEP_CARRIER_COST_S (least disturbance of a published plan).
    """
    if now_s is None:
        now_s = _clock(plan.day, seoul_now()) or 0
    office = db.session.get(DeliveryOffice, plan.office_id)
    routes = _routes(plan.id)
    stops = _stops(plan.id)
    done = _done_stop_ids(stops)
    specs, passed = [], {}
    for stop in stops:
        spec = StopSpec(
            id=stop.id,
            location=(stop.lon, stop.lat),
            service_s=stop.service_s,
            priority=postal_model.URGENT_PRIORITY if stop.urgent else stop.priority,
            preferred=list(stop.preferred_carriers or []),
            preference_cost=settings.preference_cost,
            locked=stop.locked or (lock_all and stop.carrier_id is not None),
        )
        if stop.id in done:
            # Done: pinned where and when it happened, before anything still to do.
            begin = stop.arrival_s + (stop.waiting_s or 0)
            spec.windows, spec.locked = [(begin, begin)], True
        elif not stop.claimed:
            passed[stop.id] = "rolled_over"  # left off when published: another plan's now
            continue
        else:
            windows = [tuple(w) for w in stop.windows or []]
            spec.windows = postal_model.clip_windows(windows, now_s) if now_s else windows
            if not spec.windows and windows:
                passed[stop.id] = "passed"
                continue
            if keep_carriers and stop.carrier_id is not None:
                spec.preferred, spec.preference_cost = [stop.carrier_id], KEEP_CARRIER_COST_S
        specs.append(spec)
    included = {spec.id for spec in specs}
    carriers = []
    for route in routes:
        order = [s.id for s in _ordered(stops, route.carrier_id) if s.id in included]
        carriers.append(
            CarrierSpec(
                id=route.carrier_id,
                profile=route.profile,
                shift=(route.shift_start_s, route.shift_end_s),
                lunch_window=settings.lunch_window,
                lunch_s=route.lunch_s,
                route=order if keep_routes else [s for s in order if s in done],
            )
        )
    problem = postal_model.problem((office.depot_lon, office.depot_lat), carriers, specs)
    return _Built(problem, passed)


def _routes(plan_id: int) -> list[PlanRoute]:
    return list(
        db.session.scalars(
            sa.select(PlanRoute).where(PlanRoute.plan_id == plan_id).order_by(PlanRoute.id)
        )
    )


def _stops(plan_id: int) -> list[PlanStop]:
    return list(
        db.session.scalars(
            sa.select(PlanStop).where(PlanStop.plan_id == plan_id).order_by(PlanStop.id)
        )
    )


def _ordered(stops: list[PlanStop], carrier_id: int) -> list[PlanStop]:
    on_route = [s for s in stops if s.carrier_id == carrier_id and s.position is not None]
    return sorted(on_route, key=lambda s: s.position)


def _done_stop_ids(stops: list[PlanStop]) -> set[int]:
    """Stops already visited on their route: pinned where and when it happened."""
    closed = _closed_stop_ids(stops)
    return {s.id for s in stops if s.arrival_s is not None and s.id in closed}


def _closed_stop_ids(stops: list[PlanStop]) -> set[int]:
    """Stops whose item left the office's hands (visited, or closed some other way)."""
    item_ids = [s.mail_item_id for s in stops if s.mail_item_id is not None]
    open_items = set(
        db.session.scalars(
            sa.select(MailItem.id).where(
                MailItem.id.in_(item_ids), MailItem.status.in_(DUE_STATUSES)
            )
        )
    )
    office_ids = [s.office_item_id for s in stops if s.office_item_id is not None]
    open_office = set(
        db.session.scalars(
            sa.select(OfficeItem.id).where(
                OfficeItem.id.in_(office_ids), OfficeItem.status == "due"
            )
        )
    )
    return {
        s.id
        for s in stops
        if (s.mail_item_id is not None and s.mail_item_id not in open_items)
        or (s.office_item_id is not None and s.office_item_id not in open_office)
    }


def _store(plan: RoutePlan, answer: dict, passed: dict[int, str]) -> None:
    """Write a solver answer (solve or evaluate) into the plan's stops and routes."""
    stops = {s.id: s for s in _stops(plan.id)}
    routes = {r.carrier_id: r for r in _routes(plan.id)}
    for route in routes.values():
        route.start_s = route.end_s = route.lunch_start_s = None
        route.distance_m = route.travel_s = route.service_s = route.waiting_s = 0
    for answered in answer["routes"]:
        route = routes[answered["vehicle"]]
        steps = answered["steps"]
        route.start_s, route.end_s = steps[0]["arrival"], steps[-1]["arrival"]
        route.distance_m, route.travel_s = answered["distance"], answered["duration"]
        route.service_s, route.waiting_s = answered["service"], answered["waiting_time"]
        position = 0
        for step in steps:
            if step["type"] == "break":
                route.lunch_start_s = step["arrival"] + step["waiting_time"]
            if step["type"] != "job":
                continue
            stop = stops[step["id"]]
            stop.carrier_id, stop.position = route.carrier_id, position
            stop.arrival_s, stop.waiting_s = step["arrival"], step["waiting_time"]
            stop.late, stop.unassigned_reason = "violations" in step, None
            position += 1
    left_out = [(u["id"], u["reason"]) for u in answer["unassigned"]] + list(passed.items())
    for stop_id, reason in left_out:
        stop = stops[stop_id]
        stop.carrier_id = stop.position = stop.arrival_s = stop.waiting_s = None
        stop.late, stop.locked = False, False
        stop.unassigned_reason = REASONS.get(reason, reason)


def _route_orders(plan_id: int) -> dict[int, list[int]]:
    stops = _stops(plan_id)
    return {r.carrier_id: [s.id for s in _ordered(stops, r.carrier_id)] for r in _routes(plan_id)}


def _notify_changes(plan: RoutePlan, before: dict[int, list[int]], *, urgent: bool) -> None:
    """Push route_changed to each carrier of a published plan whose route changed."""
    after = _route_orders(plan.id)
    for carrier_id, order in after.items():
        if order != before.get(carrier_id):
            _push(plan, carrier_id, "route_changed", urgent=urgent)


def _push(plan: RoutePlan, carrier_id: int, event: str, **data: Any) -> None:
    account_id = db.session.scalar(sa.select(Carrier.account_id).where(Carrier.id == carrier_id))
    data = {"plan_id": plan.id, "day": plan.day.isoformat(), **data}
    # An urgent visit sends a carrier to an emergency: that push goes with the alerts.
    enqueue_push(account_id, event, data, queue=ALERTS if data.get("urgent") else NOTICES)


# --- Editing, re-optimising, publishing, urgent visits ----------------------------------------


def edit_stop(principal: Principal, plan_id: int, stop_id: int, data: dict) -> RoutePlan:
    """Move a stop to another carrier or position (or off every route), or (un)lock it."""
    plan = _editable(principal, plan_id, data["version"])
    stops = _stops(plan.id)
    stop = next((s for s in stops if s.id == stop_id), None)
    if stop is None:
        raise NotFound()
    if stop.id in _done_stop_ids(stops):
        raise Conflict("이미 방문한 곳은 옮길 수 없습니다. (This stop was already visited.)")
    before = _route_orders(plan.id)
    if data.get("carrier_id") is not None and not stop.claimed:
        _claim(plan, stop)  # left off when published: back on a route if no plan has it now
    if "carrier_id" in data:
        _move(plan, stops, stop, data["carrier_id"], data.get("position"))
    elif "position" in data:
        if stop.carrier_id is None:
            raise Invalid(
                fields={"position": ["배정되지 않은 곳입니다. (The stop is unassigned.)"]}
            )
        _move(plan, stops, stop, stop.carrier_id, data["position"])
    if "locked" in data:
        if data["locked"] and stop.carrier_id is None:
            raise Invalid(fields={"locked": ["배정된 곳만 고정합니다. (Only routed stops lock.)"]})
        stop.locked = data["locked"]
    db.session.flush()
    _retime(plan)
    plan.version += 1
    if plan.status == "published":
        hand_out(plan, principal.account_id)
        _notify_changes(plan, before, urgent=False)
    return plan


def _claim(plan: RoutePlan, stop: PlanStop) -> None:
    """Put the stop's item on this plan, unless another open plan has it (409 naming it)."""
    _lock_office(plan.office_id)
    _release_past_days(plan.office_id)
    if stop.mail_item_id is not None:
        column, item_id = PlanStop.mail_item_id, stop.mail_item_id
    else:
        column, item_id = PlanStop.office_item_id, stop.office_item_id
    holder = db.session.scalar(
        sa.select(RoutePlan)
        .join(PlanStop, PlanStop.plan_id == RoutePlan.id)
        .where(column == item_id, PlanStop.claimed.is_(True), PlanStop.plan_id != plan.id)
    )
    if holder is not None:
        day = holder.day.isoformat()
        raise Conflict(
            f"이 우편물은 {day} 계획 #{holder.id}에 있습니다. (The item is on plan #{holder.id} "
            f"of {day}.)"
        )
    stop.claimed = True


def _move(
    plan: RoutePlan, stops: list[PlanStop], stop: PlanStop, carrier_id: int | None, position
) -> None:
    if carrier_id is not None and carrier_id not in {r.carrier_id for r in _routes(plan.id)}:
        raise Invalid(fields={"carrier_id": ["이 계획의 집배원이 아닙니다. (Not on this plan.)"]})
    if stop.carrier_id is not None:
        rest = [s for s in _ordered(stops, stop.carrier_id) if s.id != stop.id]
        for index, other in enumerate(rest):
            other.position = index
    stop.carrier_id = carrier_id
    if carrier_id is None:
        stop.position, stop.locked = None, False
        stop.unassigned_reason = REASONS[solver.REASON_NOT_ROUTED]
        return
    target = [s for s in _ordered(stops, carrier_id) if s.id != stop.id]
    index = len(target) if position is None else min(position, len(target))
    target.insert(index, stop)
    for i, other in enumerate(target):
        other.position = i
    stop.unassigned_reason = None


def _retime(plan: RoutePlan) -> None:
    """Re-time every route as it now stands (no search); late stops are flagged."""
    settings = Settings.current()
    built = _build(plan, settings, keep_routes=True, now_s=0)
    answer = solver.evaluate(built.problem, osrm_url=settings.osrm_url)
    if answer["code"] != 0:
        raise Conflict(answer.get("error", "the plan cannot be timed"))
    _store(plan, answer, built.passed)
    plan.summary = {**answer["summary"], "edited": True}


def reoptimise(principal: Principal, plan_id: int, data: dict) -> RoutePlan:
    """Queue a new search from the current routes; locked stops keep carrier and order."""
    plan = _editable(principal, plan_id, data["version"])
    if _clock(plan.day, seoul_now()) is None:
        raise Conflict("지난 날의 계획입니다. (The plan's day has passed.)")
    if data.get("time_limit_s"):
        plan.time_limit_s = min(data["time_limit_s"], Settings.current().time_limit_max_s)
    _queue(plan, "optimise")
    return plan


def publish(principal: Principal, plan_id: int, data: dict) -> RoutePlan:
    """Hand the plan to the carriers: items go out for delivery, what did not fit rolls over."""
    plan = _editable(principal, plan_id, data["version"])
    if plan.status == "published":
        raise Conflict("이미 배포한 계획입니다. (Already published.)")
    office = db.session.get(DeliveryOffice, plan.office_id)
    next_day = next_delivery_day(office, plan.day + timedelta(days=1))
    stops = _stops(plan.id)
    items = _items_of(stops)
    for stop in stops:
        if stop.carrier_id is not None:
            continue
        item = items.get(stop.mail_item_id)
        stop.claimed = None  # not on a route: free for the next day's plan
        if item is not None and item.status != ItemStatus.OUT_FOR_DELIVERY.value:
            item.due_on = next_day
        elif stop.office_item_id is not None:
            _roll_office_item(stop.office_item_id, next_day)
    plan.status, plan.published_at, plan.published_by = "published", utcnow(), principal.account_id
    plan.version += 1
    hand_out(plan, principal.account_id)
    for route in _routes(plan.id):
        if route.start_s is not None:
            _push(plan, route.carrier_id, "route_published")
    return plan


def _items_of(stops: list[PlanStop]) -> dict[int, MailItem]:
    ids = [s.mail_item_id for s in stops if s.mail_item_id is not None]
    return {i.id: i for i in db.session.scalars(sa.select(MailItem).where(MailItem.id.in_(ids)))}


def _roll_office_item(item_id: int, next_day: date) -> None:
    item = db.session.get(OfficeItem, item_id)
    clash = db.session.scalar(
        sa.select(OfficeItem.id).where(
            OfficeItem.office_id == item.office_id,
            OfficeItem.day == next_day,
            OfficeItem.registered_number == item.registered_number,
        )
    )
    if clash is None:  # imported for the next day already: that row stands for it
        item.day = next_day


def insert_urgent(principal: Principal, plan_id: int, data: dict) -> RoutePlan:
    """Add an urgent welfare visit to a plan; the worker fits it with the least change."""
    plan = _editable(principal, plan_id, data["version"])
    if _clock(plan.day, seoul_now()) is None:
        raise Conflict("지난 날의 계획입니다. (The plan's day has passed.)")
    item = db.session.scalar(
        sa.select(MailItem).where(
            MailItem.id == data["item_id"], MailItem.office_id == plan.office_id
        )
    )
    if item is None:
        raise NotFound()
    if item.status not in DUE_STATUSES:
        raise Conflict("배달할 수 있는 상태가 아닙니다. (The item is not at the office.)")
    existing = db.session.scalar(
        sa.select(PlanStop).where(PlanStop.plan_id == plan.id, PlanStop.mail_item_id == item.id)
    )
    settings = Settings.current()
    if existing is not None and existing.carrier_id is not None:
        raise Conflict("이미 경로에 있습니다. (Already on a route.)")
    household = db.session.get(Household, item.household_id)
    if household.lon is None:
        raise Conflict("가구의 좌표가 없습니다. (The household has no position.)")
    stop = existing or _welfare_stop(item, household, settings, postal_model.URGENT_PRIORITY)
    stop.plan_id, stop.urgent = plan.id, True
    if not stop.claimed:
        _claim(plan, stop)
    if existing is None:
        homes = dict(
            db.session.execute(
                sa.select(Carrier.id, Carrier.home_district_id)
                .join(PlanRoute, PlanRoute.carrier_id == Carrier.id)
                .where(PlanRoute.plan_id == plan.id)
            ).all()
        )
        last = _last_carriers(plan.office_id, [household.id]).get(household.id)
        stop.preferred_carriers = _preferred(stop.district_id, last, homes)
        db.session.add(stop)
        db.session.flush()
    _queue(plan, "insert", stop=stop.id)
    return plan


# --- Reading ---------------------------------------------------------------------------------


def progress(plan: RoutePlan, now: datetime | None = None) -> int | None:
    """Percent done: 0 queued, by elapsed time while solving, 100 when answered."""
    state = _search_state(plan)
    if state == "queued":
        return 0
    if state == "solving":
        elapsed = ((now or utcnow()) - plan.started_at).total_seconds()
        return max(0, min(99, round(100 * elapsed / plan.time_limit_s)))
    return None if plan.status == "failed" else 100


def summarize(plan: RoutePlan) -> dict[str, Any]:
    """A plan's state and figures, without its stops."""
    counts = db.session.execute(
        sa.select(sa.func.count(PlanStop.id), sa.func.count(PlanStop.carrier_id)).where(
            PlanStop.plan_id == plan.id
        )
    ).one()
    return {
        "id": plan.id,
        "office_id": plan.office_id,
        "day": plan.day,
        "status": plan.status,
        "search": _search_state(plan),
        "version": plan.version,
        "progress": progress(plan),
        "error": plan.error,
        "time_limit_s": plan.time_limit_s,
        "stops": counts[0],
        "unassigned": counts[0] - counts[1] if plan.status not in BUSY else 0,
        "summary": plan.summary or {},
        "created_at": plan.created_at,
        "finished_at": plan.finished_at,
        "published_at": plan.published_at,
    }


def describe(principal: Principal, plan: RoutePlan) -> dict[str, Any]:
    """The plan as its dispatcher sees it: every route, the unassigned stops, the figures."""
    stops = _stops(plan.id)
    done = _done_stop_ids(stops)
    places = _places(stops)
    names = {
        carrier_id: name
        for carrier_id, name in db.session.execute(
            sa.select(Carrier.id, Account.display_name).join(
                Account, Account.id == Carrier.account_id
            )
        )
    }
    _log_read(principal, plan, stops)
    routes = []
    for route in _routes(plan.id):
        routes.append(
            {
                "carrier_id": route.carrier_id,
                "carrier_name": names.get(route.carrier_id, ""),
                "profile": route.profile,
                "shift": _range(route.shift_start_s, route.shift_end_s),
                "start": _hhmm(route.start_s),
                "end": _hhmm(route.end_s),
                "lunch": _range(route.lunch_start_s, route.lunch_start_s + route.lunch_s)
                if route.lunch_start_s is not None
                else None,
                "distance_m": route.distance_m,
                "travel_s": route.travel_s,
                "service_s": route.service_s,
                "waiting_s": route.waiting_s,
                "stops": [_stop_out(s, places, done) for s in _ordered(stops, route.carrier_id)],
            }
        )
    unassigned = [s for s in stops if s.carrier_id is None]
    return {
        **summarize(plan),
        "routes": routes,
        "unassigned_stops": [_stop_out(s, places, done) for s in unassigned],
    }


def _log_read(principal: Principal, plan: RoutePlan, stops: list[PlanStop]) -> None:
    """Reading a plan shows welfare households' addresses: access-logged per municipality."""
    item_ids = [s.mail_item_id for s in stops if s.mail_item_id is not None]
    households: dict[int, list[int]] = {}
    for municipality_id, household_id in db.session.execute(
        sa.select(MailItem.municipality_id, MailItem.household_id).where(MailItem.id.in_(item_ids))
    ):
        households.setdefault(municipality_id, []).append(household_id)
    for municipality_id, ids in households.items():
        record_access(
            principal.account_id, "read", "household", ids, municipality_id, f"plan={plan.id}"
        )


def _places(stops: list[PlanStop]) -> dict[int, tuple[str, str, str | None]]:
    """Registered number and address of each stop."""
    welfare = [s.mail_item_id for s in stops if s.mail_item_id is not None]
    rows = db.session.execute(
        sa.select(
            MailItem.id,
            MailItem.registered_number,
            Household.road_address,
            Household.address_detail,
        )
        .join(Household, Household.id == MailItem.household_id)
        .where(MailItem.id.in_(welfare))
    )
    by_item = {row[0]: tuple(row[1:]) for row in rows}
    other = [s.office_item_id for s in stops if s.office_item_id is not None]
    office_rows = db.session.execute(
        sa.select(
            OfficeItem.id,
            OfficeItem.registered_number,
            OfficeItem.road_address,
            OfficeItem.address_detail,
        ).where(OfficeItem.id.in_(other))
    )
    by_office = {row[0]: tuple(row[1:]) for row in office_rows}
    return {
        s.id: by_item[s.mail_item_id] if s.mail_item_id else by_office[s.office_item_id]
        for s in stops
    }


def _stop_out(stop: PlanStop, places: dict, done: set[int]) -> dict[str, Any]:
    number, address, detail = places[stop.id]
    return {
        "id": stop.id,
        "kind": stop.kind,
        "registered_number": number,
        "road_address": address,
        "address_detail": detail,
        "location": [stop.lon, stop.lat],
        "district_id": stop.district_id,
        "service_s": stop.service_s,
        "windows": [_range(a, b) for a, b in stop.windows or []],
        "priority": stop.priority,
        "urgent": stop.urgent,
        "locked": stop.locked,
        "done": stop.id in done,
        "position": stop.position,
        "arrival": _hhmm(stop.arrival_s),
        "arrival_s": stop.arrival_s,
        "waiting_s": stop.waiting_s,
        "late": stop.late,
        "preferred_carriers": stop.preferred_carriers or [],
        "unassigned_reason": stop.unassigned_reason,
    }


def _hhmm(seconds: int | None) -> str | None:
    return None if seconds is None else postal_model.format_hhmm(seconds)


def _range(start: int | None, end: int | None) -> str | None:
    if start is None or end is None:
        return None
    return f"{postal_model.format_hhmm(start)}-{postal_model.format_hhmm(end)}"
