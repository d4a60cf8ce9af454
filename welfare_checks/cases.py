"""Follow-up cases: every household found in need is followed to an outcome.

A case opens with each emergency or urgent report (and watch, when the municipality's policy
says so), due within the service level of its severity. Statuses: new → in progress → linked to
a public service / linked to private support / no need / unreachable → closed, and closed →
reopened (in progress). An owner is assigned and may be changed within the municipality. Notes
are encrypted. Every step is a CaseEvent. Overdue cases come first and escalate once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from core.audit import record_access
from core.auth.directory import account_by_id
from core.auth.principal import Principal
from core.auth.roles import Role
from core.db import db, utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.inputs import UNSET, Unset
from core.push import enqueue_push
from welfare_checks.access import WRITERS, active_accounts, in_own_municipality
from welfare_checks.models import Case, CaseEvent, CasePolicy, CheckReport

OUTCOME_STATUSES = ("linked_public", "linked_private", "no_need", "unreachable")
# Which status may follow which (reopening is its own action).
NEXT = {
    "new": ("in_progress", *OUTCOME_STATUSES),
    "in_progress": OUTCOME_STATUSES,
    **{status: ("closed", "in_progress") for status in OUTCOME_STATUSES},
    "closed": (),
}
OUTCOMES = (
    "basic_livelihood",  # 기초생활보장
    "emergency_welfare",  # 긴급복지지원
    "care_service",  # 돌봄·노인맞춤돌봄
    "health_service",  # 보건·의료 연계
    "housing_support",  # 주거 지원
    "private_donation",  # 민간 후원·푸드뱅크
    "counselling",  # 상담
    "declined",  # 본인 거부
    "not_found",  # 소재 불명
    "other",
)


class StaleCase(Conflict):
    code = "stale_case"
    message = "다른 사람이 먼저 바꿨습니다. 새로 불러오세요. (The case changed; reload it.)"


def _due_hours(municipality_id: int, severity: str) -> int:
    policy = db.session.get(CasePolicy, municipality_id)
    custom = policy.due_hours if policy else {}
    return int(custom.get(severity, current_app.config["CASE_DUE_HOURS"][severity]))


def open_case(report: CheckReport) -> Case | None:
    """Open a case for a report that needs action (in the caller's transaction)."""
    if report.severity not in ("emergency", "urgent"):
        # Only a watch may open a case, by policy (most reports are "none": no query for them).
        if report.severity != "watch":
            return None
        policy = db.session.get(CasePolicy, report.municipality_id)
        if policy is None or not policy.open_on_watch:
            return None
    now = utcnow()
    case = Case(
        municipality_id=report.municipality_id,
        household_id=report.household_id,
        report_id=report.id,
        severity=report.severity,
        due_at=now + timedelta(hours=_due_hours(report.municipality_id, report.severity)),
        opened_at=now,
    )
    db.session.add(case)
    db.session.flush()
    db.session.add(CaseEvent(case_id=case.id, action="opened", status="new", at=now))
    return case


def cases_visible_to(principal: Principal) -> sa.Select:
    """The municipality's cases: open before closed, overdue first, then by due time."""
    query = sa.select(Case).where(in_own_municipality(principal, Case.municipality_id))
    return query.order_by((Case.status == "closed"), Case.due_at, Case.id)


def get_case(principal: Principal, case_id: int) -> Case:
    """One visible case, or 404."""
    case = db.session.scalar(cases_visible_to(principal).where(Case.id == case_id))
    if case is None:
        raise NotFound()
    return case


def read_case(principal: Principal, case_id: int) -> Case:
    """One visible case for reading its household's data: the read is access-logged."""
    case = get_case(principal, case_id)
    record_access(
        principal.account_id,
        "read",
        "household",
        [case.household_id],
        case.municipality_id,
        f"case={case.id}",
    )
    return case


def _editable(principal: Principal, case_id: int, version: int) -> Case:
    case = get_case(principal, case_id)
    if principal.role not in WRITERS:
        raise Forbidden()
    if case.version != version:
        raise StaleCase()
    return case


@dataclass(frozen=True)
class CaseChanges:
    """What to change of a case read at `version` (UNSET: unchanged; an owner None unassigns)."""

    version: int
    owner_id: int | None | Unset = UNSET
    status: str | Unset = UNSET
    #: One of OUTCOMES: required with an outcome status.
    outcome: str | Unset = UNSET


def update_case(principal: Principal, case_id: int, changes: CaseChanges) -> Case:
    """Assign or transfer the case, move its status, record its outcome; every step logged."""
    case = _editable(principal, case_id, changes.version)
    now = utcnow()
    if changes.owner_id is not UNSET:
        _check_owner(case, changes.owner_id)
        case.owner_id = changes.owner_id
        db.session.add(
            CaseEvent(
                case_id=case.id,
                actor_id=principal.account_id,
                action="assigned",
                owner_id=case.owner_id,
                at=now,
            )
        )
    status = changes.status
    if status is not UNSET:
        if status not in NEXT[case.status]:
            raise Invalid(
                fields={"status": [f"{case.status} → {status}: 허용되지 않습니다. (Not allowed.)"]}
            )
        if status in OUTCOME_STATUSES:
            if changes.outcome is UNSET:
                raise Invalid(
                    fields={"outcome": ["결과 코드가 필요합니다. (An outcome is required.)"]}
                )
            case.outcome = changes.outcome
        case.status = status
        case.closed_at = now if status == "closed" else None
        db.session.add(
            CaseEvent(
                case_id=case.id,
                actor_id=principal.account_id,
                action="status",
                status=status,
                at=now,
            )
        )
    case.version += 1
    db.session.flush()
    return case


def _check_owner(case: Case, owner_id: int | None) -> None:
    if owner_id is None:
        return
    owner = account_by_id(owner_id)
    if (
        owner is None
        or not owner.is_active
        or owner.municipality_id != case.municipality_id
        or owner.role not in (r.value for r in WRITERS)
    ):
        raise Invalid(fields={"owner_id": ["이 지자체의 담당자가 아닙니다. (Not a worker here.)"]})


def add_note(principal: Principal, case_id: int, text: str) -> CaseEvent:
    """Add an encrypted note to the case."""
    case = get_case(principal, case_id)
    if principal.role not in WRITERS:
        raise Forbidden()
    event = CaseEvent(case_id=case.id, actor_id=principal.account_id, action="note", note=text)
    db.session.add(event)
    db.session.flush()
    record_access(
        principal.account_id,
        "note",
        "household",
        [case.household_id],
        case.municipality_id,
        f"case={case.id}",
    )
    return event


def reopen(principal: Principal, case_id: int, version: int) -> Case:
    """Reopen a closed case read at `version` (back to in progress, due again by its severity)."""
    case = _editable(principal, case_id, version)
    if case.status != "closed":
        raise Conflict("닫힌 사례만 다시 엽니다. (Only a closed case reopens.)")
    now = utcnow()
    case.status, case.closed_at, case.escalated_at = "in_progress", None, None
    case.due_at = now + timedelta(hours=_due_hours(case.municipality_id, case.severity))
    case.version += 1
    db.session.add(
        CaseEvent(
            case_id=case.id,
            actor_id=principal.account_id,
            action="reopened",
            status=case.status,
            at=now,
        )
    )
    db.session.flush()
    return case


def events_of(case: Case) -> list[CaseEvent]:
    """The case's history in order."""
    return list(
        db.session.scalars(
            sa.select(CaseEvent)
            .where(CaseEvent.case_id == case.id)
            .order_by(CaseEvent.at, CaseEvent.id)
        )
    )


def escalate_overdue_cases(now: datetime | None = None) -> int:
    """Tell the owner and the municipal admins about each newly overdue open case, once."""
    now = now or utcnow()
    overdue = db.session.scalars(
        sa.select(Case)
        .where(Case.status != "closed", Case.due_at <= now, Case.escalated_at.is_(None))
        .with_for_update(skip_locked=True)
    ).all()
    for case in overdue:
        case.escalated_at = now
        admins = active_accounts(case.municipality_id, Role.MUNICIPAL_ADMIN)
        for account_id in dict.fromkeys([*admins, *([case.owner_id] if case.owner_id else [])]):
            enqueue_push(
                account_id, "case_overdue", {"case_id": case.id, "severity": case.severity}
            )
    db.session.flush()
    return len(overdue)


def policy_of(principal: Principal) -> dict:
    """The municipality's case rules with the defaults filled in."""
    policy = db.session.get(CasePolicy, principal.municipality_id)
    custom = policy.due_hours if policy else {}
    return {
        "open_on_watch": bool(policy and policy.open_on_watch),
        "due_hours": current_app.config["CASE_DUE_HOURS"] | custom,
    }


@dataclass(frozen=True)
class CaseRules:
    """A municipality's case rules: whether a watch opens a case, service levels in hours."""

    open_on_watch: bool
    #: Hours to the due time by severity (emergency, urgent, watch); the rest: the defaults.
    due_hours: dict[str, int]


def set_policy(principal: Principal, rules: CaseRules) -> dict:
    """Replace the municipality's case rules (municipal admins)."""
    policy = db.session.get(CasePolicy, principal.municipality_id)
    if policy is None:
        policy = CasePolicy(municipality_id=principal.municipality_id)
        db.session.add(policy)
    policy.open_on_watch, policy.due_hours = rules.open_on_watch, dict(rules.due_hours)
    db.session.flush()
    return policy_of(principal)
