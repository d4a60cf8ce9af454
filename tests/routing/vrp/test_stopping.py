"""When a search stops: the no-improvement rule, the reason in the summary, the command line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bench.routing_postal import office_day
from bench.solomon import DATA_DIR, read_instance, to_vroom
from routing.vrp.cli import routing_cli
from routing.vrp.decompose import solve_large
from routing.vrp.model import SearchConfig
from routing.vrp.solve import solve, solve_isolated
from routing.vrp.stopping import (
    EXHAUSTED,
    NO_IMPROVEMENT,
    STALL_MIN_S,
    TIME_LIMIT,
    StallWatch,
    reason,
    stall_seconds,
)
from tests.routing.vrp.test_solver import line_problem


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_stall_scales_with_the_size_for_few_stops_and_with_the_limit_otherwise():
    assert stall_seconds(3, 30) < 1
    assert stall_seconds(3, 30) < stall_seconds(30, 30) < stall_seconds(100, 30)
    # Many stops: a share of the limit, never less than STALL_MIN_S.
    assert stall_seconds(1000, 30) == pytest.approx(12)
    assert stall_seconds(1000, 120) == pytest.approx(48)
    assert stall_seconds(1000, 1) == STALL_MIN_S


def test_a_search_that_keeps_improving_is_never_stopped():
    clock = FakeClock()
    watch = StallWatch(2.0, clock)
    for cost in range(1000, 0, -1):
        clock.now += 1.5  # longer apart than the stall, but every one better
        assert not watch.seen(cost)
    assert not watch.stalled


def test_a_search_stops_after_the_stall_without_a_better_plan():
    clock = FakeClock()
    watch = StallWatch(2.0, clock)
    assert not watch.seen(100)
    clock.now = 1.9
    assert not watch.seen(100)
    assert not watch.seen(120)  # worse plans are no improvement
    clock.now = 2.5
    assert not watch.seen(99)  # a better one restarts the stretch
    clock.now = 4.5
    assert watch.seen(99)
    assert watch.stalled


def test_the_reason_names_the_rule_the_end_of_the_search_or_the_limit():
    assert reason(True, 1.0, 30.0) == NO_IMPROVEMENT
    assert reason(False, 1.0, 30.0) == EXHAUSTED
    assert reason(False, 29.99, 30.0) == TIME_LIMIT


def test_a_tiny_problem_stops_early_and_says_why():
    result = solve(line_problem([10, 20, 30]), 30.0)
    assert result["code"] == 0
    summary = result["summary"]
    assert summary["cost"] == 60
    assert summary["stopped"] in (NO_IMPROVEMENT, EXHAUSTED)
    assert summary["seconds_used"] < 15  # well under the limit; the rule waits 0.2 s
    assert set(summary["computing_times"]) == {"loading", "solving"}


def test_a_descent_ends_on_its_own():
    result = solve(line_problem([10, 20, 30]), 30.0, SearchConfig(metaheuristic="GREEDY_DESCENT"))
    assert result["summary"]["stopped"] in (NO_IMPROVEMENT, EXHAUSTED)


def test_solve_large_reports_the_reason_of_a_whole_small_problem():
    summary = solve_large(line_problem([10, 20, 30]), 30.0)["summary"]
    assert summary["stopped"] in (NO_IMPROVEMENT, EXHAUSTED)
    assert summary["seconds_used"] < 15


def test_an_iterated_local_search_that_stalls_is_answered_by_its_solver_process():
    # 30 stops: the iterated local search, which OR-Tools does not let us stop; on this day it
    # finds nothing better after about a second, so its process sends the plan and is ended.
    result = solve_isolated(office_day(30, seed=1), 20.0)
    assert result["code"] == 0
    assert result["summary"]["stopped"] == NO_IMPROVEMENT
    assert result["summary"]["seconds_used"] < 20


@pytest.mark.skipif(
    not (DATA_DIR / "solomon" / "R101.txt").exists(), reason="Solomon instances not present"
)
def test_a_medium_problem_still_improving_runs_to_its_short_limit():
    # 100 jobs at 1.5 s: the rule waits max(STALL_MIN_S, a share of the limit) = 2 s, more
    # than the limit, so the search is never cut short while it can still improve.
    problem = to_vroom(read_instance(DATA_DIR / "solomon" / "R101.txt"))
    for config in (SearchConfig(), SearchConfig(metaheuristic="GUIDED_LOCAL_SEARCH")):
        result = solve(problem, 1.5, config)
        assert result["code"] == 0
        assert result["summary"]["stopped"] == TIME_LIMIT


def test_the_command_line_prints_the_reason(tmp_path):
    problem_file = tmp_path / "problem.json"
    problem_file.write_text(json.dumps(line_problem([10, 20, 30])))
    result = CliRunner().invoke(routing_cli, ["solve", str(problem_file), "--time-limit", "30"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)["summary"]
    assert summary["stopped"] in (NO_IMPROVEMENT, EXHAUSTED)
    assert summary["seconds_used"] < 15
