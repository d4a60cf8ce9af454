"""Welfare mailings: templates, household selection, registered numbers, items and tracking."""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from core.audit import record_access
from core.auth.principal import Principal
from core.auth.roles import Role
from core.clock import SENDING, SEOUL, NotAWorkingDay, check_working_day, next_working_day
from core.db import db, utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.outbox import NOTICES, enqueue
from municipalities.mail import webhooks
from municipalities.mail.models import (
    LetterBatch,
    LetterTemplate,
    Mailing,
    MailItem,
    RegisteredNumberCounter,
    TrackingEvent,
)
from municipalities.mail.registered_numbers import (
    InvalidRegisteredNumber,
    make_number,
    parse_number,
)
from municipalities.mail.tracking import (
    FINAL_STATUSES,
    PUBLIC_STEP_OF_STATUS,
    EventCode,
    ItemStatus,
    PublicStep,
    TransitionRefused,
    next_status,
    public_steps,
    return_reason,
)
from municipalities.models import Household, Municipality
from municipalities.services import READERS, WRITERS, check_sender_complete
from postal.services import office_weekdays

MERGE_FIELDS = ("addressee", "address", "municipality", "contact", "programmes")
#: Post staff who read an office's items and record their events; carriers use carrier_api.
POST_ROLES = (Role.DISPATCHER,)
PRODUCE_KIND = "produce_letters"
MAX_ITEMS_PER_MAILING = 20_000


class AgreementInactive(Forbidden):
    code = "agreement_inactive"
    message = (
        "우체국과의 복지등기 협약이 유효하지 않아 발송할 수 없습니다. "
        "(No active agreement with the post office: mailings cannot be submitted.)"
    )


class EventRefused(Conflict):
    code = "event_refused"


# --- working days ----------------------------------------------------------------------------
# The calendar is core/clock.py: send dates follow its default weekdays (Monday to
# Friday), an item's due dates its delivery office's weekdays; public holidays never.


def check_send_date(day: date, today: date) -> None:
    """A send date is a working day, today or later."""
    if day < today:
        raise NotAWorkingDay(fields={"send_date": ["지난 날짜입니다. (The date has passed.)"]})
    check_working_day(day, "send_date", use=SENDING)


# --- templates -------------------------------------------------------------------------------


def check_template_body(body: str) -> None:
    """Only known merge fields, as plain {name} in well-formed braces."""
    _template_parts(body)


def _template_parts(body: str) -> list[tuple[str, str | None]]:
    """The body as (literal text, merge field or None) pairs; Invalid names `body` otherwise.

    A conversion (`!r`) or format spec (`:>60000000`) is refused: letters only put values in
    place, and a spec can fail on a name (`:d`) or make a letter of any size.
    """
    try:
        parsed = list(string.Formatter().parse(body))
    except ValueError as error:
        raise Invalid(
            fields={"body": [f"중괄호가 맞지 않습니다. (Unbalanced braces: {error}.)"]}
        ) from error
    names = {name for _, name, _, _ in parsed if name is not None}
    unknown = sorted(names - set(MERGE_FIELDS))
    if unknown:
        allowed = ", ".join("{" + f + "}" for f in MERGE_FIELDS)
        raise Invalid(
            fields={
                "body": [
                    f"알 수 없는 항목: {', '.join(unknown)} (Unknown merge fields; use {allowed}.)"
                ]
            }
        )
    formatted = sorted({name for _, name, spec, conversion in parsed if spec or conversion})
    if formatted:
        plain = ", ".join("{" + name + "}" for name in formatted)
        raise Invalid(
            fields={
                "body": [
                    f"항목은 {plain}처럼 이름만 쓰세요. "
                    f"(Write merge fields as {plain}, without a format or conversion.)"
                ]
            }
        )
    return [(literal, name) for literal, name, _, _ in parsed]


def templates_visible_to(principal: Principal) -> sa.Select:
    """The letter templates of the principal's municipality."""
    query = sa.select(LetterTemplate).order_by(LetterTemplate.id)
    if principal.role in READERS:
        return query.where(LetterTemplate.municipality_id == principal.municipality_id)
    return query.where(sa.false())


def get_template(principal: Principal, template_id: int) -> LetterTemplate:
    """One template of the principal's municipality, or 404."""
    template = db.session.scalar(
        templates_visible_to(principal).where(LetterTemplate.id == template_id)
    )
    if template is None:
        raise NotFound()
    return template


@dataclass(frozen=True)
class NewTemplate:
    """A letter template: its body with merge fields, whom to contact, programmes offered."""

    name: str
    body: str
    contact: str
    programmes: str = ""


def create_template(principal: Principal, new: NewTemplate) -> LetterTemplate:
    """Save a letter template after checking its merge fields."""
    if principal.role not in WRITERS:
        raise Forbidden()
    check_template_body(new.body)
    template = LetterTemplate(municipality_id=principal.municipality_id, **asdict(new))
    db.session.add(template)
    db.session.flush()
    return template


def merge_letter(body: str, household: Household, municipality: Municipality, template) -> str:
    """The letter text for one household."""
    address = " ".join(filter(None, [household.road_address, household.address_detail]))
    values = {
        "addressee": household.name,
        "address": address,
        "municipality": municipality.name,
        "contact": template.contact,
        "programmes": template.programmes,
    }
    # Never str.format: a template saved before specs were refused must not run one.
    return "".join(
        literal + (values[name] or "" if name else "") for literal, name in _template_parts(body)
    )


# --- selection and mailings ------------------------------------------------------------------


@dataclass(frozen=True)
class Exclusion:
    """A chosen household that will not be mailed, and why."""

    household_id: int
    reason: str


_EXCLUSION_TEXT = {
    "not_found": "명부에 없거나 다른 지자체의 가구입니다. (Not in this municipality's registry.)",
    "closed": "종결된 가구입니다. (The household is closed.)",
    "no_district": "집배구가 정해지지 않았습니다. (Not assigned to a carrier district.)",
    "open_item": "배달 중인 복지등기가 있습니다. (A welfare item is still open for it.)",
}


def _open_item_households(municipality_id: int) -> sa.Select:
    final = [status.value for status in FINAL_STATUSES]
    return sa.select(MailItem.household_id).where(
        MailItem.municipality_id == municipality_id, MailItem.status.not_in(final)
    )


#: The conditions of a saved filter; a filter without any is refused (see check_selection).
FILTER_KEYS = ("household_type", "district_id", "risk_source", "not_mailed_days")


def _filters_of(selection: dict) -> list[str]:
    return [key for key in FILTER_KEYS if selection.get(key) is not None]


def check_selection(selection: dict) -> None:
    """A selection names its households: a list, a filter, or `all_active` said outright.

    An empty filter used to mean every active household without anybody having chosen that;
    it is refused, and mailing everybody takes {"all_active": true}.
    """
    if "household_ids" in selection:
        return
    if selection.get("all_active") and _filters_of(selection):
        raise Invalid(
            fields={
                "selection": [
                    "활성 가구 전체와 조건을 함께 고를 수 없습니다. "
                    "(Choose all_active or a filter, not both.)"
                ]
            }
        )
    if not selection.get("all_active") and not _filters_of(selection):
        raise Invalid(
            fields={
                "selection": [
                    "받을 가구를 고르세요: 가구 목록, 조건, 또는 활성 가구 전체. "
                    "(Choose the households: a list, a filter, or all_active for all active "
                    "households.)"
                ]
            }
        )


def describe_selection(selection: dict) -> str:
    """Who a selection mails, in words (Korean, then English)."""
    if "household_ids" in selection:
        count = len(selection["household_ids"])
        return f"고른 가구 {count}곳 ({count} chosen households)"
    if selection.get("all_active"):
        return "활성 가구 전체 (all active households)"
    conditions = ", ".join(f"{key}={selection[key]}" for key in _filters_of(selection))
    return f"조건에 맞는 활성 가구 (active households where {conditions})"


def select_households(
    principal: Principal, selection: dict, today: date
) -> tuple[list[Household], list[Exclusion]]:
    """The households a selection names, minus those that must not be mailed (with reasons)."""
    check_selection(selection)  # also a draft saved before empty filters were refused
    municipality_id = principal.municipality_id
    base = sa.select(Household).where(Household.municipality_id == municipality_id)
    if "household_ids" in selection:
        wanted = list(dict.fromkeys(selection["household_ids"]))
        found = {h.id: h for h in db.session.scalars(base.where(Household.id.in_(wanted)))}
        chosen = [found[i] for i in wanted if i in found]
        exclusions = [Exclusion(i, "not_found") for i in wanted if i not in found]
    else:
        query = base.where(Household.status == "active").order_by(Household.id)
        for key in ("household_type", "district_id"):
            if selection.get(key) is not None:
                query = query.where(getattr(Household, key) == selection[key])
        if selection.get("risk_source"):
            query = query.where(
                sa.cast(Household.risk_sources, sa.Text).like(f'%"{selection["risk_source"]}"%')
            )
        if selection.get("not_mailed_days"):
            since = datetime.combine(
                today - timedelta(days=selection["not_mailed_days"]), datetime.min.time()
            ).astimezone()
            recent = sa.select(MailItem.household_id).where(
                MailItem.municipality_id == municipality_id, MailItem.created_at >= since
            )
            query = query.where(Household.id.not_in(recent))
        chosen = list(db.session.scalars(query.limit(MAX_ITEMS_PER_MAILING + 1)))
        exclusions = []
    busy = set(db.session.scalars(_open_item_households(municipality_id)))
    households = []
    for household in chosen:
        if household.status != "active":
            exclusions.append(Exclusion(household.id, "closed"))
        elif household.district_id is None:
            exclusions.append(Exclusion(household.id, "no_district"))
        elif household.id in busy:
            exclusions.append(Exclusion(household.id, "open_item"))
        else:
            households.append(household)
    if len(households) > MAX_ITEMS_PER_MAILING:
        raise Invalid(
            fields={
                "selection": [
                    f"한 번에 {MAX_ITEMS_PER_MAILING:,}가구까지 보낼 수 있습니다. "
                    f"(At most {MAX_ITEMS_PER_MAILING:,} households per mailing.)"
                ]
            }
        )
    return households, exclusions


def exclusion_reason(code: str) -> str:
    """The words for an exclusion code."""
    return _EXCLUSION_TEXT[code]


def mailings_visible_to(principal: Principal) -> sa.Select:
    """The mailings of the principal's municipality."""
    query = sa.select(Mailing).order_by(Mailing.id.desc())
    if principal.role in READERS:
        return query.where(Mailing.municipality_id == principal.municipality_id)
    return query.where(sa.false())


def get_mailing(principal: Principal, mailing_id: int) -> Mailing:
    """One mailing of the principal's municipality, or 404."""
    mailing = db.session.scalar(mailings_visible_to(principal).where(Mailing.id == mailing_id))
    if mailing is None:
        raise NotFound()
    return mailing


@dataclass(frozen=True)
class NewMailing:
    """A draft mailing: its title, letter template, households and send date."""

    title: str
    template_id: int
    #: Household ids, a saved filter or all active households, as stored (see check_selection).
    selection: dict[str, Any]
    send_date: date


def create_mailing(principal: Principal, new: NewMailing, today: date) -> Mailing:
    """Save a draft mailing (households, template, send date)."""
    if principal.role not in WRITERS:
        raise Forbidden()
    get_template(principal, new.template_id)
    check_selection(new.selection)
    check_send_date(new.send_date, today)
    mailing = Mailing(
        municipality_id=principal.municipality_id, created_by=principal.account_id, **asdict(new)
    )
    db.session.add(mailing)
    db.session.flush()
    return mailing


@dataclass
class Preview:
    """What submitting would do, and one merged letter."""

    mailing: Mailing
    households: list[Household]
    exclusions: list[Exclusion]
    sample: Household | None
    sample_text: str | None


def preview_mailing(principal: Principal, mailing_id: int, today: date) -> Preview:
    """Resolve the selection and merge one letter, without writing anything but the access log."""
    mailing = get_mailing(principal, mailing_id)
    template = get_template(principal, mailing.template_id)
    households, exclusions = select_households(principal, mailing.selection, today)
    sample = households[0] if households else None
    text = None
    if sample is not None:
        municipality = db.session.get(Municipality, mailing.municipality_id)
        text = merge_letter(template.body, sample, municipality, template)
        record_access(
            principal.account_id,
            "print",
            "household",
            [sample.id],
            mailing.municipality_id,
            detail=f"mailing {mailing.id} preview",
        )
    return Preview(mailing, households, exclusions, sample, text)


def allocate_numbers(year: int, count: int) -> list[str]:
    """`count` fresh registered numbers of `year`; concurrent callers never share one.

    The counter row is created if missing and then advanced with one UPDATE ... RETURNING: on
    PostgreSQL the row lock makes a second transaction wait for the first and read its result;
    on SQLite the transaction already holds the write lock (BEGIN IMMEDIATE).
    """
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(
        RegisteredNumberCounter
    ).values(year=year, next_serial=1)
    db.session.execute(insert.on_conflict_do_nothing(index_elements=["year"]))
    end = db.session.execute(
        sa.update(RegisteredNumberCounter)
        .where(RegisteredNumberCounter.year == year)
        .values(next_serial=RegisteredNumberCounter.next_serial + count)
        .returning(RegisteredNumberCounter.next_serial)
    ).scalar_one()
    return [make_number(year, serial) for serial in range(end - count, end)]


def submit_mailing(principal: Principal, mailing_id: int, today: date) -> Mailing:
    """Create one item per household with a registered number, and queue letter production."""
    mailing = get_mailing(principal, mailing_id)
    if principal.role not in WRITERS:
        raise Forbidden()
    if mailing.status != "draft":
        raise Conflict("이미 발송 요청된 우편입니다. (Already submitted.)")
    municipality = db.session.get(Municipality, mailing.municipality_id)
    if municipality.agreement_status != "active" or (
        municipality.agreement_end is not None and municipality.agreement_end < today
    ):
        raise AgreementInactive()
    check_sender_complete(municipality)
    check_send_date(mailing.send_date, today)
    template = get_template(principal, mailing.template_id)
    households, _ = select_households(principal, mailing.selection, today)
    if not households:
        raise Invalid(fields={"selection": ["보낼 가구가 없습니다. (No household to mail.)"]})
    numbers = allocate_numbers(mailing.send_date.year, len(households))
    now = utcnow()
    batches: dict[int, LetterBatch] = {}
    items = []
    for household, number in zip(households, numbers, strict=True):
        batch = batches.get(household.office_id)
        if batch is None:
            batch = batches[household.office_id] = LetterBatch(
                mailing_id=mailing.id, office_id=household.office_id
            )
            db.session.add(batch)
            db.session.flush()
        batch.item_count += 1
        items.append(
            MailItem(
                registered_number=number,
                mailing_id=mailing.id,
                municipality_id=mailing.municipality_id,
                household_id=household.id,
                office_id=household.office_id,
                district_id=household.district_id,
                status=ItemStatus.ACCEPTED.value,
                batch_id=batch.id,
                created_at=now,
                updated_at=now,
            )
        )
    db.session.add_all(items)
    db.session.flush()
    db.session.add_all(
        TrackingEvent(
            item_id=item.id,
            code=EventCode.ACCEPTED.value,
            at=now,
            actor_id=principal.account_id,
            place=municipality.name,
        )
        for item in items
    )
    mailing.status = "submitted"
    mailing.submitted_at = now
    mailing.item_count = len(items)
    mailing.body_snapshot = template.body
    for item in items:
        _notify_status(item, EventCode.ACCEPTED, now)
    for batch in batches.values():
        enqueue(PRODUCE_KIND, {"batch_id": batch.id})
    record_access(
        principal.account_id,
        "create",
        "household",
        [h.id for h in households],
        mailing.municipality_id,
        detail=f"mailing {mailing.id} submitted",
    )
    db.session.flush()
    return mailing


# --- items and tracking ----------------------------------------------------------------------


def items_visible_to(principal: Principal) -> sa.Select:
    """Municipal staff see their municipality's items; dispatchers their office's; no one else."""
    query = sa.select(MailItem).order_by(MailItem.id)
    if principal.role in READERS:
        return query.where(MailItem.municipality_id == principal.municipality_id)
    if principal.role in POST_ROLES:
        return query.where(MailItem.office_id == principal.office_id)
    return query.where(sa.false())


def get_item(principal: Principal, item_id: int) -> MailItem:
    """One visible item, or 404; the read of the addressee is access-logged."""
    item = db.session.scalar(items_visible_to(principal).where(MailItem.id == item_id))
    if item is None:
        raise NotFound()
    record_access(
        principal.account_id, "view", "household", [item.household_id], item.municipality_id
    )
    return item


def item_by_number(principal: Principal, text: str) -> MailItem:
    """A visible item by registered number (a mistyped number is a 422 naming the field)."""
    number = checked_number(text)
    item = db.session.scalar(
        items_visible_to(principal).where(MailItem.registered_number == number)
    )
    if item is None:
        raise NotFound()
    record_access(
        principal.account_id, "view", "household", [item.household_id], item.municipality_id
    )
    return item


def checked_number(text: str) -> str:
    """The 13 digits of a registered number, or a 422 naming registered_number."""
    try:
        return parse_number(text)
    except InvalidRegisteredNumber as error:
        raise Invalid(fields={"registered_number": [str(error)]}) from error


def events_of(item: MailItem) -> list[TrackingEvent]:
    """An item's events in order."""
    return list(
        db.session.scalars(
            sa.select(TrackingEvent)
            .where(TrackingEvent.item_id == item.id)
            .order_by(TrackingEvent.at, TrackingEvent.id)
        )
    )


def _notify_status(item: MailItem, event: EventCode, at: datetime) -> None:
    webhooks.notify(
        item.municipality_id,
        "mail_item.status_changed",
        {
            "registered_number": item.registered_number,
            "mailing_id": item.mailing_id,
            "status": item.status,
            "event": event.value,
            "at": at.isoformat(),
            "return_reason": item.return_reason,
        },
        queue=NOTICES,  # routine tracking never delays an alert
    )


def record_event(
    item: MailItem,
    code: EventCode,
    *,
    actor_id: int | None,
    place: str | None = None,
    detail: str | None = None,
    at: datetime | None = None,
) -> TrackingEvent:
    """Append an event if the item's status allows it; the status follows; webhooks are queued."""
    try:
        status = next_status(ItemStatus(item.status), code)
    except TransitionRefused as refused:
        raise EventRefused(str(refused), fields={"code": [str(refused)]}) from refused
    at = at or utcnow()
    event = TrackingEvent(
        item_id=item.id, code=code.value, at=at, place=place, actor_id=actor_id, detail=detail
    )
    db.session.add(event)
    item.status = status.value
    item.due_on = _due_on(item, status, at)
    db.session.flush()
    if status in (ItemStatus.RETURNING, ItemStatus.RETURNED):
        item.return_reason = return_reason([EventCode(e.code) for e in events_of(item)])
    _notify_status(item, code, at)
    return event


def _due_on(item: MailItem, status: ItemStatus, at: datetime) -> date | None:
    """The day an item is due on a round after reaching `status` at `at`, by its office's days."""
    day = at.astimezone(SEOUL).date()
    if status == ItemStatus.AT_OFFICE:
        return next_working_day(day, office_weekdays(item.office_id))
    if status == ItemStatus.REDELIVERY_SCHEDULED:
        return next_working_day(day + timedelta(days=1), office_weekdays(item.office_id))
    if status in (ItemStatus.OUT_FOR_DELIVERY, ItemStatus.ABSENT):
        return item.due_on
    return None


def returned_items(principal: Principal) -> sa.Select:
    """Items that came back, with their reason: a signal for the welfare team."""
    if principal.role not in READERS:
        raise Forbidden()
    return items_visible_to(principal).where(MailItem.return_reason.is_not(None))


# --- public lookup ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicTracking:
    """What anyone holding a number may know of the item: its step and the steps so far."""

    registered_number: str
    status: PublicStep
    steps: list[tuple[PublicStep, datetime]]


def public_lookup(text: str) -> PublicTracking:
    """An item by number for anyone: generic steps with their times, nothing of who or why."""
    number = checked_number(text)
    item = db.session.scalar(sa.select(MailItem).where(MailItem.registered_number == number))
    if item is None:
        raise NotFound()
    events = events_of(item)
    steps = public_steps([EventCode(event.code) for event in events])
    return PublicTracking(
        registered_number=item.registered_number,
        status=PUBLIC_STEP_OF_STATUS[ItemStatus(item.status)],
        steps=[(step, events[index].at) for index, step in steps],
    )


def batches_visible_to(principal: Principal) -> sa.Select:
    """Batches of the principal's municipality (municipal staff) or office (dispatchers)."""
    query = sa.select(LetterBatch).order_by(LetterBatch.id)
    if principal.role in READERS:
        return query.join(Mailing, Mailing.id == LetterBatch.mailing_id).where(
            Mailing.municipality_id == principal.municipality_id
        )
    if principal.role in POST_ROLES:
        return query.where(LetterBatch.office_id == principal.office_id)
    return query.where(sa.false())


def get_batch(principal: Principal, batch_id: int) -> LetterBatch:
    """One visible letter batch, or 404."""
    batch = db.session.scalar(batches_visible_to(principal).where(LetterBatch.id == batch_id))
    if batch is None:
        raise NotFound()
    return batch


def return_held_items(now: datetime | None = None) -> int:
    """Send back items held at the office after their last absence, once the hold is over."""
    now = now or utcnow()
    held_since = now - timedelta(days=current_app.config["REDELIVERY_HOLD_DAYS"])
    items = db.session.scalars(
        sa.select(MailItem).where(
            MailItem.status == ItemStatus.ABSENT.value, MailItem.updated_at <= held_since
        )
    ).all()
    for item in items:
        record_event(
            item, EventCode.RETURNED, actor_id=None, detail="보관 기간 경과 (hold period over)"
        )
    return len(items)
