"""Search quality on Solomon VRPTW: the default search is feasible and near the best known.

Loose bounds at short limits (the benchmark, bench/routing_solomon.py, measures the real figures at
10 s); no wall-clock assertions, as the machine may be busy.
"""

from __future__ import annotations

import pytest

from bench.solomon import DATA_DIR, gap, read_bks, read_instance, route_distance, to_vroom
from routing.solver import solve
from tests.vrp_checker import check

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (DATA_DIR / "solomon").is_dir(), reason="no ../shared/data/solomon"),
]


@pytest.mark.parametrize(("name", "bound"), [("C105", 2.0), ("R105", 8.0), ("RC105", 10.0)])
def test_default_search_is_feasible_and_near_the_best_known(name: str, bound: float) -> None:
    instance = read_instance(DATA_DIR / "solomon" / f"{name}.txt")
    problem = to_vroom(instance)
    result = solve(problem, 4.0)  # the default SearchConfig
    assert result["code"] == 0, result
    assert result["summary"]["unassigned"] == 0
    assert check(problem, result) == []
    best = read_bks(DATA_DIR / "solomon_bks.csv")[name]
    assert gap(route_distance(instance, result), best) <= bound
