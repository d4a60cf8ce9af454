"""The monthly review of the access log (개인정보 접속기록 점검; 안전성 확보조치 기준 제8조).

For one municipality and one calendar month (Seoul), who touched its personal data and how: per
account the accesses by action, the distinct households, the exports, downloads and prints with
their stated reasons, the accesses outside working hours (early, late, weekends, public
holidays), and changes to the account's access in the month. Clear rules (RULES) turn these
into findings for the reviewer. Households appear only as counts, staff by username. A review
is stored once per municipality and month, so the daily job that makes it is idempotent.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from openpyxl import Workbook
from sqlalchemy.exc import IntegrityError

from core.audit import AccessLog, record_access
from core.auth.directory import account_by_id, accounts_by_id, locked_out
from core.auth.principal import Principal
from core.auth.roles import Role
from core.auth.services import permission_changes
from core.clock import SEOUL, is_working_day
from core.db import db, utcnow
from core.errors import Conflict, Forbidden, NotFound
from municipalities.services import municipalities_created_before
from welfare_checks.models import AccessReview
from welfare_checks.statistics import safe_cell

REVIEWERS = (Role.MUNICIPAL_ADMIN, Role.AUDITOR)
READ_ACTIONS = ("view", "read", "list")
EXPORT_ACTIONS = ("export", "download", "print")
#: Permission events that change or take away access (grants and re-enabling are not findings).
ACCESS_CHANGES = ("change", "disable", "revoke")
RULES = {
    "bulk_read": "하루 대량 열람 (many households read in one day)",
    "export": "세대 정보 반출 (household data exported, downloaded or printed)",
    "off_hours": "근무시간 외 접근 (access outside working hours)",
    "access_changed": "권한 변경·회수 계정의 접근 (access by an account changed or disabled)",
    "lockout": "로그인 실패 잠금 (account locked after failed sign-ins)",
}
SYSTEM = "(시스템 작업) (system job)"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The first instant of the month and of the next one, in Seoul."""
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return (
        datetime.combine(first, time(), tzinfo=SEOUL),
        datetime.combine(following, time(), tzinfo=SEOUL),
    )


def previous_month(today: date) -> date:
    """The first day of the month before today's."""
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def _off_hours(local: datetime) -> bool:
    config = current_app.config
    start, end = config["ACCESS_REVIEW_DAY_START_HOUR"], config["ACCESS_REVIEW_DAY_END_HOUR"]
    return not is_working_day(local.date()) or not start <= local.hour < end


def _new_entry() -> dict[str, Any]:
    return {
        "accesses": 0,
        "actions": {},
        "households": 0,
        "busiest_day": None,
        "busiest_day_households": 0,
        "off_hours": 0,
        "off_hours_days": 0,
        "exports": [],
        "access_changes": [],
    }


def build_summary(municipality_id: int, month: date) -> dict[str, Any]:
    """One municipality's access log for one month, per account, with the findings."""
    config = current_app.config
    start, end = month_bounds(month)
    in_month = sa.and_(
        AccessLog.municipality_id == municipality_id, AccessLog.at >= start, AccessLog.at < end
    )
    households = sa.and_(in_month, AccessLog.subject_type == "household")
    entries = _tally(in_month)
    distinct = sa.func.count(sa.distinct(AccessLog.subject_id))
    for account_id, count in db.session.execute(
        sa.select(AccessLog.account_id, distinct).where(households).group_by(AccessLog.account_id)
    ):
        entries[account_id]["households"] = count
    daily = _households_read_per_day(households)
    for (account_id, day), count in daily.items():
        entry = entries[account_id]
        if count > entry["busiest_day_households"]:
            entry["busiest_day"], entry["busiest_day_households"] = day.isoformat(), count
    # Changes of the municipality's accounts or of any account that accessed its data (a
    # carrier's, say).
    accessing = [a for a in entries if a is not None]
    for event in permission_changes(municipality_id, start, end, ACCESS_CHANGES, accessing):
        entries[event.account_id]["access_changes"].append(
            {
                "at": event.at.astimezone(SEOUL).isoformat(),
                "action": event.action,
                "old_role": event.old_role,
                "new_role": event.new_role,
            }
        )
    lockouts = locked_out(municipality_id, start, end)
    for account_id, _ in lockouts:
        entries.setdefault(account_id, _new_entry())  # listed even without accesses
    accounts = _describe(entries)
    return {
        "month": start.strftime("%Y-%m"),
        "rules": {
            "bulk_households_per_day": config["ACCESS_REVIEW_BULK_HOUSEHOLDS_PER_DAY"],
            "working_hours": f"{config['ACCESS_REVIEW_DAY_START_HOUR']:02d}:00-"
            f"{config['ACCESS_REVIEW_DAY_END_HOUR']:02d}:00",
            "off_days": "토·일·공휴일 (weekends and public holidays)",
        },
        "totals": {
            "accesses": sum(a["accesses"] for a in accounts),
            "accounts": sum(1 for a in accounts if a["accesses"]),
            "households": db.session.scalar(sa.select(distinct).where(households)) or 0,
            "exports": sum(len(a["exports"]) for a in accounts),
            "off_hours": sum(a["off_hours"] for a in accounts),
        },
        "accounts": accounts,
        "findings": _findings(accounts, daily, lockouts),
    }


def _tally(in_month: sa.ColumnElement) -> dict[int | None, dict[str, Any]]:
    """Per account: accesses by action, off-hours accesses and days, exports."""
    entries: dict[int | None, dict[str, Any]] = defaultdict(_new_entry)
    off_days: dict[int | None, set[date]] = defaultdict(set)
    columns = (
        AccessLog.account_id,
        AccessLog.at,
        AccessLog.action,
        AccessLog.subject_type,
        AccessLog.detail,
    )
    # One row per record_access call: an export of 300 households is one event counting 300.
    events = db.session.execute(
        sa.select(*columns, sa.func.count())
        .where(in_month)
        .group_by(*columns)
        .order_by(AccessLog.at)
    )
    for account_id, at, action, subject_type, detail, count in events:
        entry, local = entries[account_id], at.astimezone(SEOUL)
        entry["accesses"] += count
        entry["actions"][action] = entry["actions"].get(action, 0) + count
        if _off_hours(local):
            entry["off_hours"] += count
            off_days[account_id].add(local.date())
        if action in EXPORT_ACTIONS:
            entry["exports"].append(
                {
                    "at": local.isoformat(),
                    "action": action,
                    "subject_type": subject_type,
                    "subjects": count,
                    "detail": detail,
                }
            )
    for account_id, days in off_days.items():
        entries[account_id]["off_hours_days"] = len(days)
    return entries


def _households_read_per_day(households: sa.ColumnElement) -> dict[tuple[int | None, date], int]:
    """Distinct households each account read on each Seoul day."""
    read: dict[tuple[int | None, date], set[int]] = defaultdict(set)
    rows = db.session.execute(
        sa.select(AccessLog.account_id, AccessLog.at, AccessLog.subject_id)
        .where(households, AccessLog.action.in_(READ_ACTIONS))
        .execution_options(yield_per=10_000)  # a month can hold millions of rows
    )
    for account_id, at, subject_id in rows:
        read[(account_id, at.astimezone(SEOUL).date())].add(subject_id)
    return {key: len(ids) for key, ids in read.items()}


def _describe(entries: dict[int | None, dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries with who each account is, busiest first."""
    people = accounts_by_id(account_id for account_id in entries if account_id is not None)
    described = []
    for account_id, entry in entries.items():
        person = people.get(account_id)
        described.append(
            {
                "account_id": account_id,
                "username": person.username if person else SYSTEM,
                "display_name": person.display_name if person else SYSTEM,
                "role": person.role if person else None,
                "active": person.is_active if person else True,
                **entry,
            }
        )
    described.sort(key=lambda a: (-a["accesses"], a["account_id"] or 0))
    return described


def _finding(
    rule: str, account: dict[str, Any], when: str | None, count: int | None, detail: str | None
) -> dict[str, Any]:
    return {
        "rule": rule,
        "label": RULES[rule],
        "account_id": account["account_id"],
        "username": account["username"],
        "when": when,
        "count": count,
        "detail": detail,
    }


def _findings(
    accounts: list[dict[str, Any]],
    daily: dict[tuple[int | None, date], int],
    lockouts: list[tuple[int, datetime]],
) -> list[dict[str, Any]]:
    """What the reviewer must look into, by the rules in RULES."""
    threshold = current_app.config["ACCESS_REVIEW_BULK_HOUSEHOLDS_PER_DAY"]
    bulk: dict[int | None, list[tuple[date, int]]] = defaultdict(list)
    for (account_id, day), count in sorted(daily.items(), key=lambda item: item[0][1]):
        if count > threshold:
            bulk[account_id].append((day, count))
    locked = dict(lockouts)
    findings = []
    for account in accounts:
        account_id = account["account_id"]
        findings += [
            _finding("bulk_read", account, day.isoformat(), count, f"기준 {threshold}세대")
            for day, count in bulk[account_id]
        ]
        findings += [
            _finding("export", account, e["at"], e["subjects"], f"{e['action']}: {e['detail']}")
            for e in account["exports"]
            if e["subject_type"] == "household"
        ]
        if account["off_hours"]:
            days = f"{account['off_hours_days']}일 (days)"
            findings.append(_finding("off_hours", account, None, account["off_hours"], days))
        if account["access_changes"] and account["accesses"]:
            first = account["access_changes"][0]
            what = ", ".join(change["action"] for change in account["access_changes"])
            findings.append(
                _finding("access_changed", account, first["at"], account["accesses"], what)
            )
        if account_id in locked:
            at = locked[account_id].astimezone(SEOUL).isoformat()
            findings.append(_finding("lockout", account, at, None, None))
    return findings


def _stored(municipality_id: int, month: date) -> AccessReview | None:
    return db.session.scalar(
        sa.select(AccessReview).where(
            AccessReview.municipality_id == municipality_id, AccessReview.month == month
        )
    )


def create_review(municipality_id: int, month: date) -> AccessReview:
    """The municipality's review of the month, made if missing (made twice: still one)."""
    month = month.replace(day=1)
    existing = _stored(municipality_id, month)
    if existing is not None:
        return existing
    summary = build_summary(municipality_id, month)
    review = AccessReview(
        municipality_id=municipality_id,
        month=month,
        summary=summary,
        findings_count=len(summary["findings"]),
    )
    try:
        with db.session.begin_nested():  # another scheduler run may store it meanwhile
            db.session.add(review)
    except IntegrityError:
        return _stored(municipality_id, month)
    return review


def missing_reviews(month: date) -> list[int]:
    """Municipalities that existed in the month and have no review of it yet."""
    _, end = month_bounds(month)
    done = set(
        db.session.scalars(
            sa.select(AccessReview.municipality_id).where(AccessReview.month == month)
        )
    )
    return [m for m in municipalities_created_before(end) if m not in done]


def reviews_visible_to(principal: Principal) -> sa.Select:
    """The reviews of a reviewer's municipality, newest month first."""
    if principal.role not in REVIEWERS or principal.municipality_id is None:
        raise Forbidden()
    return (
        sa.select(AccessReview)
        .where(AccessReview.municipality_id == principal.municipality_id)
        .order_by(AccessReview.month.desc())
    )


def get_review(principal: Principal, review_id: int) -> AccessReview:
    """One review: another municipality's is a 404, a non-reviewer of this one gets 403."""
    review = db.session.get(AccessReview, review_id)
    if review is None or review.municipality_id != principal.municipality_id:
        raise NotFound()
    if principal.role not in REVIEWERS:
        raise Forbidden()
    return review


def mark_checked(principal: Principal, review_id: int, note: str) -> AccessReview:
    """Record that the reviewer checked the review, when, and their note (once)."""
    review = get_review(principal, review_id)
    checked = db.session.execute(
        sa.update(AccessReview)
        .where(AccessReview.id == review.id, AccessReview.checked_at.is_(None))
        .values(checked_at=utcnow(), checked_by=principal.account_id, check_note=note)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not checked:
        raise Conflict("이미 점검을 마친 보고서입니다. (This review was already checked.)")
    db.session.refresh(review)
    return review


def review_file(principal: Principal, review_id: int, kind: str) -> tuple[bytes, str, str]:
    """The review as a CSV or XLSX file (bytes, media type, name); the download is logged."""
    review = get_review(principal, review_id)
    month = review.month.strftime("%Y-%m")
    record_access(
        principal.account_id,
        "download",
        "access_review",
        [review.id],
        review.municipality_id,
        f"access review {month} {kind}",
    )
    sheets = {
        title: [[safe_cell(cell) for cell in row] for row in rows]
        for title, rows in _sheets(review).items()
    }
    name = f"access-review-{month}.{kind}"
    if kind == "xlsx":
        book = Workbook()
        book.remove(book.active)
        for title, rows in sheets.items():
            sheet = book.create_sheet(title)
            for row in rows:
                sheet.append(row)
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue(), XLSX, name
    text = io.StringIO()
    writer = csv.writer(text)
    for title, rows in sheets.items():
        writer.writerows([[title], *rows, []])
    # UTF-8 with BOM, so Excel reads the Korean.
    return ("\ufeff" + text.getvalue()).encode("utf-8"), "text/csv", name


def _seoul(at: datetime | None) -> str | None:
    return at.astimezone(SEOUL).isoformat() if at else None


def _sheets(review: AccessReview) -> dict[str, list[list[Any]]]:
    """The review as tables: summary, findings, accounts, exports, access changes."""
    summary, rules = review.summary, review.summary["rules"]
    checker = account_by_id(review.checked_by) if review.checked_by else None
    accounts = summary["accounts"]
    return {
        "개요 (summary)": [
            ["항목 (item)", "값 (value)"],
            ["점검 월 (month)", summary["month"]],
            ["작성 (generated)", _seoul(review.generated_at)],
            *[[f"합계 (total) {key}", value] for key, value in summary["totals"].items()],
            ["발견 사항 (findings)", review.findings_count],
            ["대량 열람 기준 (households per day)", rules["bulk_households_per_day"]],
            ["근무시간 (working hours)", rules["working_hours"]],
            ["근무시간 외 요일 (off days)", rules["off_days"]],
            ["점검 완료 (checked at)", _seoul(review.checked_at)],
            ["점검자 (checked by)", checker.username if checker else None],
            ["점검 메모 (note)", review.check_note],
        ],
        "발견 사항 (findings)": [
            ["규칙 (rule)", "내용 (label)", "계정 (account)", "일시 (when)", "건수 (count)",
             "상세 (detail)"],
            *[[f["rule"], f["label"], f["username"], f["when"], f["count"], f["detail"]]
              for f in summary["findings"]],
        ],
        "계정별 (accounts)": [
            ["계정 ID (account id)", "아이디 (username)", "이름 (name)", "역할 (role)",
             "활성 (active)", "접근 (accesses)", "세대 수 (households)",
             "최다 열람일 (busiest day)", "그날 세대 수 (households that day)",
             "근무시간 외 (off-hours)", "반출 (exports)", "행위별 (by action)"],
            *[[a["account_id"], a["username"], a["display_name"], a["role"], a["active"],
               a["accesses"], a["households"], a["busiest_day"], a["busiest_day_households"],
               a["off_hours"], len(a["exports"]),
               "; ".join(f"{k}={v}" for k, v in sorted(a["actions"].items()))]
              for a in accounts],
        ],
        "반출 (exports)": [
            ["일시 (at)", "아이디 (username)", "행위 (action)", "대상 (subject)",
             "건수 (count)", "사유·상세 (reason)"],
            *[[e["at"], a["username"], e["action"], e["subject_type"], e["subjects"], e["detail"]]
              for a in accounts for e in a["exports"]],
        ],
        "권한 변경 (access changes)": [
            ["일시 (at)", "아이디 (username)", "변경 (action)", "이전 역할 (old role)",
             "새 역할 (new role)"],
            *[[c["at"], a["username"], c["action"], c["old_role"], c["new_role"]]
              for a in accounts for c in a["access_changes"]],
        ],
    }  # fmt: skip
