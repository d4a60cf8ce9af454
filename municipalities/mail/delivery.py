"""The post side of mail items: receiving printed batches and recording tracking events."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from core.auth.principal import Principal
from core.auth.roles import Role
from core.db import db
from core.errors import Conflict, Forbidden
from municipalities.mail.models import LetterBatch, MailItem
from municipalities.mail.services import POST_ROLES, get_batch, get_item, record_event
from municipalities.mail.tracking import EventCode, ItemStatus
from postal.directory import office_by_id


def _office_name(office_id: int) -> str:
    return office_by_id(office_id).name


def receive_batch(principal: Principal, batch_id: int) -> LetterBatch:
    """The delivery office confirms it received the printed letters (발송: 집배국 인계)."""
    batch = get_batch(principal, batch_id)
    if principal.role != Role.DISPATCHER:
        raise Forbidden()
    if batch.status != "produced":
        raise Conflict("아직 인쇄되지 않은 묶음입니다. (The batch is not produced yet.)")
    place = _office_name(batch.office_id)
    items = db.session.scalars(
        sa.select(MailItem).where(
            MailItem.batch_id == batch.id, MailItem.status == ItemStatus.PRODUCED.value
        )
    )
    for item in items:
        record_event(item, EventCode.HANDED_TO_OFFICE, actor_id=principal.account_id, place=place)
    return batch


@dataclass(frozen=True)
class NewItemEvent:
    """A tracking event post staff record: its code, where (None: the office) and a detail."""

    #: An EventCode's value (the API takes those the post records).
    code: str
    place: str | None = None
    detail: str | None = None


def record_item_event(principal: Principal, item_id: int, new: NewItemEvent) -> MailItem:
    """Post staff record a tracking event for an item of their office."""
    item = get_item(principal, item_id)
    if principal.role not in POST_ROLES:
        raise Forbidden()
    record_event(
        item,
        EventCode(new.code),
        actor_id=principal.account_id,
        place=new.place or _office_name(item.office_id),
        detail=new.detail,
    )
    return item
