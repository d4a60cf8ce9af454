"""A plan's status, its search's status, and the transitions each may make.

A plan is queued, solved (then ready, or failed) and published to its carriers; a new plan of
its day discards one not yet published. A published plan is searched again (re-optimised, an
urgent visit) without leaving `published`: that search has its own status (`job_status`), so
the carriers keep their routes until its answer is in. Before publishing, the search is the
plan's status itself. Both are stored as the enums' values.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from routing.models import RoutePlan


class PlanStatus(StrEnum):
    """Where a plan stands (route_plans.status)."""

    QUEUED = "queued"
    SOLVING = "solving"
    READY = "ready"
    FAILED = "failed"
    PUBLISHED = "published"
    DISCARDED = "discarded"
    SUPERSEDED = "superseded"


class SearchStatus(StrEnum):
    """A search due or under way (a published plan's route_plans.job_status)."""

    QUEUED = "queued"
    SOLVING = "solving"


# A search waiting or under way on a plan not yet published.
BUSY = (PlanStatus.QUEUED, PlanStatus.SOLVING)
EDITABLE = (PlanStatus.READY, PlanStatus.PUBLISHED)
# Plans that were never handed out and can be replaced by a new plan of their day.
DRAFTS = (PlanStatus.QUEUED, PlanStatus.SOLVING, PlanStatus.READY, PlanStatus.FAILED)
# Plans whose routes went to carriers (superseded: older data, replaced by another of its day).
HANDED_OUT = (PlanStatus.PUBLISHED, PlanStatus.SUPERSEDED)
# The statuses a plan takes today: no transition leads to superseded any more.
IN_USE = tuple(status for status in PlanStatus if status is not PlanStatus.SUPERSEDED)

_ALLOWED: dict[PlanStatus | None, frozenset[PlanStatus]] = {
    None: frozenset({PlanStatus.QUEUED}),
    PlanStatus.QUEUED: frozenset({PlanStatus.SOLVING, PlanStatus.DISCARDED}),
    # Solving again: the worker that claimed it died and the outbox handed the job on.
    PlanStatus.SOLVING: frozenset(
        {PlanStatus.SOLVING, PlanStatus.READY, PlanStatus.FAILED, PlanStatus.DISCARDED}
    ),
    # Queued again: re-optimised, or an urgent visit to fit in.
    PlanStatus.READY: frozenset({PlanStatus.QUEUED, PlanStatus.PUBLISHED, PlanStatus.DISCARDED}),
    PlanStatus.FAILED: frozenset({PlanStatus.DISCARDED}),
    # A published plan is changed, never replaced: its searches move only its search status.
    PlanStatus.PUBLISHED: frozenset(),
    PlanStatus.DISCARDED: frozenset(),
    PlanStatus.SUPERSEDED: frozenset(),
}

_SEARCH_ALLOWED: dict[SearchStatus | None, frozenset[SearchStatus | None]] = {
    None: frozenset({SearchStatus.QUEUED}),
    SearchStatus.QUEUED: frozenset({SearchStatus.SOLVING}),
    # Solving again: as above. None: the answer is in (or the search failed).
    SearchStatus.SOLVING: frozenset({SearchStatus.SOLVING, None}),
}


class PlanTransitionRefused(ValueError):
    """A status change that the plan's current status does not allow."""

    def __init__(
        self, status: PlanStatus | SearchStatus | None, target: PlanStatus | SearchStatus | None
    ) -> None:
        super().__init__(status, target)
        self.status = status
        self.target = target

    def __str__(self) -> str:
        return (
            f"계획 상태를 '{self.status}'에서 '{self.target}'(으)로 바꿀 수 없습니다. "
            f"(A plan cannot go from '{self.status}' to '{self.target}'.)"
        )


def set_status(plan: RoutePlan, target: PlanStatus) -> None:
    """Move the plan to `target`, or PlanTransitionRefused if its status does not allow it."""
    status = None if plan.status is None else PlanStatus(plan.status)
    if target not in _ALLOWED[status]:
        raise PlanTransitionRefused(status, target)
    plan.status = target.value


def search_status(plan: RoutePlan) -> SearchStatus | None:
    """Queued or solving while a search is due or under way, else None."""
    if plan.status == PlanStatus.PUBLISHED:
        return None if plan.job_status is None else SearchStatus(plan.job_status)
    return SearchStatus(plan.status) if plan.status in BUSY else None


def set_search_status(plan: RoutePlan, target: SearchStatus | None) -> None:
    """Queue, start or end (None) a search, or PlanTransitionRefused if it is not allowed.

    A draft's search is its status, and ends by the draft becoming ready or failed
    (set_status): only a published plan's search ends with None.
    """
    if plan.status != PlanStatus.PUBLISHED:
        if target is None:
            raise PlanTransitionRefused(PlanStatus(plan.status), target)
        set_status(plan, PlanStatus(target.value))
        return
    status = search_status(plan)
    if target not in _SEARCH_ALLOWED[status]:
        raise PlanTransitionRefused(status, target)
    plan.job_status = None if target is None else target.value
