"""A plan as a VRP problem for the solver, and the solver's answer written back into it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import Conflict
from postal.directory import office_by_id
from routing import postal_model
from routing.models import PlanStop, RoutePlan
from routing.plans import days
from routing.plans.settings import Settings
from routing.plans.stops import REASONS, done_stop_ids, ordered, plan_routes, plan_stops
from routing.postal_model import CarrierSpec, StopSpec
from routing.vrp.solve import evaluate

# Keeping a stop with its current carrier when an urgent visit forces a re-plan.
KEEP_CARRIER_COST_S = 3600


@dataclass
class Built:
    """A plan's problem, and the stops left out of it with the reason."""

    problem: dict[str, Any]
    passed: dict[int, str]


def build_problem(
    plan: RoutePlan,
    settings: Settings,
    *,
    keep_routes: bool,
    keep_carriers: bool = False,
    now_s: int | None = None,
) -> Built:
    """The plan as a problem: visited stops pinned, the rest from now on (for a day under way).

    keep_routes: the current routes are the starting point; keep_carriers: moving a stop to
    another carrier costs KEEP_CARRIER_COST_S (least disturbance of a published plan).
    """
    if now_s is None:
        now_s = days.seconds_into(plan.day) or 0
    office = office_by_id(plan.office_id)
    stops = plan_stops(plan.id)
    done = done_stop_ids(stops)
    specs, passed = [], {}
    for stop in stops:
        spec = StopSpec(
            id=stop.id,
            location=(stop.lon, stop.lat),
            service_s=stop.service_s,
            priority=postal_model.URGENT_PRIORITY if stop.urgent else stop.priority,
            preferred=list(stop.preferred_carriers or []),
            preference_cost=settings.preference_cost,
            locked=stop.locked,
        )
        if stop.id in done:
            # Done: pinned where and when it happened, before anything still to do.
            begin = stop.arrival_s + (stop.waiting_s or 0)
            spec.windows, spec.locked = [(begin, begin)], True
        elif not stop.claimed:
            passed[stop.id] = "rolled_over"  # left off when published: another plan's now
            continue
        else:
            spec.windows = stop_windows(stop, now_s)
            if not spec.windows and stop.windows:
                passed[stop.id] = "passed"
                continue
            if keep_carriers and stop.carrier_id is not None:
                spec.preferred, spec.preference_cost = [stop.carrier_id], KEEP_CARRIER_COST_S
        specs.append(spec)
    carriers = carrier_specs(plan, settings, stops, {spec.id for spec in specs}, keep_routes)
    problem = postal_model.problem((office.depot_lon, office.depot_lat), carriers, specs)
    return Built(problem, passed)


def stop_windows(stop: PlanStop, now_s: int) -> list[tuple[int, int]]:
    """When a stop still to do may be served: its windows from now on (none left: empty).

    The one place that decides a pending stop's times (e.g. an urgent visit's due time).
    """
    windows = [(start, end) for start, end in stop.windows or []]
    return postal_model.clip_windows(windows, now_s) if now_s else windows


def carrier_specs(
    plan: RoutePlan,
    settings: Settings,
    stops: list[PlanStop],
    included: set[int],
    keep_routes: bool,
) -> list[CarrierSpec]:
    """The plan's carriers: shift, lunch, sorting, and the route to start from."""
    done = done_stop_ids(stops)
    carriers = []
    for route in plan_routes(plan.id):
        order = [s.id for s in ordered(stops, route.carrier_id) if s.id in included]
        carriers.append(
            CarrierSpec(
                id=route.carrier_id,
                profile=route.profile,
                shift=(route.shift_start_s, route.shift_end_s),
                lunch_window=settings.lunch_window,
                lunch_s=route.lunch_s,
                route=order if keep_routes else [s for s in order if s in done],
                sorting_s=settings.sorting_s,
            )
        )
    return carriers


def store_answer(plan: RoutePlan, answer: dict, passed: dict[int, str]) -> None:
    """Write a solver answer (solve or evaluate) into the plan's stops and routes."""
    stops = {s.id: s for s in plan_stops(plan.id)}
    routes = {r.carrier_id: r for r in plan_routes(plan.id)}
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
            # An urgent visit promised past its due time is late whatever its window says.
            overdue = stop.due_s is not None and step["arrival"] + step["waiting_time"] > stop.due_s
            stop.late, stop.unassigned_reason = bool(step.get("violations")) or overdue, None
            stop.late_reason = stop.late_reason if overdue else None
            position += 1
    left_out = [(u["id"], u["reason"]) for u in answer["unassigned"]] + list(passed.items())
    for stop_id, reason in left_out:
        stop = stops[stop_id]
        stop.carrier_id = stop.position = stop.arrival_s = stop.waiting_s = None
        stop.late, stop.locked, stop.late_reason = False, False, None
        stop.unassigned_reason = REASONS.get(reason, reason)


def retime(plan: RoutePlan) -> None:
    """Re-time every route as it now stands (no search); late stops are flagged."""
    settings = Settings.current()
    built = build_problem(plan, settings, keep_routes=True, now_s=0)
    answer = evaluate(built.problem, osrm_url=settings.osrm_url)
    if answer["code"] != 0:
        raise Conflict(answer.get("error", "the plan cannot be timed"))
    store_answer(plan, answer, built.passed)
    plan.summary = {**answer["summary"], "edited": True}
