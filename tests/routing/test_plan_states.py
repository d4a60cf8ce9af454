"""routing.plans.states: a plan's statuses, its search's, and the transitions each may make."""

from __future__ import annotations

import pytest

from routing.models import RoutePlan
from routing.pages import PLAN_STATUSES, SEARCH_STATES
from routing.plans.states import (
    PlanStatus,
    PlanTransitionRefused,
    SearchStatus,
    search_status,
    set_search_status,
    set_status,
)

P = PlanStatus
S = SearchStatus


def plan(status: PlanStatus | None = None, job_status: SearchStatus | None = None) -> RoutePlan:
    return RoutePlan(
        status=None if status is None else status.value,
        job_status=None if job_status is None else job_status.value,
    )


def test_the_stored_values_are_the_columns_strings():
    assert [s.value for s in P] == [
        "queued",
        "solving",
        "ready",
        "failed",
        "published",
        "discarded",
        "superseded",
    ]
    assert [s.value for s in S] == ["queued", "solving"]
    assert set(PLAN_STATUSES) == set(P) and set(SEARCH_STATES) == set(S)


@pytest.mark.parametrize(
    "path",
    [
        [P.QUEUED, P.SOLVING, P.READY, P.PUBLISHED],
        [P.QUEUED, P.SOLVING, P.SOLVING, P.FAILED, P.DISCARDED],
        [P.QUEUED, P.SOLVING, P.READY, P.QUEUED, P.DISCARDED],
        [P.QUEUED, P.DISCARDED],
    ],
)
def test_a_plan_follows_its_life(path):
    row = plan()
    for status in path:
        set_status(row, status)
        assert row.status == status and type(row.status) is str


@pytest.mark.parametrize(
    ("status", "target"),
    [
        (None, P.READY),
        (P.QUEUED, P.READY),
        (P.QUEUED, P.PUBLISHED),
        (P.FAILED, P.QUEUED),
        (P.PUBLISHED, P.QUEUED),
        (P.PUBLISHED, P.DISCARDED),
        (P.DISCARDED, P.QUEUED),
        (P.SUPERSEDED, P.PUBLISHED),
        (P.READY, P.SUPERSEDED),
    ],
)
def test_a_transition_not_allowed_is_refused_and_changes_nothing(status, target):
    row = plan(status)
    with pytest.raises(PlanTransitionRefused) as refused:
        set_status(row, target)
    assert (refused.value.status, refused.value.target) == (status, target)
    assert str(target) in str(refused.value)
    assert row.status == status


def test_a_drafts_search_is_its_status():
    row = plan(P.READY)
    assert search_status(row) is None
    set_search_status(row, S.QUEUED)
    assert (row.status, row.job_status, search_status(row)) == (P.QUEUED, None, S.QUEUED)
    set_search_status(row, S.SOLVING)
    assert (row.status, search_status(row)) == (P.SOLVING, S.SOLVING)
    with pytest.raises(PlanTransitionRefused):
        set_search_status(row, None)  # a draft's search ends by the draft becoming ready
    set_status(row, P.READY)
    assert search_status(row) is None


def test_a_published_plan_is_searched_again_without_leaving_published():
    row = plan(P.PUBLISHED)
    for target in (S.QUEUED, S.SOLVING, S.SOLVING, None):
        set_search_status(row, target)
        assert row.status == P.PUBLISHED and search_status(row) == target
    with pytest.raises(PlanTransitionRefused):
        set_search_status(row, S.SOLVING)  # nothing was queued
    set_search_status(row, S.QUEUED)
    with pytest.raises(PlanTransitionRefused):
        set_search_status(row, S.QUEUED)
    with pytest.raises(PlanTransitionRefused):
        set_search_status(row, None)  # a queued search ends by running
