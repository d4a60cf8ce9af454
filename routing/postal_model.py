"""The postal model: a day's stops and carriers as a VROOM-format problem; pure, no database.

Times are seconds after midnight, Seoul time. A stop is a welfare visit or a plain registered
item; a carrier is a vehicle with a shift, a lunch break and a travel profile, starting and
ending at the office's depot.

The postal objective, in this order: serve every due stop (drop penalties above any cost);
no work beyond the shift (the vehicle's time window); a fair share of the work for every
carrier on shift (the solver's `balance_cost` extension, routing.vrp.balance: work outside a
fair share costs more than a preference, so no carrier idles while others have full rounds);
district and visitor continuity (`preferred_vehicles`); then travel. Every round leaves the
office at the shift's start plus the morning's sorting (the `fixed_start` extension).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Priorities (0-100, the VRP job's `priority`): the kind sets the base, then need and waiting add.
BASE_PRIORITY = {"welfare": 60, "registered": 30}
URGENT_PRIORITY = 100
RISK_POINTS, RISK_CAP = 5, 15  # per risk source of the household
AGE_POINTS, AGE_CAP = 4, 16  # per working day the item has waited
REDELIVERY_POINTS = 8
LUNCH_BREAK_ID = 1
# Every carrier's balance_cost (routing.vrp.balance): a second of work outside a fair share
# costs this many seconds of travel, so that moving a stop (a minute's service and its share of
# travel) from a carrier above a fair share to one below it outweighs its district's preference
# (ROUTING_PREFERENCE_COST_S, 900 s). Measured on the demo day: see bench/demo_day.py.
FAIR_SHARE_COST = 10


def item_priority(
    kind: str, *, risk_sources: int = 0, age_days: int = 0, redelivery: bool = False
) -> int:
    """A stop's priority: welfare above plain mail, more for risk, waiting and a second try."""
    priority = BASE_PRIORITY[kind]
    priority += min(RISK_CAP, RISK_POINTS * risk_sources) if kind == "welfare" else 0
    priority += min(AGE_CAP, AGE_POINTS * max(0, age_days))
    priority += REDELIVERY_POINTS if redelivery else 0
    return min(priority, URGENT_PRIORITY - 1)


@dataclass
class StopSpec:
    """What the solver needs of one stop; `id` becomes the job id."""

    id: int
    location: tuple[float, float]
    service_s: int
    priority: int
    windows: list[tuple[int, int]] = field(default_factory=list)
    preferred: list[int] = field(default_factory=list)
    preference_cost: int = 0
    locked: bool = False


@dataclass
class CarrierSpec:
    """What the solver needs of one carrier on shift; `id` becomes the vehicle id."""

    id: int
    profile: str
    shift: tuple[int, int]
    lunch_window: tuple[int, int]
    lunch_s: int
    route: list[int] = field(default_factory=list)  # current stop ids in order
    sorting_s: int = 0  # at the office before the round leaves

    @property
    def departure_s(self) -> int:
        """When the round leaves the office: after the morning's sorting."""
        return min(self.shift[0] + self.sorting_s, self.shift[1])


def problem(
    depot: tuple[float, float], carriers: Sequence[CarrierSpec], stops: Sequence[StopSpec]
) -> dict[str, Any]:
    """The day as a VROOM-format problem (with the solver's preference and lock extensions)."""
    jobs = []
    for stop in stops:
        job: dict[str, Any] = {
            "id": stop.id,
            "location": list(stop.location),
            "service": stop.service_s,
            "priority": stop.priority,
        }
        if stop.windows:
            job["time_windows"] = [list(w) for w in sorted(stop.windows)]
        if stop.preferred and stop.preference_cost:
            job["preferred_vehicles"] = list(stop.preferred)
            job["preference_cost"] = stop.preference_cost
        if stop.locked:
            job["locked"] = True
        jobs.append(job)
    vehicles = []
    for carrier in carriers:
        vehicle: dict[str, Any] = {
            "id": carrier.id,
            "profile": carrier.profile,
            "start": list(depot),
            "end": list(depot),
            "time_window": [carrier.departure_s, carrier.shift[1]],
            "fixed_start": True,
            "balance_cost": FAIR_SHARE_COST,
        }
        if carrier.lunch_s:
            vehicle["breaks"] = [
                {
                    "id": LUNCH_BREAK_ID,
                    "time_windows": [list(carrier.lunch_window)],
                    "service": carrier.lunch_s,
                }
            ]
        if carrier.route:
            vehicle["steps"] = [{"type": "job", "id": stop_id} for stop_id in carrier.route]
        vehicles.append(vehicle)
    return {"jobs": jobs, "vehicles": vehicles}


def clip_windows(windows: Sequence[tuple[int, int]], earliest: int) -> list[tuple[int, int]]:
    """Windows from `earliest` on (no visit in the past); [(earliest, far)] when none given.

    Empty when every window has passed: the stop cannot be served any more that day.
    """
    if not windows:
        return [(earliest, 48 * 3600)]
    return [(max(start, earliest), end) for start, end in windows if end >= earliest]
