"""The post side of mail items: receiving printed batches and recording tracking events."""

from __future__ import annotations

import sqlalchemy as sa

from core.auth.principal import Principal
from core.auth.roles import Role
from core.db import db
from core.errors import Conflict, Forbidden
from municipalities.mail import POST_ROLES, get_batch, get_item, record_event
from municipalities.models import LetterBatch, MailItem
from municipalities.tracking import EventCode, ItemStatus
from routing.models import DeliveryOffice


def _office_name(office_id: int) -> str:
    return db.session.get(DeliveryOffice, office_id).name


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


def record_item_event(principal: Principal, item_id: int, data: dict) -> MailItem:
    """Post staff record a tracking event for an item of their office."""
    item = get_item(principal, item_id)
    if principal.role not in POST_ROLES:
        raise Forbidden()
    record_event(
        item,
        EventCode(data["code"]),
        actor_id=principal.account_id,
        place=data.get("place") or _office_name(item.office_id),
        detail=data.get("detail"),
    )
    return item
