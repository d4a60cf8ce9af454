"""A municipality's mail items counted for a period, each item once, at the time of its event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from core.db import db
from municipalities.mail.models import MailItem, TrackingEvent
from municipalities.mail.tracking import RETURN_REASONS, EventCode

# The events that start an item's way back; `returned` alone when it did not come from the door.
RETURN_STARTS = (
    EventCode.REFUSED,
    EventCode.MOVED,
    EventCode.ADDRESS_UNKNOWN,
    EventCode.ADDRESSEE_DECEASED,
    EventCode.RETURNED,
)


@dataclass(frozen=True)
class ItemFigures:
    """The items mailed, delivered, found absent and sent back in a period."""

    mailed: int
    #: The ids of the items delivered (their count is the figure), for the caller's breakdowns.
    delivered: frozenset[int]
    absent: int
    #: Items whose way back began in the period, by return reason (all of RETURN_REASONS).
    returned_by_reason: dict[str, int]


def item_figures(municipality_id: int, start: datetime, end: datetime) -> ItemFigures:
    """The municipality's item figures for [start, end)."""

    def events(*codes: EventCode) -> sa.Select:
        return (
            sa.select(TrackingEvent.item_id, TrackingEvent.at)
            .join(MailItem, MailItem.id == TrackingEvent.item_id)
            .where(MailItem.municipality_id == municipality_id, TrackingEvent.code.in_(codes))
        )

    def items(*codes: EventCode) -> sa.Select:
        """Items with one of the events in the period (an item more than once)."""
        return (
            events(*codes)
            .where(TrackingEvent.at >= start, TrackingEvent.at < end)
            .with_only_columns(TrackingEvent.item_id)
        )

    def count(*codes: EventCode) -> int:
        inner = items(*codes).distinct().subquery()
        return db.session.scalar(sa.select(sa.func.count()).select_from(inner))

    first_return = (
        events(*RETURN_STARTS)
        .with_only_columns(TrackingEvent.item_id, sa.func.min(TrackingEvent.at).label("at"))
        .group_by(TrackingEvent.item_id)
        .subquery()
    )
    reasons = db.session.execute(
        sa.select(MailItem.return_reason, sa.func.count())
        .join(first_return, first_return.c.item_id == MailItem.id)
        .where(first_return.c.at >= start, first_return.c.at < end)
        .group_by(MailItem.return_reason)
    )
    returned = dict.fromkeys(RETURN_REASONS, 0)
    for reason, n in reasons:
        returned[reason or "other"] += n  # no reason recorded: other, so the reasons add up
    return ItemFigures(
        mailed=count(EventCode.HANDED_TO_OFFICE),
        delivered=frozenset(db.session.scalars(items(EventCode.DELIVERED))),
        absent=count(EventCode.ABSENT),
        returned_by_reason=returned,
    )
