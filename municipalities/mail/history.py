"""What the mail tells about households: one household's letters and their tracking, and the
municipality's returned and repeatedly missed ones (signs that nobody lives there any more).

Plain records for the welfare team's timelines and lists; each function is one query.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from core.db import db
from municipalities.mail.models import Mailing, MailItem, TrackingEvent
from municipalities.mail.tracking import EventCode


@dataclass(frozen=True)
class SentItem:
    """A letter sent to the household: its item, and its mailing's title and creation."""

    item_id: int
    registered_number: str
    mailing_title: str
    mailing_created_at: datetime


@dataclass(frozen=True)
class ItemEvent:
    """One tracking event of an item sent to the household."""

    item_id: int
    registered_number: str
    code: str
    at: datetime


@dataclass(frozen=True)
class ReturnedItem:
    """An item that came back, why, and when its record last changed."""

    household_id: int
    registered_number: str
    return_reason: str
    updated_at: datetime


@dataclass(frozen=True)
class RepeatedAbsence:
    """A household the carriers found absent again and again."""

    household_id: int
    absences: int
    last_at: datetime


def items_sent_to(household_id: int) -> list[SentItem]:
    """Every item sent to the household, with its mailing."""
    rows = db.session.execute(
        sa.select(MailItem.id, MailItem.registered_number, Mailing.title, Mailing.created_at)
        .join(Mailing, Mailing.id == MailItem.mailing_id)
        .where(MailItem.household_id == household_id)
    )
    return [SentItem(*row) for row in rows]


def events_of_household(household_id: int) -> list[ItemEvent]:
    """Every tracking event of the items sent to the household."""
    rows = db.session.execute(
        sa.select(
            TrackingEvent.item_id, MailItem.registered_number, TrackingEvent.code, TrackingEvent.at
        )
        .join(MailItem, MailItem.id == TrackingEvent.item_id)
        .where(MailItem.household_id == household_id)
    )
    return [ItemEvent(*row) for row in rows]


def items_returned_for(municipality_id: int, reasons: Iterable[str]) -> list[ReturnedItem]:
    """The municipality's items returned for one of the reasons."""
    rows = db.session.execute(
        sa.select(
            MailItem.household_id,
            MailItem.registered_number,
            MailItem.return_reason,
            MailItem.updated_at,
        ).where(
            MailItem.municipality_id == municipality_id,
            MailItem.return_reason.in_(list(reasons)),
        )
    )
    return [ReturnedItem(*row) for row in rows]


def repeated_absences(municipality_id: int, at_least: int) -> list[RepeatedAbsence]:
    """The municipality's households found absent at least `at_least` times, over all items."""
    absences = sa.func.count(TrackingEvent.id)
    rows = db.session.execute(
        sa.select(MailItem.household_id, absences, sa.func.max(TrackingEvent.at))
        .join(TrackingEvent, TrackingEvent.item_id == MailItem.id)
        .where(MailItem.municipality_id == municipality_id, TrackingEvent.code == EventCode.ABSENT)
        .group_by(MailItem.household_id)
        .having(absences >= at_least)
    )
    return [RepeatedAbsence(*row) for row in rows]
