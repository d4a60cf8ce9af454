"""The whole problem's plan, merged from sub-solves' answers in VROOM's solution format.

A group's new routes replace its current ones only when they rank better, as VROOM ranks plans:
more priority served, then more jobs served, then less cost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from routing.vrp.answers import reports_distances, summary
from routing.vrp.balance import unfairness
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

    def score(
        self,
        routes: dict[int, dict[str, Any]],
        unassigned: Iterable[int],
        vehicles: Iterable[int] | None = None,
    ) -> tuple:
        """What VROOM ranks plans by: priority dropped, jobs dropped, then cost.

        The cost counts the extensions' preference costs and the balance costs of `vehicles`
        (default: all) sharing the routes' work (routing.vrp.balance).
        """
        jobs = self.whole.parsed.jobs
        dropped = list(unassigned)
        cost = self.unfairness(routes, vehicles)
        for v, route in routes.items():
            vehicle_id = self.whole.parsed.vehicles[v].id
            cost += route["cost"]
            for step in route["steps"]:
                if step["type"] == "job":
                    job = jobs[self.whole.job_of[step["id"]]]
                    if job.preferred_vehicles and vehicle_id not in job.preferred_vehicles:
                        cost += job.preference_cost
        return sum(jobs[j].priority for j in dropped), len(dropped), cost

    def unfairness(
        self, routes: dict[int, dict[str, Any]], vehicles: Iterable[int] | None = None
    ) -> int:
        """The balance cost of `vehicles` (default: all) sharing these routes' work."""
        whole = self.whole
        positions = range(len(whole.parsed.vehicles)) if vehicles is None else list(vehicles)
        loads = [
            sum(whole.work[whole.job_of[s["id"]]] for s in routes[v]["steps"] if s["type"] == "job")
            if v in routes
            else 0.0
            for v in positions
        ]
        return unfairness([whole.parsed.vehicles[v] for v in positions], loads)

    def adopt(self, vehicles: list[int], jobs: list[int], result: SubResult) -> bool:
        """Take a group's new routes if they beat its current ones; say whether they did."""
        before = self.score(
            {v: self.routes[v] for v in vehicles if v in self.routes},
            (j for j in jobs if j in self.unassigned),
            vehicles,
        )
        if self.score(result.routes, result.unassigned, vehicles) >= before:
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
        parsed = self.whole.parsed
        return {
            "code": 0,
            "summary": summary(
                routes,
                len(self.unassigned),
                parsed.amount_size,
                reports_distances(parsed),
                {"loading": loading_ms, "solving": solving_ms},
            ),
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
