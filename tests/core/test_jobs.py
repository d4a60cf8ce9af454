"""Imports through the API are jobs: progress, result, refusal, a dying worker, tenancy, file."""

from __future__ import annotations

import io
import zlib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core import jobs
from core.audit import AccessLog
from core.auth.roles import Role
from core.crypto import decrypt_bytes
from core.db import db, utcnow
from core.errors import NotFound
from core.outbox import Message, deliver_due
from municipalities import household_import
from municipalities.mail.registered_numbers import make_number
from municipalities.models import Household
from tests.routing.test_planning import DAY
from tests.support.household_file_builders import bad_cp949_file, to_csv, valid_rows
from tests.support.jobs import finished, result_of, started
from welfare_checks.retention import purge

IMPORTS = "/api/v1/households/imports"
NOT_FOUND = {"error": {"code": "not_found", "message": NotFound.message, "fields": {}}}


def upload(client, tenant, data: bytes, *, dry_run: bool = False, role=Role.SOCIAL_WORKER):
    return client.post(
        f"{IMPORTS}?dry_run={'true' if dry_run else 'false'}",
        data={"file": (io.BytesIO(data), "가구.csv")},
        content_type="multipart/form-data",
        headers=tenant.headers(role),
    )


def upload_items(client, tenant, text: str):
    db.session.commit()  # the test's SAVEPOINT only: the request must see the world
    return client.post(
        f"/api/v1/offices/{tenant.office.id}/items/imports?day={DAY.isoformat()}",
        data={"file": (io.BytesIO(text.encode()), "items.csv")},
        content_type="multipart/form-data",
        headers=tenant.headers(Role.DISPATCHER),
    )


def households(municipality_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(Household.id)).where(Household.municipality_id == municipality_id)
    )


def imports_logged() -> int:
    return db.session.scalar(
        sa.select(sa.func.count(AccessLog.id)).where(AccessLog.action == "import")
    )


def stored(job_id: int, column: str) -> str | None:
    """A jobs column as the database holds it (the ciphertext of an encrypted one)."""
    return db.session.execute(
        sa.text(f"SELECT {column} FROM jobs WHERE id = :id"), {"id": job_id}
    ).scalar_one()


# --- progress and result -----------------------------------------------------------------------


def test_a_job_reports_its_phases_with_counts_then_its_result(client, world, monkeypatch):
    monkeypatch.setattr(jobs, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr("core.spreadsheets.PROGRESS_ROWS", 5)
    headers = world.a.headers(Role.SOCIAL_WORKER)
    rows = valid_rows(12, seed=5)
    location = started(upload(client, world.a, to_csv(rows)))
    assert client.get(location, headers=headers).json["progress"] == {
        "phase": None,
        "done": 0,
        "total": None,
    }
    seen: list[tuple[str, dict]] = []
    report = jobs.RunningJob.progress

    def watched(self, phase, done=0, total=None):
        report(self, phase, done, total)
        # What a page polling the job sees, while the job runs: the report is committed.
        job = client.get(location, headers=headers).json
        seen.append((job["status"], job["progress"]))

    monkeypatch.setattr(jobs.RunningJob, "progress", watched)
    assert deliver_due().sent == 1

    assert {status for status, _ in seen} == {"running"}
    phases = [progress["phase"] for _, progress in seen]
    assert phases == sorted(phases, key=["parse", "validate", "write"].index)
    assert set(phases) == {"parse", "validate", "write"}
    validated = [p for _, p in seen if p["phase"] == "validate"]
    assert [(p["done"], p["total"]) for p in validated] == [(0, 12), (5, 12), (10, 12), (12, 12)]
    assert seen[-1][1] == {"phase": "write", "done": 0, "total": 12}
    job = client.get(location, headers=headers).json
    assert job["status"] == "done" and job["error"] is None
    assert job["result"]["created"] == 12 and job["result"]["accepted"] is True
    assert job["started_at"] and job["finished_at"] >= job["started_at"] >= job["created_at"]
    assert households(world.a.municipality.id) == 12


def test_a_big_dry_run_is_a_job_whose_result_is_the_report(client, world, monkeypatch):
    monkeypatch.setattr(household_import, "INLINE_DRY_RUN_BYTES", {"csv": 100, "xlsx": 100})
    data, expected = bad_cp949_file()

    report = result_of(
        client, upload(client, world.a, data, dry_run=True), world.a.headers(Role.SOCIAL_WORKER)
    )

    assert report["dry_run"] is True and report["accepted"] is False
    assert {problem["row"] for problem in report["errors"]} == set(expected)
    small = upload(client, world.a, to_csv(valid_rows(2)), dry_run=True)
    assert small.status_code == 202  # over 100 bytes too
    assert households(world.a.municipality.id) == 0


# --- refusal: nothing applied ------------------------------------------------------------------


def test_a_refused_file_fails_its_job_with_the_row_report_and_applies_nothing(client, world):
    data, expected = bad_cp949_file()
    response = upload(client, world.a, data)
    job_id = response.json["id"]

    job = finished(client, response, world.a.headers(Role.SOCIAL_WORKER))

    assert job["status"] == "failed"
    assert job["error"]["code"] == "import_refused"
    assert "아무것도 가져오지 않았습니다" in job["error"]["message"]
    assert {problem["row"] for problem in job["error"]["fields"]["rows"]} == set(expected)
    assert job["result"]["errors"] == job["error"]["fields"]["rows"]
    assert households(world.a.municipality.id) == 0 and imports_logged() == 0
    assert stored(job_id, "file") is None


# --- a worker that dies ------------------------------------------------------------------------


def test_a_job_dying_while_it_writes_applies_nothing_and_succeeds_once_on_retry(
    client, world, monkeypatch
):
    rows = valid_rows(7, seed=8)
    headers = world.a.headers(Role.SOCIAL_WORKER)
    location = started(upload(client, world.a, to_csv(rows)))
    logging = household_import.record_access

    def dies(*args, **kwargs):
        logging(*args, **kwargs)  # the households are inserted, the log half written
        raise RuntimeError("the worker died mid-write")

    monkeypatch.setattr(household_import, "record_access", dies)
    first = deliver_due()

    assert (first.sent, first.retried) == (0, 1)
    assert households(world.a.municipality.id) == 0 and imports_logged() == 0
    job = client.get(location, headers=headers).json
    assert job["status"] == "queued" and job["progress"]["phase"] == "retry"

    monkeypatch.setattr(household_import, "record_access", logging)
    later = utcnow() + timedelta(hours=2)  # past the outbox's backoff
    assert deliver_due(now=later).sent == 1
    assert deliver_due(now=later + timedelta(hours=2)).sent == 0

    job = client.get(location, headers=headers).json
    assert job["status"] == "done" and job["result"]["created"] == 7
    assert households(world.a.municipality.id) == 7 and imports_logged() == 7
    # The same message once more (a broker delivering twice): a finished job is left alone.
    household_import.run_import_job(
        Message(0, household_import.KIND, job["id"], {"job": job["id"]}, 9)
    )
    assert households(world.a.municipality.id) == 7 and imports_logged() == 7


def test_a_job_left_running_by_a_dead_worker_starts_again(client, world):
    response = upload(client, world.a, to_csv(valid_rows(3, seed=4)))
    job_id = response.json["id"]
    jobs._begin(job_id)  # the worker that took it died before it got any further
    assert db.session.get(jobs.Job, job_id).status == "running"

    job = finished(client, response, world.a.headers(Role.SOCIAL_WORKER))

    assert job["status"] == "done" and job["result"]["created"] == 3
    assert households(world.a.municipality.id) == 3


def test_a_job_failing_on_every_attempt_ends_failed_and_drops_its_file(client, world, monkeypatch):
    monkeypatch.setattr(jobs, "MAX_ATTEMPTS", 1)
    monkeypatch.setattr(household_import, "check_households", lambda *a, **k: 1 / 0)
    response = upload(client, world.a, to_csv(valid_rows(2)))

    job = finished(client, response, world.a.headers(Role.SOCIAL_WORKER))

    assert job["status"] == "failed" and job["error"]["code"] == "job_interrupted"
    assert job["result"] is None and stored(job["id"], "file") is None
    assert households(world.a.municipality.id) == 0


# --- who sees a job ----------------------------------------------------------------------------


def test_a_job_is_seen_by_its_municipality_only(client, world):
    response = upload(client, world.a, to_csv(valid_rows(2)))
    location = started(response)
    job_id = response.json["id"]
    deliver_due()

    for role in (Role.MUNICIPAL_ADMIN, Role.SOCIAL_WORKER, Role.AUDITOR):
        job = client.get(location, headers=world.a.headers(role))
        assert job.status_code == 200 and job.json["municipality_id"] == world.a.municipality.id
        listed = client.get("/api/v1/jobs", headers=world.a.headers(role)).json["items"]
        assert [item["id"] for item in listed] == [job_id]
        assert listed[0]["status"] == "done" and not {"result", "error"} & set(listed[0])
    outsiders = [world.b.headers(role) for role in (Role.SOCIAL_WORKER, Role.MUNICIPAL_ADMIN)]
    outsiders += [world.a.headers(Role.DISPATCHER), world.admin_headers()]
    for headers in outsiders:
        refused = client.get(location, headers=headers)
        assert (refused.status_code, refused.json) == (404, NOT_FOUND)
        assert client.get("/api/v1/jobs", headers=headers).json["items"] == []
    carrier = client.get(location, headers=world.a.headers(Role.CARRIER))
    assert carrier.status_code == 404


# --- the file ----------------------------------------------------------------------------------


def test_the_file_is_stored_encrypted_and_cleared_when_the_job_finishes(client, world):
    rows = valid_rows(3, seed=6)
    data = to_csv(rows)
    response = upload(client, world.a, data)
    job_id = response.json["id"]

    ciphertext = stored(job_id, "file")
    assert zlib.decompress(decrypt_bytes(ciphertext)) == data
    for row in rows:
        for text in (row["name"], row["phone"], row["road_address"]):
            assert text not in ciphertext
    assert "성명".encode() not in ciphertext.encode()

    assert finished(client, response, world.a.headers(Role.SOCIAL_WORKER))["status"] == "done"
    assert stored(job_id, "file") is None
    assert "encoding" not in stored(job_id, "result")  # the report is kept encrypted too


# --- the office's item files -------------------------------------------------------------------


def item_file(numbers: list[str]) -> str:
    return "등기번호,수취인,도로명주소,경도,위도\n" + "".join(
        f"{number},수취인{i},서울특별시 시험구 우정로 {i},126.95{i},37.505\n"
        for i, number in enumerate(numbers)
    )


def test_an_item_file_is_a_job_that_stores_every_row(client, world):
    numbers = [make_number(2026, 700 + i, "6") for i in range(3)]
    headers = world.a.headers(Role.DISPATCHER)

    result = result_of(client, upload_items(client, world.a, item_file(numbers)), headers)

    assert result["day"] == DAY.isoformat() and result["created"] == 3
    listed = client.get(
        f"/api/v1/offices/{world.a.office.id}/items?day={DAY.isoformat()}", headers=headers
    ).json
    assert sorted(item["id"] for item in listed) == sorted(result["item_ids"])
    assert sorted(item["registered_number"] for item in listed) == sorted(numbers)


def test_an_item_file_with_bad_rows_fails_its_job_and_stores_nothing(client, world):
    numbers = [make_number(2026, 710, "6"), "12345"]
    headers = world.a.headers(Role.DISPATCHER)
    response = upload_items(client, world.a, item_file(numbers))
    location = started(response)
    other = world.b.headers(Role.DISPATCHER)
    assert client.get(location, headers=other).status_code == 404

    job = finished(client, response, headers)

    assert job["status"] == "failed" and job["office_id"] == world.a.office.id
    assert job["error"]["code"] == "office_items_invalid"
    assert set(job["error"]["fields"]) == {"row 3"}
    url = f"/api/v1/offices/{world.a.office.id}/items?day={DAY.isoformat()}"
    assert client.get(url, headers=headers).json == []
    assert client.get(location, headers=world.a.headers(Role.SOCIAL_WORKER)).status_code == 404


@pytest.mark.parametrize("data", [b"", b"%PDF-1.7\n"], ids=["empty", "pdf"])
def test_an_item_file_that_is_no_spreadsheet_is_refused_at_once(client, world, data):
    db.session.commit()
    response = client.post(
        f"/api/v1/offices/{world.a.office.id}/items/imports?day={DAY.isoformat()}",
        data={"file": (io.BytesIO(data), "items.pdf" if data else "items.csv")},
        content_type="multipart/form-data",
        headers=world.a.headers(Role.DISPATCHER),
    )
    assert response.status_code == 422, response.json
    assert response.json["error"]["fields"]["file"]
    assert db.session.scalar(sa.select(sa.func.count(jobs.Job.id))) == 0


def test_finished_jobs_go_with_the_retention_run_after_the_outbox_s_keep_days(app, client, world):
    response = upload(client, world.a, to_csv(valid_rows(2)))
    job = finished(client, response, world.a.headers(Role.SOCIAL_WORKER))
    waiting = upload(client, world.a, to_csv(valid_rows(2, seed=3))).json["id"]
    keep = timedelta(days=app.config["OUTBOX_KEEP_DAYS"])

    assert purge(now=utcnow() + keep - timedelta(hours=1)).jobs == 0
    assert purge(now=utcnow() + keep + timedelta(hours=1)).jobs == 1

    assert db.session.get(jobs.Job, job["id"]) is None
    assert db.session.get(jobs.Job, waiting).status == "queued"  # not finished: kept
