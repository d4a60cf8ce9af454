"""Alert e-mails: Korean first, English below, and nothing about the household but its id.

A mailbox is outside the system's access controls and access log, so an alert e-mail says only
that a report needs attention and where to find it; names, addresses and answers stay behind
the sign-in.
"""

from __future__ import annotations

from flask import current_app

from core.auth.directory import accounts_by_id
from core.clock import SEOUL
from core.email import email_enabled, enqueue_email
from welfare_checks.models import CheckReport

LABELS = {"emergency": "긴급", "urgent": "시급"}


def _link(path: str) -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/") + path


def compose(report: CheckReport, *, escalated: bool) -> tuple[str, str]:
    """The subject and plain-text body of the alert e-mail about a report."""
    label = LABELS[report.severity]
    visited = report.visited_at.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M KST")
    rules = ", ".join(report.fired) or "-"
    # The staff pages (welfare_checks/pages.py): a person reads and acknowledges in a browser.
    report_url = _link(f"/welfare/reports/{report.id}")
    inbox_url = _link("/welfare/")
    minutes = current_app.config["ALERT_ESCALATE_MINUTES"]
    if escalated:
        subject = f"[복지등기] 미확인 {label} 보고 #{report.id} ({report.severity}, escalated)"
        lead_ko = f"{label} 확인 보고를 {minutes}분 넘게 아무도 확인하지 않아 관리자께 알립니다."
        lead_en = f"Nobody has acknowledged this {report.severity} report for {minutes} minutes."
    else:
        subject = f"[복지등기] {label} 확인 보고 #{report.id} ({report.severity})"
        lead_ko = f"안부 확인 결과 {label} 보고가 들어왔습니다. 바로 확인해 주세요."
        lead_en = f"A welfare check was reported as {report.severity}: please look at it now."
    body = f"""{lead_ko}

등급: {label} ({report.severity})
보고 번호: {report.id}
가구 번호: {report.household_id}
방문 시각: {visited}
해당 규칙: {rules}
보고 보기: {report_url}
알림 확인(받은 보고): {inbox_url}

이 메일에는 개인정보를 담지 않습니다. 가구 정보는 로그인해서 확인하세요.

----------------------------------------------------------------
{lead_en}

Severity: {report.severity}
Report id: {report.id}
Household id: {report.household_id}
Visited at: {visited}
Rules fired: {rules}
Open: {report_url}
Acknowledge (inbox): {inbox_url}

This e-mail carries no personal data; sign in to see the household.
"""
    return subject, body


def email_alert(account_ids: list[int], report: CheckReport, *, escalated: bool) -> None:
    """Queue the alert e-mail to those of the accounts that have a work address."""
    if not email_enabled() or not account_ids:
        return
    accounts = accounts_by_id(account_ids)
    subject, body = compose(report, escalated=escalated)
    for account_id in sorted(accounts):
        if accounts[account_id].email is not None:
            enqueue_email(account_id, subject, body)
