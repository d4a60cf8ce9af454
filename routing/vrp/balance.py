"""Fair shares of a problem's work among the vehicles with a `balance_cost` (routing.vrp.problem).

A job's work is its service plus an estimate of the travel to reach it (the mean of its two
shortest legs, routing.vrp.whole_problem.reach_estimate): it depends on which jobs a route
serves, never on the order, so more travel cannot buy a fairer plan. The vehicles with a
balance_cost share the work of the problem in proportion to their working time (time window
less breaks); a route's work outside its fair share, give or take BAND of it, costs its
balance_cost a second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from routing.vrp.problem import Vehicle

# Work within this share of a fair share either way is fair: continuity and travel decide.
# On the demo day (600 stops, 10 carriers, 30 s, bench/demo_day.py's problem): 0.1 planned
# 37,000-40,000 s of travel, 0.2 35,177 (travel alone: 33,344), both with every carrier at work
# and the longest travel-and-service over the shortest about 1.5.
BAND = 0.2
# The working time of a vehicle without a time window, relative to the others'.
NO_WINDOW_S = 8 * 3600


def working_time(vehicle: Vehicle) -> int:
    """The time a vehicle has for work: its time window less its breaks."""
    if vehicle.time_window is None:
        return NO_WINDOW_S
    window = vehicle.time_window.end - vehicle.time_window.start
    return max(1, window - sum(b.service for b in vehicle.breaks))


def fair_bounds(vehicles: Sequence[Vehicle], total: float) -> list[tuple[int, int] | None]:
    """Per vehicle, the least and the most work that is fair (None without a balance_cost)."""
    times = [working_time(v) if v.balance_cost else 0 for v in vehicles]
    available = sum(times)
    bounds: list[tuple[int, int] | None] = []
    for time, vehicle in zip(times, vehicles, strict=True):
        if not vehicle.balance_cost:
            bounds.append(None)
            continue
        share = total * time / available
        bounds.append((math.floor(share * (1 - BAND)), math.ceil(share * (1 + BAND))))
    return bounds


def unfairness(vehicles: Sequence[Vehicle], loads: Sequence[float]) -> int:
    """The balance cost of routes with these amounts of work (one per vehicle, 0 for none)."""
    cost = 0.0
    bounds = fair_bounds(vehicles, sum(loads))
    for vehicle, load, bound in zip(vehicles, loads, bounds, strict=True):
        if bound is not None:
            low, high = bound
            cost += vehicle.balance_cost * (max(0.0, low - load) + max(0.0, load - high))
    return round(cost)
