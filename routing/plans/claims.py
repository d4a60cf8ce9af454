"""Which plan holds which item: an item is on at most one open plan, whose stop claims it.

A stop's claim lasts while its plan is open; it is released when the plan is discarded or
fails, when its day is over (unvisited items roll over), or when publishing leaves it off
every route.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from core.db import db
from core.errors import Conflict
from postal.directory import lock_office
from routing.models import PlanStop, RoutePlan
from routing.plans import days


def release(plan_ids: sa.Select | list[int]) -> None:
    """The plans' stops no longer hold their items: another plan may take them."""
    db.session.execute(
        sa.update(PlanStop)
        .where(PlanStop.plan_id.in_(plan_ids), PlanStop.claimed.is_(True))
        .values(claimed=None)
    )


def release_past_days(office_id: int) -> None:
    """Plans of days that are over give their unvisited items back: they roll over now."""
    today = days.today()
    release(sa.select(RoutePlan.id).where(RoutePlan.office_id == office_id, RoutePlan.day < today))


def unclaimed(stop_column: Any, item_id: Any) -> sa.ColumnElement[bool]:
    """The item is on no open plan (its stops there claim it)."""
    return ~sa.exists().where(stop_column == item_id, PlanStop.claimed.is_(True))


def claimed_mail_items(item_ids: Iterable[int]) -> set[int]:
    """Which of these welfare items an open plan holds."""
    return set(
        db.session.scalars(
            sa.select(PlanStop.mail_item_id).where(
                PlanStop.mail_item_id.in_(list(item_ids)), PlanStop.claimed.is_(True)
            )
        )
    )


def claim(plan: RoutePlan, stop: PlanStop) -> None:
    """Put the stop's item on this plan, unless another open plan has it (409 naming it)."""
    # Serialises whatever claims the office's items (two dispatchers planning at once).
    lock_office(plan.office_id)
    release_past_days(plan.office_id)
    if stop.mail_item_id is not None:
        column, item_id = PlanStop.mail_item_id, stop.mail_item_id
    else:
        column, item_id = PlanStop.office_item_id, stop.office_item_id
    holder = db.session.scalar(
        sa.select(RoutePlan)
        .join(PlanStop, PlanStop.plan_id == RoutePlan.id)
        .where(column == item_id, PlanStop.claimed.is_(True), PlanStop.plan_id != plan.id)
    )
    if holder is not None:
        day = holder.day.isoformat()
        raise Conflict(
            f"이 우편물은 {day} 계획 #{holder.id}에 있습니다. (The item is on plan #{holder.id} "
            f"of {day}.)"
        )
    stop.claimed = True
