"""The solve job: queueing a plan's search on the outbox, and the worker that runs it."""

from __future__ import annotations

from typing import Any

from core.db import db, transaction, utcnow
from core.outbox import Message, enqueue
from routing.models import RoutePlan
from routing.plans.claims import release
from routing.plans.handout import hand_out, notify_changes
from routing.plans.problem import build_problem, retime, store_answer
from routing.plans.settings import Settings
from routing.plans.states import (
    PlanStatus,
    SearchStatus,
    search_status,
    set_search_status,
    set_status,
)
from routing.plans.stops import (
    closed_stop_ids,
    done_stop_ids,
    ordered,
    place,
    plan_stops,
    route_orders,
)
from routing.vrp.decompose import solve_large

KIND = "route_plan"


def queue_search(plan: RoutePlan, mode: str, **extra: Any) -> None:
    """Queue a search; a published plan keeps serving its carriers until the answer is in."""
    set_search_status(plan, SearchStatus.QUEUED)
    send_to_worker(plan, mode, **extra)


def send_to_worker(plan: RoutePlan, mode: str, **extra: Any) -> None:
    """Put a queued plan's search on the outbox, naming the version it is for."""
    plan.version += 1
    plan.error = None
    db.session.flush()
    enqueue(KIND, {"plan": plan.id, "version": plan.version, "mode": mode, **extra}, plan.id)


def run_plan(message: Message) -> None:
    """Outbox handler: solve a queued plan in a solver process and store the routes.

    The database is read and written in short transactions around the solve, never held
    during it. An urgent visit comes here only when no route as it stands could take it
    (routing.plans.edits.insert_urgent tried every place): the unvisited stops are re-planned,
    a stop moving off its carrier's route at a cost (least disturbance).
    """
    payload, settings, mode = message.payload, Settings.current(), message.payload["mode"]
    with transaction():
        plan = db.session.get(RoutePlan, payload["plan"])
        # "solving" again means the worker that claimed it died (the outbox lease ran out).
        if plan is None or plan.version != payload["version"] or search_status(plan) is None:
            return
        keep = plan.status == PlanStatus.PUBLISHED
        set_search_status(plan, SearchStatus.SOLVING)
        plan.started_at = utcnow()
        before = route_orders(plan.id)
        served = {s.id: (s.carrier_id, s.arrival_s, s.waiting_s) for s in plan_stops(plan.id)}
        limit = plan.time_limit_s
        built = build_problem(
            plan, settings, keep_routes=mode != "solve", keep_carriers=mode == "insert"
        )
    answer = solve_large(built.problem, limit, osrm_url=settings.osrm_url)
    with transaction():
        plan = db.session.get(RoutePlan, payload["plan"])
        if plan.version != payload["version"] or search_status(plan) != SearchStatus.SOLVING:
            return  # replaced by a new plan of its day meanwhile: the answer is not wanted
        if answer["code"] != 0:
            plan.error = answer.get("error", "")[:300]
            if not keep:
                set_status(plan, PlanStatus.FAILED)
                release([plan.id])
        else:
            store_answer(plan, answer, built.passed)
            plan.summary = answer["summary"]
            if keep:
                _keep_visited(plan, served)
            else:
                set_status(plan, PlanStatus.READY)
        if keep:
            set_search_status(plan, None)
        plan.finished_at = utcnow()
        plan.version += 1
        if keep and answer["code"] == 0:
            hand_out(plan, None)
            notify_changes(plan, before, urgent=mode == "insert")


def _keep_visited(plan: RoutePlan, served: dict[int, tuple[int | None, int, int]]) -> None:
    """Stops visited while the search ran stay where the carrier who had them visited them."""
    stops = plan_stops(plan.id)
    visited = closed_stop_ids(stops)
    moved = []
    for stop in stops:
        carrier_id, arrival_s, waiting_s = served.get(stop.id, (None, None, None))
        if stop.id in visited and carrier_id is not None and stop.carrier_id != carrier_id:
            done = done_stop_ids(stops)
            before = [s for s in ordered(stops, carrier_id) if s.id in done]
            position = sum(1 for s in before if s.arrival_s <= arrival_s)
            place(plan.id, stops, stop, carrier_id, position)
            stop.arrival_s, stop.waiting_s = arrival_s, waiting_s
            moved.append(stop)
    if moved:
        db.session.flush()
        retime(plan)
