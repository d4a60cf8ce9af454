"""Alerts: an emergency or urgent check reaches the on-duty social workers at once.

Raising an alert writes, in the visit's transaction, a push to each on-duty social worker, an
e-mail to those of them with a work address (when SMTP is configured) and a signed webhook to
the municipality's own system; the outbox sends them after commit. The dashboard lists open
alerts. An emergency nobody acknowledges within ALERT_ESCALATE_MINUTES is escalated to the
municipal admins the same ways (the scheduler runs `escalate_overdue`, which is idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from core.auth.directory import accounts_by_id
from core.auth.principal import Principal
from core.auth.roles import Role
from core.db import db, utcnow
from core.errors import Forbidden, Invalid, NotFound
from core.push import enqueue_push
from municipalities.mail import webhooks
from welfare_checks.access import WRITERS, active_accounts, in_own_municipality, reads_here
from welfare_checks.alert_email import email_alert
from welfare_checks.models import Alert, CheckReport, OnDuty

ALERTING = ("emergency", "urgent")


def on_duty(municipality_id: int) -> list[int]:
    """The accounts alerted: the listed on-duty social workers, else every social worker."""
    listed = list(
        db.session.scalars(
            sa.select(OnDuty.account_id).where(OnDuty.municipality_id == municipality_id)
        )
    )
    accounts = accounts_by_id(listed)
    active = [account_id for account_id in listed if accounts[account_id].is_active]
    return active or active_accounts(municipality_id, Role.SOCIAL_WORKER)


def _event(report: CheckReport) -> dict:
    # No names, answers or addresses leave in a push or a webhook: the receiver looks them up.
    return {
        "report_id": report.id,
        "household_id": report.household_id,
        "severity": report.severity,
        "fired": list(report.fired),
        "visited_at": report.visited_at.isoformat(),
    }


def raise_alert(report: CheckReport) -> Alert | None:
    """Alert the team about an emergency or urgent report (in the caller's transaction)."""
    if report.severity not in ALERTING:
        return None
    alert = Alert(
        report_id=report.id, municipality_id=report.municipality_id, severity=report.severity
    )
    db.session.add(alert)
    db.session.flush()
    data = _event(report) | {"alert_id": alert.id}
    team = on_duty(report.municipality_id)
    for account_id in team:
        enqueue_push(account_id, "check_alert", data)
    email_alert(team, report, escalated=False)
    webhooks.notify(report.municipality_id, "check_report.alert", data)
    return alert


def alerts_visible_to(principal: Principal, *, open_only: bool = False) -> sa.Select:
    """The municipality's alerts: open emergencies first, then by age."""
    query = sa.select(Alert).where(in_own_municipality(principal, Alert.municipality_id))
    if open_only:
        query = query.where(Alert.acknowledged_at.is_(None))
    return query.order_by(
        Alert.acknowledged_at.is_not(None),
        sa.case({"emergency": 0}, value=Alert.severity, else_=1),
        Alert.created_at,
        Alert.id,
    )


@dataclass(frozen=True)
class AlertState:
    """What the staff pages' poll compares: a change of any figure is a change to show."""

    #: Open (unacknowledged) alerts, and how many of them went to the municipal admins.
    open: int
    escalated: int
    #: The newest open alert's id. Ids only grow, so an alert that arrived since is the newest
    #: and moves it; alerts only leave the open set (acknowledged), which lowers `open`; an
    #: escalation raises `escalated` or, with a parting acknowledgement, lowers `open`.
    newest_open: int | None
    #: The newest check report (of any severity): the inbox lists those too.
    newest_report: int | None

    @property
    def etag(self) -> str:
        figures = (self.open, self.escalated, self.newest_open or 0, self.newest_report or 0)
        return "a" + "-".join(str(figure) for figure in figures)


def alert_state(principal: Principal) -> AlertState:
    """The principal's municipality's open alerts and newest report, in one indexed query
    (alerts by municipality and acknowledgement, reports by municipality and id)."""
    if not reads_here(principal):
        return AlertState(0, 0, None, None)
    open_alerts = (
        sa.select(
            sa.func.count().label("open"),
            sa.func.count(Alert.escalated_at).label("escalated"),
            sa.func.max(Alert.id).label("newest_open"),
        )
        .where(Alert.municipality_id == principal.municipality_id)
        .where(Alert.acknowledged_at.is_(None))
        .subquery()
    )
    newest_report = (
        sa.select(sa.func.max(CheckReport.id))
        .where(CheckReport.municipality_id == principal.municipality_id)
        .scalar_subquery()
    )
    row = db.session.execute(
        sa.select(
            open_alerts.c.open, open_alerts.c.escalated, open_alerts.c.newest_open, newest_report
        )
    ).one()
    return AlertState(*row)


def newest_open_alerts(principal: Principal, limit: int) -> list[Alert]:
    """The municipality's newest open alerts (a new one is always among them)."""
    return list(
        db.session.scalars(
            sa.select(Alert)
            .where(in_own_municipality(principal, Alert.municipality_id))
            .where(Alert.acknowledged_at.is_(None))
            .order_by(Alert.id.desc())
            .limit(limit)
        )
    )


def page_notices(principal: Principal) -> tuple[str, ...]:
    """Which alerts raise a notice (sound, browser notification) on the principal's pages:
    the ones the outbox would push to them. New alerts for the on-duty social workers (every
    social worker while none is listed), escalations for the municipal admins; the count in
    the navigation for everyone who reads the alerts."""
    if not reads_here(principal):
        return ()
    if principal.role == Role.MUNICIPAL_ADMIN:
        return ("escalated",)
    if principal.role == Role.SOCIAL_WORKER and principal.account_id in on_duty(
        principal.municipality_id
    ):
        return ("new",)
    return ()


def acknowledge(principal: Principal, alert_id: int) -> Alert:
    """Record who took the alert and when (the first acknowledgement stands)."""
    alert = db.session.scalar(alerts_visible_to(principal).where(Alert.id == alert_id))
    if alert is None:
        raise NotFound()
    if principal.role not in WRITERS:
        raise Forbidden()
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = utcnow(), principal.account_id
        db.session.flush()
    return alert


def escalate_overdue(now: datetime | None = None) -> int:
    """Escalate unacknowledged emergencies past the limit to the municipal admins, once each."""
    now = now or utcnow()
    limit = timedelta(minutes=current_app.config["ALERT_ESCALATE_MINUTES"])
    overdue = db.session.scalars(
        sa.select(Alert)
        .where(
            Alert.severity == "emergency",
            Alert.acknowledged_at.is_(None),
            Alert.escalated_at.is_(None),
            Alert.created_at <= now - limit,
        )
        .with_for_update(skip_locked=True)
    ).all()
    for alert in overdue:
        alert.escalated_at = now
        report = db.session.get(CheckReport, alert.report_id)
        data = _event(report) | {"alert_id": alert.id, "escalated": True}
        admins = active_accounts(alert.municipality_id, Role.MUNICIPAL_ADMIN)
        for account_id in admins:
            enqueue_push(account_id, "check_alert_escalated", data)
        email_alert(admins, report, escalated=True)
        webhooks.notify(alert.municipality_id, "check_report.escalated", data)
    db.session.flush()
    return len(overdue)


def set_on_duty(principal: Principal, account_ids: list[int]) -> list[int]:
    """Replace the municipality's on-duty list (municipal admins); only its social workers."""
    if principal.role != Role.MUNICIPAL_ADMIN:
        raise Forbidden()
    workers = set(active_accounts(principal.municipality_id, Role.SOCIAL_WORKER))
    unknown = [i for i in account_ids if i not in workers]
    if unknown:
        raise Invalid(
            fields={"account_ids": [f"이 지자체의 사회복지 담당자가 아닙니다: {unknown}"]}
        )
    db.session.execute(sa.delete(OnDuty).where(OnDuty.municipality_id == principal.municipality_id))
    for account_id in dict.fromkeys(account_ids):
        db.session.add(OnDuty(municipality_id=principal.municipality_id, account_id=account_id))
    db.session.flush()
    return on_duty(principal.municipality_id)
