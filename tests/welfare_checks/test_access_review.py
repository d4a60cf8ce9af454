"""The monthly access-log review: findings by rule, one review per month, and its API."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from core.audit import AccessLog
from core.auth.models import Account, PermissionEvent
from core.auth.roles import Role
from core.clock import SEOUL, seoul_today
from core.db import db
from core.outbox import MAINTENANCE, deliver_due
from core.scheduler import ask_for
from tests.support.factories import World, make_municipality
from welfare_checks import access_review
from welfare_checks.models import AccessReview
from welfare_checks.scheduled import ACCESS_REVIEWS

API = "/api/v1"
MONTH = date(2026, 10, 1)  # 1 Oct is a Thursday; 9 Oct (한글날) a public holiday
THRESHOLD = 10


def kst(day: int, hour: int, minute: int = 0, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SEOUL)


@dataclass
class Scene:
    """Whose accesses a case writes: the social worker of tenant a, or of tenant b."""

    world: World

    @property
    def account(self) -> Account:
        return self.world.a.accounts[Role.SOCIAL_WORKER]


Step = Callable[[Scene], None]


def access(
    at: datetime,
    action: str = "read",
    households: range | tuple = (1,),
    subject_type: str = "household",
    detail: str | None = None,
    elsewhere: bool = False,
) -> Step:
    """Access-log rows as record_access writes them: one per household, at one instant."""

    def step(scene: Scene) -> None:
        tenant = scene.world.b if elsewhere else scene.world.a
        db.session.execute(
            sa.insert(AccessLog),
            [
                {
                    "at": at,
                    "account_id": scene.account.id,
                    "action": action,
                    "subject_type": subject_type,
                    "subject_id": household,
                    "municipality_id": tenant.municipality.id,
                    "detail": detail,
                }
                for household in households
            ],
        )

    return step


def permission(at: datetime, action: str, old_role: str, new_role: str | None) -> Step:
    def step(scene: Scene) -> None:
        scope = f"municipality:{scene.world.a.municipality.id}"
        db.session.add(
            PermissionEvent(
                at=at,
                account_id=scene.account.id,
                action=action,
                old_role=old_role,
                old_scope=scope,
                new_role=new_role,
                new_scope=scope if new_role else None,
            )
        )

    return step


def locked(at: datetime) -> Step:
    def step(scene: Scene) -> None:
        scene.account.locked_until = at + timedelta(minutes=15)  # LOGIN_LOCKOUT_MINUTES

    return step


OFF = "off_hours"
CASES: dict[str, tuple[list[Step], set[tuple[str, str | None, int | None]]]] = {
    "a weekday at 10:00": ([access(kst(13, 10), households=range(5))], set()),
    "06:59 is before working hours": ([access(kst(13, 6, 59))], {(OFF, None, 1)}),
    "07:00 is inside": ([access(kst(13, 7, 0))], set()),
    "20:59 is inside": ([access(kst(13, 20, 59))], set()),
    "21:00 is after": ([access(kst(13, 21, 0), households=(1, 2))], {(OFF, None, 2)}),
    "a Saturday": ([access(kst(17, 14))], {(OFF, None, 1)}),
    "한글날, a public holiday": ([access(kst(9, 10))], {(OFF, None, 1)}),
    "a substitute holiday": ([access(kst(5, 10))], {(OFF, None, 1)}),
    "Seoul months: 30 Sep 23:30 and 1 Nov 00:30 are not October, 31 Oct 23:30 is": (
        [
            access(kst(30, 23, 30, month=9)),
            access(kst(1, 0, 30, month=11)),
            access(kst(31, 23, 30), households=(7,)),
        ],
        {(OFF, None, 1)},  # 31 Oct 2026 is a Saturday
    ),
    "bulk: 11 households in a day": (
        [access(kst(13, 10), households=range(11))],
        {("bulk_read", "2026-10-13", 11)},
    ),
    "bulk: 10 households is the threshold, not above it": (
        [access(kst(13, 10), households=range(10))],
        set(),
    ),
    "bulk: two lists in a day count distinct households": (
        [access(kst(13, 9), "list", range(6)), access(kst(13, 15), "view", range(5, 11))],
        {("bulk_read", "2026-10-13", 11)},
    ),
    "bulk: the same households read again are not more": (
        [access(kst(13, 9), households=range(8)), access(kst(13, 15), households=range(8))],
        set(),
    ),
    "bulk: spread over two days": (
        [access(kst(13, 10), households=range(6)), access(kst(14, 10), households=range(6, 12))],
        set(),
    ),
    "bulk: writes are not reads": ([access(kst(13, 10), "import", range(50))], set()),
    "an export of households, with its reason": (
        [access(kst(13, 10), "export", range(3), detail="cases 2026-10-01..2026-10-12: 회의")],
        {("export", "2026-10-13T10:00:00+09:00", 3)},
    ),
    "letters printed at night": (
        [access(kst(13, 22), "print", range(2), detail="mailing 4 preview")],
        {("export", "2026-10-13T22:00:00+09:00", 2), (OFF, None, 2)},
    ),
    "an export of statistics holds no household": (
        [access(kst(13, 10), "export", (None,), "statistics", "statistics: 월간 보고")],
        set(),
    ),
    "another municipality's data": ([access(kst(17, 23), elsewhere=True)], set()),
    "disabled during the month after accessing": (
        [
            access(kst(13, 10), households=(1, 2)),
            permission(kst(14, 9), "disable", "social_worker", None),
        ],
        {("access_changed", "2026-10-14T09:00:00+09:00", 2)},
    ),
    "role changed during the month": (
        [access(kst(13, 10)), permission(kst(2, 9), "change", "social_worker", "auditor")],
        {("access_changed", "2026-10-02T09:00:00+09:00", 1)},
    ),
    "disabled without accessing anything": (
        [permission(kst(14, 9), "disable", "social_worker", None)],
        set(),
    ),
    "disabled in September": (
        [access(kst(13, 10)), permission(kst(14, 9, month=9), "disable", "social_worker", None)],
        set(),
    ),
    "locked after failed sign-ins": (
        [locked(kst(20, 11))],
        {("lockout", "2026-10-20T11:00:00+09:00", None)},
    ),
    "locked in November": ([locked(kst(2, 11, month=11))], set()),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_findings_follow_the_rules(ctx, world, app, monkeypatch, case):
    """Table: a seeded access log -> exactly the findings expected for the acting account."""
    monkeypatch.setitem(app.config, "ACCESS_REVIEW_BULK_HOUSEHOLDS_PER_DAY", THRESHOLD)
    steps, expected = CASES[case]
    scene = Scene(world)
    for step in steps:
        step(scene)
    db.session.flush()
    summary = access_review.build_summary(world.a.municipality.id, MONTH)
    found = {
        (f["rule"], f["when"], f["count"])
        for f in summary["findings"]
        if f["account_id"] == scene.account.id
    }
    assert found == expected
    assert all(f["label"] == access_review.RULES[f["rule"]] for f in summary["findings"])


def test_the_summary_counts_per_account(ctx, world, app, monkeypatch):
    """Accesses by action, distinct households, exports with their reasons, the busiest day."""
    monkeypatch.setitem(app.config, "ACCESS_REVIEW_BULK_HOUSEHOLDS_PER_DAY", THRESHOLD)
    scene = Scene(world)
    for step in (
        access(kst(13, 10), "view", (1, 2, 3)),
        access(kst(13, 11), "read", (3, 4)),
        access(kst(14, 10), "list", range(1, 9)),
        access(kst(14, 16), "export", (1, 2), detail="cases: 사례회의 자료"),
        access(kst(15, 10), "update", (5,)),
    ):
        step(scene)
    db.session.flush()
    summary = access_review.build_summary(world.a.municipality.id, MONTH)
    (entry,) = summary["accounts"]
    assert entry["username"] == scene.account.username
    assert entry["role"] == "social_worker" and entry["active"] is True
    assert entry["actions"] == {"view": 3, "read": 2, "list": 8, "export": 2, "update": 1}
    assert entry["accesses"] == 16
    assert entry["households"] == 8
    assert (entry["busiest_day"], entry["busiest_day_households"]) == ("2026-10-14", 8)
    assert entry["exports"] == [
        {
            "at": "2026-10-14T16:00:00+09:00",
            "action": "export",
            "subject_type": "household",
            "subjects": 2,
            "detail": "cases: 사례회의 자료",
        }
    ]
    assert summary["totals"] == {
        "accesses": 16,
        "accounts": 1,
        "households": 8,
        "exports": 1,
        "off_hours": 0,
    }
    assert summary["month"] == "2026-10"
    assert summary["rules"]["working_hours"] == "07:00-21:00"


def test_a_review_is_made_once_per_municipality_and_month(ctx, world, monkeypatch):
    """Twice, or racing another run (the unique row caught in a savepoint): one review."""
    municipality = world.a.municipality.id
    first = access_review.create_review(municipality, MONTH)
    db.session.flush()
    assert access_review.create_review(municipality, date(2026, 10, 17)).id == first.id
    real = access_review._stored
    calls = []

    def not_seen_at_first(*args):
        calls.append(args)
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(access_review, "_stored", not_seen_at_first)
    assert access_review.create_review(municipality, MONTH).id == first.id
    assert len(calls) == 2  # the insert hit the unique constraint; the stored one came back
    count = sa.select(sa.func.count()).select_from(AccessReview)
    assert db.session.scalar(count.where(AccessReview.municipality_id == municipality)) == 1


def test_the_daily_job_catches_up_on_last_month(ctx, world):
    """Every municipality that existed last month gets its review, once, whenever the job runs."""
    month = access_review.previous_month(seoul_today())
    old = make_municipality(created_at=datetime(2020, 1, 1, tzinfo=SEOUL))
    for _ in range(2):  # the scheduler asks, the maintenance worker runs it
        assert ask_for(ACCESS_REVIEWS)
        assert deliver_due(queues=(MAINTENANCE,)).sent == 1
    reviews = db.session.scalars(sa.select(AccessReview).where(AccessReview.month == month)).all()
    by_municipality = [review.municipality_id for review in reviews]
    assert by_municipality.count(old.id) == 1
    assert world.a.municipality.id not in by_municipality  # created this month
    assert access_review.missing_reviews(month) == []


# --- API ---------------------------------------------------------------------------------------


@pytest.fixture
def review(client, world):
    """This month's review of tenant a, after a household was created, read and exported."""
    social = world.a.headers(Role.SOCIAL_WORKER)
    household = {
        "name": "검토대상 홍길동",
        "road_address": "서울특별시 점검구 비밀로 7",
        "phone": "010-9876-5432",
    }
    created = client.post(f"{API}/households", json=household, headers=social)
    assert created.status_code == 201, created.json
    assert client.get(f"{API}/households/{created.json['id']}", headers=social).status_code == 200
    today = seoul_today().isoformat()
    export = {"kind": "statistics", "from": today, "to": today, "reason": "월간 보고 자료"}
    assert client.post(f"{API}/exports", json=export, headers=social).status_code == 200
    access(datetime.now(SEOUL), "export", (9,), detail='=HYPERLINK("http://x")')(Scene(world))
    made = access_review.create_review(world.a.municipality.id, seoul_today())
    db.session.commit()  # the test's SAVEPOINT: the requests see it
    return {"id": made.id, "household": household}


def test_reviewers_list_and_read_their_municipality_s_reviews(client, world, review):
    for role in access_review.REVIEWERS:
        headers = world.a.headers(role)
        page = client.get(f"{API}/access-reviews", headers=headers)
        assert page.status_code == 200
        assert [item["id"] for item in page.json["items"]] == [review["id"]]
        assert page.json["items"][0]["month"] == seoul_today().strftime("%Y-%m")
        detail = client.get(f"{API}/access-reviews/{review['id']}", headers=headers)
        assert detail.status_code == 200
    body = detail.json
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    entry = next(a for a in body["accounts"] if a["account_id"] == worker.id)
    assert entry["username"] == worker.username
    assert entry["households"] == 2  # the one created and read, and the exported one
    assert {"view", "create", "export"} <= set(entry["actions"])
    assert [e["detail"] for e in entry["exports"] if e["subject_type"] == "statistics"] == [
        f"statistics {seoul_today()}..{seoul_today()}: 월간 보고 자료"
    ]
    assert body["findings_count"] == len(body["findings"]) >= 1
    text = json.dumps(body, ensure_ascii=False)
    for value in review["household"].values():
        assert value not in text  # households only as counts


def test_other_roles_are_refused_and_other_municipalities_see_nothing(client, world, review):
    path = f"{API}/access-reviews/{review['id']}"
    social = world.a.headers(Role.SOCIAL_WORKER)
    assert client.get(f"{API}/access-reviews", headers=social).status_code == 403
    assert client.get(path, headers=social).status_code == 403
    for role in (Role.DISPATCHER, Role.CARRIER):
        assert client.get(f"{API}/access-reviews", headers=world.a.headers(role)).status_code == 403
        assert client.get(path, headers=world.a.headers(role)).status_code == 404
    assert client.get(path, headers=world.admin_headers()).status_code == 404
    for role in access_review.REVIEWERS:
        headers = world.b.headers(role)
        assert client.get(f"{API}/access-reviews", headers=headers).json["items"] == []
        for suffix in ("", "/review.csv", "/review.xlsx"):
            assert client.get(path + suffix, headers=headers).status_code == 404
        check = client.post(f"{path}/check", json={"note": "남의 것"}, headers=headers)
        assert check.status_code == 404


def test_a_reviewer_marks_the_review_checked_once(client, world, review):
    auditor = world.a.accounts[Role.AUDITOR]
    path = f"{API}/access-reviews/{review['id']}"
    note = "야간 출력 건은 담당자 면담으로 확인함"
    answer = client.post(
        f"{path}/check", json={"note": note}, headers=world.a.headers(Role.AUDITOR)
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["checked_by"] == auditor.id and answer.json["checked_at"]
    detail = client.get(path, headers=world.a.headers(Role.MUNICIPAL_ADMIN)).json
    assert detail["check_note"] == note
    again = client.post(
        f"{path}/check", json={"note": "다시"}, headers=world.a.headers(Role.MUNICIPAL_ADMIN)
    )
    assert again.status_code == 409
    stored = db.session.execute(
        sa.text("SELECT check_note FROM access_log_reviews WHERE id = :id"), {"id": review["id"]}
    ).scalar()
    assert note not in stored  # the note is stored encrypted
    social = client.post(
        f"{path}/check", json={"note": "점검"}, headers=world.a.headers(Role.SOCIAL_WORKER)
    )
    assert social.status_code == 403


def _downloads(account_id: int) -> list[AccessLog]:
    return db.session.scalars(
        sa.select(AccessLog).where(
            AccessLog.account_id == account_id, AccessLog.subject_type == "access_review"
        )
    ).all()


def test_the_review_downloads_as_csv_and_xlsx_formula_safe_and_logged(client, world, review):
    admin = world.a.accounts[Role.MUNICIPAL_ADMIN]
    headers = world.a.headers(Role.MUNICIPAL_ADMIN)
    path = f"{API}/access-reviews/{review['id']}"
    answer = client.get(f"{path}/review.csv", headers=headers)
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    text = answer.data.decode("utf-8")
    assert text.startswith("\ufeff")
    cells = [cell for row in csv.reader(io.StringIO(text[1:])) for cell in row]
    assert "발견 사항 (findings)" in cells
    assert '\'=HYPERLINK("http://x")' in cells
    assert not any(cell.startswith("=") for cell in cells)
    book = client.get(f"{path}/review.xlsx", headers=headers)
    assert book.status_code == 200
    assert book.mimetype == access_review.XLSX
    workbook = load_workbook(io.BytesIO(book.data))
    assert workbook.sheetnames[:2] == ["개요 (summary)", "발견 사항 (findings)"]
    values = [c for sheet in workbook for row in sheet.iter_rows(values_only=True) for c in row]
    assert '\'=HYPERLINK("http://x")' in values
    assert not any(isinstance(value, str) and value.startswith("=") for value in values)
    logged = _downloads(admin.id)
    assert [(row.action, row.subject_id, row.detail.split()[-1]) for row in logged] == [
        ("download", review["id"], "csv"),
        ("download", review["id"], "xlsx"),
    ]
    assert all(row.municipality_id == world.a.municipality.id for row in logged)
