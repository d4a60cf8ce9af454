"""When a search stops before its time limit: the no-improvement rule and the reason given.

An answer's summary says why its search stopped (`stopped`): the time limit ran out, no
improvement was found for stall_seconds(), or the search ended on its own (exhausted).
"""

from __future__ import annotations

import time
from collections.abc import Callable

TIME_LIMIT = "time_limit"
NO_IMPROVEMENT = "no_improvement"
EXHAUSTED = "exhausted"

# Any size: stop after max(STALL_MIN_S, STALL_SHARE x limit) without a better plan; few stops
# stop sooner, after max(STALL_FLOOR_S, STALL_PER_JOB2_S x jobs^2) (local-search neighbourhoods
# grow with the square of the size). Chosen from the improvement times of the iterated local
# search on 10 problems of 60-140 jobs at 30 s (Solomon C105 R101 R105 R109 R112 RC101 RC105,
# three office days of bench/routing_postal.py): these constants stop them after 22 s on
# average at a mean cost of +0.013 % (worst +0.07 %; two runs of R105 differ by 0.75 %).
# Shorter waits cost more: a quarter of the limit and 0.05 s per job lost 1.1 % on R112 (a
# stretch of 8.8 s without improvement, then better plans), 0.0005 s x jobs^2 lost 0.5 % on a
# 100-stop day. A 3-stop problem finds its plan in milliseconds and waits 0.2 s; 30 stops 0.9 s,
# 100 stops 10 s; a 1,000-stop day at 30 s is given 12 s without improvement.
STALL_MIN_S = 2.0
STALL_SHARE = 0.4
STALL_PER_JOB2_S = 0.001
STALL_FLOOR_S = 0.2
# A search that ended this far before its limit ended on its own (a descent at a local optimum,
# a first solution asked for).
EXHAUSTED_SHARE = 0.9


def stall_seconds(n_jobs: int, time_limit_s: float) -> float:
    """Seconds without a better plan after which a search of n_jobs jobs stops."""
    by_limit = max(STALL_MIN_S, STALL_SHARE * time_limit_s)
    by_size = max(STALL_FLOOR_S, STALL_PER_JOB2_S * n_jobs**2)
    return min(by_limit, by_size)


def reason(stalled: bool, elapsed_s: float, time_limit_s: float) -> str:
    """Why a search of time_limit_s stopped after elapsed_s."""
    if stalled:
        return NO_IMPROVEMENT
    return EXHAUSTED if elapsed_s < EXHAUSTED_SHARE * time_limit_s else TIME_LIMIT


class StallWatch:
    """Tracks a search's best cost; says when none better came for stall_s seconds."""

    def __init__(self, stall_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_s = stall_s
        self.clock = clock
        self.best: int | None = None
        self.since = 0.0
        self.stalled = False

    def seen(self, cost: int) -> bool:
        """Record a solution's cost; True once the search should stop."""
        now = self.clock()
        if self.best is None or cost < self.best:
            self.best, self.since = cost, now
        elif now - self.since >= self.stall_s:
            self.stalled = True
        return self.stalled
