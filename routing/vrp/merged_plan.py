"""The whole problem's plan, merged from sub-solves' answers in VROOM's solution format.

A group's new routes replace its current ones only when they rank better, as VROOM ranks plans:
more priority served, then more jobs served, then less cost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from routing.vrp.whole_problem import WholeProblem


@dataclass
class SubResult:
    """A sub-solve's routes and unassigned jobs, in terms of the whole problem."""

    routes: dict[int, dict[str, Any]]  # vehicle -> route in VROOM's shape
    unassigned: dict[int, dict[str, Any]]  # job -> VROOM's unassigned entry


@dataclass
class MergedPlan:
    """The current routes and unassigned jobs, with a change counter per vehicle."""

    whole: WholeProblem
    routes: dict[int, dict[str, Any]] = field(default_factory=dict)
    unassigned: dict[int, dict[str, Any]] = field(default_factory=dict)
    version: Counter[int] = field(default_factory=Counter)

    def jobs_of(self, vehicle: int) -> list[int]:
        """The vehicle's route as job positions in order."""
        route = self.routes.get(vehicle)
        if route is None:
            return []
        return [self.whole.job_of[s["id"]] for s in route["steps"] if s["type"] == "job"]

    def score(self, routes: dict[int, dict[str, Any]], unassigned: Iterable[int]) -> tuple:
        """What VROOM ranks plans by: priority dropped, jobs dropped, then cost (+ preferences)."""
        jobs = self.whole.parsed.jobs
        dropped = list(unassigned)
        cost = 0
        for v, route in routes.items():
            vehicle_id = self.whole.parsed.vehicles[v].id
            cost += route["cost"]
            for step in route["steps"]:
                if step["type"] == "job":
                    job = jobs[self.whole.job_of[step["id"]]]
                    if job.preferred_vehicles and vehicle_id not in job.preferred_vehicles:
                        cost += job.preference_cost
        return sum(jobs[j].priority for j in dropped), len(dropped), cost

    def adopt(self, vehicles: list[int], jobs: list[int], result: SubResult) -> bool:
        """Take a group's new routes if they beat its current ones; say whether they did."""
        before = self.score(
            {v: self.routes[v] for v in vehicles if v in self.routes},
            (j for j in jobs if j in self.unassigned),
        )
        if self.score(result.routes, result.unassigned) >= before:
            return False
        for v in vehicles:
            self.routes.pop(v, None)
            self.version[v] += 1
        self.routes.update(result.routes)
        for j in jobs:
            self.unassigned.pop(j, None)
        self.unassigned.update(result.unassigned)
        return True

    def answer(self, loading_ms: int, solving_ms: int) -> dict[str, Any]:
        """The plan in VROOM's solution shape."""
        routes = [self.routes[v] for v in sorted(self.routes)]
        size = self.whole.parsed.amount_size
        delivery = [sum(r["delivery"][i] for r in routes) for i in range(size)]
        return {
            "code": 0,
            "summary": {
                "cost": sum(r["cost"] for r in routes),
                "routes": len(routes),
                "unassigned": len(self.unassigned),
                "delivery": delivery,
                "service": sum(r["service"] for r in routes),
                "duration": sum(r["duration"] for r in routes),
                "waiting_time": sum(r["waiting_time"] for r in routes),
                "distance": sum(r["distance"] for r in routes),
                "computing_times": {"loading": loading_ms, "solving": solving_ms},
            },
            "unassigned": [self.unassigned[j] for j in sorted(self.unassigned)],
            "routes": routes,
        }


def unassigned_entry(whole: WholeProblem, j: int, reason: str) -> dict[str, Any]:
    """VROOM's unassigned entry for a job that no sub-solve reported on."""
    job = whole.parsed.jobs[j]
    entry: dict[str, Any] = {"id": job.id, "type": "job"}
    if job.place.coords is not None:
        entry["location"] = list(job.place.coords)
    if whole.indexed:
        entry["location_index"] = job.place.index
    return {**entry, "reason": reason}
