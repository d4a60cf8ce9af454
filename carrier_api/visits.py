"""Visits: what a carrier records at a door, with its consequences, safe to send again.

Every record carries the app's `client_uuid`. Claim and effect share one transaction (the
unique key is the claim): an identical replay gets the stored answer, the same key with another
payload is a 422, and a record whose key another request holds right now is a 409 (PostgreSQL
advisory lock; SQLite serialises writers, so the replay simply waits). Records arriving late keep
both clocks; a record for a stop reassigned meanwhile is stored and flagged, never dropped.
Reliability.md §3.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any
from uuid import UUID

import sqlalchemy as sa
from flask import current_app

from carrier_api.models import Visit
from core.audit import record_access
from core.auth.principal import Principal
from core.auth.roles import Role
from core.db import db, utcnow
from core.errors import Conflict, Invalid, NotFound
from core.geo import geodesic_m
from municipalities.mail.registered_numbers import SERVICE_WELFARE
from municipalities.mail.services import EventRefused, checked_number, events_of, record_event
from municipalities.mail.stops import item_at_office
from municipalities.mail.tracking import EventCode, absence_count
from routing.office_items import record_visit_outcome
from routing.route_reads import VisitedStop, mail_item_visited, office_item_visited
from welfare_checks import survey
from welfare_checks.reports import file_report
from welfare_checks.survey import Outcome

if TYPE_CHECKING:
    from municipalities.mail.stops import MailItem
    from routing.route_reads import OfficeItem

# The tracking event each outcome records on a welfare item (OTHER records none).
EVENTS = {
    Outcome.DELIVERED: EventCode.DELIVERED,
    Outcome.DELIVERED_TO_MEMBER: EventCode.DELIVERED,
    Outcome.ABSENT: EventCode.ABSENT,
    Outcome.REFUSED: EventCode.REFUSED,
    Outcome.MOVED: EventCode.MOVED,
    Outcome.ADDRESS_UNKNOWN: EventCode.ADDRESS_UNKNOWN,
    Outcome.ADDRESSEE_DECEASED: EventCode.ADDRESSEE_DECEASED,
}
# An office item's status after each outcome.
OFFICE_STATUS = {
    Outcome.DELIVERED: "delivered",
    Outcome.DELIVERED_TO_MEMBER: "delivered",
    Outcome.ABSENT: "absent",
    Outcome.REFUSED: "returned",
    Outcome.MOVED: "returned",
    Outcome.ADDRESS_UNKNOWN: "returned",
    Outcome.ADDRESSEE_DECEASED: "returned",
}
SIGNATURE_TYPES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
# The statements every upload runs, built once: composing them costs more Python time than
# PostgreSQL spends answering them.
_STORED = sa.select(Visit).where(Visit.client_uuid == sa.bindparam("key"))
_CLAIM = sa.select(
    sa.func.pg_try_advisory_xact_lock(
        sa.func.hashtextextended(sa.bindparam("key", type_=sa.String), 0)
    )
)
# A phone clock this far ahead of the server is flagged, not trusted.
CLOCK_SKEW = timedelta(minutes=5)


class InFlight(Conflict):
    code = "in_flight"
    message = (
        "같은 기록을 처리하는 중입니다. 잠시 후 다시 보내세요. (Still being processed; retry.)"
    )


class KeyReused(Invalid):
    code = "client_uuid_reused"
    message = (
        "같은 client_uuid로 다른 내용이 왔습니다. (This client_uuid was used with other content.)"
    )


@dataclass(frozen=True)
class VisitSurvey:
    """The survey filled in at a welfare item's door: which form and version, and the answers."""

    form: str
    version: int
    #: Question id -> answer, checked against the form by the survey module.
    answers: Mapping[str, Any]


@dataclass(frozen=True)
class VisitSignature:
    """The addressee's signature: a PNG or JPEG image, base64."""

    type: str
    data: str = field(repr=False)


@dataclass(frozen=True)
class NewVisit:
    """One record the carrier app sends of a visit (None: the record left the field out)."""

    #: Made by the app, once: the record's idempotency key.
    client_uuid: UUID
    registered_number: str
    outcome: Outcome
    #: By the phone's clock.
    recorded_at: datetime
    #: [lon, lat]
    location: Sequence[float]
    accuracy_m: float
    relation: str | None = None
    other_text: str | None = None
    survey: VisitSurvey | None = None
    signature: VisitSignature | None = None


@dataclass(frozen=True)
class Answer:
    """The status and body a record got (stored for replays)."""

    status: int
    body: dict[str, Any]


def fingerprint(record: NewVisit) -> str:
    """A hash of the record's meaning, to tell a replay from a reuse: the loaded record as
    canonical JSON, so 9 or 9.0, Z or +00:00 and the order of keys make no difference."""
    return _hash(_canonical(record))


def raw_fingerprint(record: Any) -> str:
    """A hash of the record as sent: what visits stored before fingerprint() hold."""
    return _hash(record)


def _hash(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _canonical(value: Any) -> Any:
    """Loaded values as JSON: instants in UTC, enums by value, UUIDs as text; floats stay."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if is_dataclass(value):
        # As the record's JSON object: a field it left out (None) is not in it, so stored
        # fingerprints keep matching their replays.
        return {
            f.name: _canonical(item)
            for f in fields(value)
            if (item := getattr(value, f.name)) is not None
        }
    return value


def record_visit(principal: Principal, raw: Any, record: NewVisit) -> Answer:
    """Store one visit (raw: as sent; record: as loaded) with its effects."""
    key, print_ = str(record.client_uuid), fingerprint(record)
    _claim(key)
    stored = db.session.scalar(_STORED, {"key": key})
    if stored is not None:
        # A visit stored before fingerprints were of the loaded record holds the raw form's:
        # an identical replay of it still matches that one.
        same = stored.fingerprint in (print_, raw_fingerprint(raw))
        if stored.account_id != principal.account_id or not same:
            raise KeyReused(fields={"client_uuid": [KeyReused.message]})
        return Answer(200, _stored(stored))
    target = _target(principal, record.registered_number)
    visit = Visit(
        client_uuid=key,
        fingerprint=print_,
        account_id=principal.account_id,
        device_id=principal.device_id,
        outcome=record.outcome.value,
        relation=record.relation,
        other_text=record.other_text,
        recorded_at=record.recorded_at,
        received_at=utcnow(),
        lon=record.location[0],
        lat=record.location[1],
        accuracy_m=record.accuracy_m,
        flags=[],
    )
    _check_details(record)
    target.apply_to(visit)
    answers = _check_survey(visit, target, record.survey)
    _check_signature(visit, record.signature)
    _locate(visit, target)
    if visit.recorded_at > visit.received_at + CLOCK_SKEW:
        visit.flags.append("recorded_in_future")
    if "reassigned" not in visit.flags:
        _consequences(principal, visit, target)
    visit.response = _response(visit, target)  # all but the id, which the insert assigns
    db.session.add(visit)
    db.session.flush()
    if answers is not None:
        # What the carrier saw reaches the welfare team even for a flagged record.
        file_report(
            visit_id=visit.id,
            municipality_id=visit.municipality_id,
            household_id=visit.household_id,
            mail_item_id=visit.mail_item_id,
            form=visit.survey_form,
            version=visit.survey_version,
            answers=answers,
            outcome=visit.outcome,
            flags=visit.flags,
            visited_at=visit.recorded_at,
        )
        # The carrier wrote what they saw of the household: a write of personal data.
        record_access(
            principal.account_id,
            "survey",
            "household",
            [visit.household_id],
            visit.municipality_id,
            f"visit={visit.id}",
        )
    return Answer(201, _stored(visit))


def stored_answer(principal: Principal, client_uuid: str) -> dict[str, Any]:
    """The stored answer to one of the caller's records (did it arrive?), or 404."""
    visit = db.session.scalar(
        sa.select(Visit).where(
            Visit.client_uuid == client_uuid, Visit.account_id == principal.account_id
        )
    )
    if visit is None:
        raise NotFound()
    return _stored(visit)


def _claim(key: str) -> None:
    """Hold the record's key for this transaction; 409 if another request holds it now."""
    if db.session.get_bind().dialect.name != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE already serialises every writer
    if not db.session.scalar(_CLAIM, {"key": key}):
        raise InFlight()


@dataclass
class _Target:
    """The item a record is about, where it stands on the carrier's routes."""

    mail_item: MailItem | None
    office_item: OfficeItem | None
    position: tuple[float, float]
    stop: VisitedStop

    def apply_to(self, visit: Visit) -> None:
        """Point the visit at the item, its household and stop; flag a reassignment."""
        visit.mail_item_id = self.mail_item.id if self.mail_item else None
        visit.office_item_id = self.office_item.id if self.office_item else None
        visit.household_id = self.mail_item.household_id if self.mail_item else None
        visit.municipality_id = self.mail_item.municipality_id if self.mail_item else None
        visit.stop_id, visit.plan_id = self.stop.stop_id, self.stop.plan_id
        if self.stop.reassigned:
            # Moved to a colleague while the phone was offline: kept and flagged for the
            # dispatcher, never applied, never dropped.
            visit.flags.append("reassigned")


def _target(principal: Principal, text: str) -> _Target:
    """The item with this number on a published route of the caller's office, or 404."""
    number = checked_number(text)
    if principal.role != Role.CARRIER:
        raise NotFound()
    # Welfare mail has its own service class; look where the number most likely is first.
    lookups = (_welfare_target, _office_target)
    if not number.startswith(SERVICE_WELFARE):
        lookups = lookups[::-1]
    for lookup in lookups:
        target = lookup(principal, number)
        if target is not None:
            return target
    raise NotFound()  # never on a route handed out: nothing a carrier could have visited


def _welfare_target(principal: Principal, number: str) -> _Target | None:
    found = item_at_office(number, principal.office_id)
    if found is None:
        return None
    item, position = found
    stop = mail_item_visited(principal.account_id, item.id)
    if stop is None:
        return None
    return _Target(mail_item=item, office_item=None, position=position, stop=stop)


def _office_target(principal: Principal, number: str) -> _Target | None:
    found = office_item_visited(principal.account_id, principal.office_id, number)
    if found is None:
        return None
    item, stop = found
    return _Target(mail_item=None, office_item=item, position=(item.lon, item.lat), stop=stop)


def _check_details(record: NewVisit) -> None:
    needed = survey.OUTCOME_DETAIL.get(record.outcome)
    if needed == "relation" and not record.relation:
        raise Invalid(fields={"relation": ["가구원과의 관계를 적어 주세요. (Relation required.)"]})
    if needed == "text" and not record.other_text:
        raise Invalid(fields={"other_text": ["내용을 적어 주세요. (Describe what happened.)"]})


def _check_survey(
    visit: Visit, target: _Target, given: VisitSurvey | None
) -> dict[str, Any] | None:
    """Welfare items need the survey, valid for its version and fitting the outcome."""
    if target.mail_item is None:
        if given is not None:
            raise Invalid(fields={"survey": ["일반 등기에는 설문이 없습니다. (No survey here.)"]})
        return None
    if given is None:
        raise Invalid(fields={"survey": ["복지등기는 설문이 필요합니다. (A survey is required.)"]})
    try:
        answers = survey.validate(given.form, given.version, given.answers)
        survey.check_fits_outcome(Outcome(visit.outcome), answers)
    except survey.SurveyInvalid as invalid:
        raise Invalid(fields={"survey": invalid.problems}) from invalid
    visit.survey_form, visit.survey_version = given.form, given.version
    return answers


def _check_signature(visit: Visit, given: VisitSignature | None) -> None:
    if given is None:
        return
    limit = current_app.config["VISIT_SIGNATURE_MAX_BYTES"]
    try:
        image = base64.b64decode(given.data, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(fields={"signature": ["base64가 아닙니다. (Not base64.)"]}) from None
    if len(image) > limit:
        raise Invalid(fields={"signature": [f"{limit:,} 바이트 이하 (at most {limit:,} bytes)"]})
    if not image.startswith(SIGNATURE_TYPES[given.type]):
        raise Invalid(fields={"signature": ["이미지 형식이 맞지 않습니다. (Not a PNG/JPEG.)"]})
    visit.signature_type, visit.signature = given.type, given.data


def _locate(visit: Visit, target: _Target) -> None:
    """Distance from the household (or the item's address); far is flagged, not refused."""
    visit.distance_m = round(geodesic_m((visit.lon, visit.lat), target.position), 1)
    if visit.distance_m > current_app.config["VISIT_FAR_M"]:
        visit.flags.append("far_from_household")


def _consequences(principal: Principal, visit: Visit, target: _Target) -> None:
    """In the same transaction: the item's tracking event, and a redelivery after an absence."""
    outcome = Outcome(visit.outcome)
    at = min(visit.recorded_at, visit.received_at)
    if target.office_item is not None:
        if not record_visit_outcome(target.office_item, OFFICE_STATUS.get(outcome)):
            visit.flags.append("item_not_open")
        return
    event = EVENTS.get(outcome)
    if event is None:
        return
    item = target.mail_item
    try:  # a refused event is refused before anything is written
        record_event(item, event, actor_id=principal.account_id, detail=visit.relation, at=at)
    except EventRefused:
        visit.flags.append("item_not_open")  # e.g. already delivered: kept, not applied
        return
    if outcome == Outcome.ABSENT:
        absences = absence_count([EventCode(e.code) for e in events_of(item)])
        if absences < current_app.config["REDELIVERY_ATTEMPTS"]:
            record_event(item, EventCode.REDELIVERY, actor_id=None, at=at)


def _response(visit: Visit, target: _Target) -> dict[str, Any]:
    item = target.mail_item or target.office_item
    return {
        "client_uuid": visit.client_uuid,
        "stored": True,
        "flags": list(visit.flags),
        "item_status": item.status,
        "due_on": target.mail_item.due_on.isoformat()
        if target.mail_item is not None and target.mail_item.due_on
        else None,
        "recorded_at": visit.recorded_at.isoformat(),
        "received_at": visit.received_at.isoformat(),
    }


def _stored(visit: Visit) -> dict[str, Any]:
    """The answer a record got, the same for every replay."""
    return visit.response | {"visit_id": visit.id}
