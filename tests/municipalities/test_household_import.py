"""Bulk household import through the CLI and the API (a job): dry run, all or nothing, reports,
log."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from core.audit import AccessLog
from core.auth.roles import Role
from core.crypto import blind_index
from core.db import db
from core.outbox import deliver_due
from municipalities.models import Household
from tests.support.household_file_builders import bad_cp949_file, to_csv, to_xlsx, valid_rows
from tests.support.jobs import finished, result_of

IMPORTS = "/api/v1/households/imports"
PROBLEM_LINE = re.compile(r"^\s*행 (\d+)(?: \[([^\]]+)\])? (\w+):", re.MULTILINE)


# --- helpers ---------------------------------------------------------------------------------


def household_count(municipality_id: int | None = None) -> int:
    query = sa.select(sa.func.count(Household.id))
    if municipality_id is not None:
        query = query.where(Household.municipality_id == municipality_id)
    return db.session.scalar(query)


def upload(client, tenant, data: bytes, filename: str, *, dry_run: bool, role=Role.SOCIAL_WORKER):
    return client.post(
        f"{IMPORTS}?dry_run={'true' if dry_run else 'false'}",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
        headers=tenant.headers(role),
    )


def imported(client, tenant, data: bytes, filename: str, *, role=Role.SOCIAL_WORKER) -> dict:
    """A real import through the API, run by the outbox: the finished job."""
    response = upload(client, tenant, data, filename, dry_run=False, role=role)
    return finished(client, response, tenant.headers(role))


def cli_import(runner, tmp_path, data: bytes, filename: str, code: str, *, dry_run: bool):
    path = tmp_path / filename
    path.write_bytes(data)
    args = ["households", "import", str(path), "--municipality", code]
    return runner.invoke(args=args + (["--dry-run"] if dry_run else []))


def cli_problems(output: str) -> dict[int, set[str]]:
    """{row: {columns}} of the CLI's "Problems:" section ("" for whole-row problems)."""
    assert "Problems:" in output, output
    section = output.split("Problems:", 1)[1]
    found: dict[int, set[str]] = {}
    for row, column, _code in PROBLEM_LINE.findall(section):
        found.setdefault(int(row), set()).add(column)
    return found


def api_problems(problems: list[dict]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for problem in problems:
        found.setdefault(problem["row"], set()).add(problem["column"])
    return found


def assert_names_every_bad_row(found: dict[int, set[str]], expected: dict[int, str]) -> None:
    assert set(found) == set(expected)
    for row, column in expected.items():
        assert column in found[row], (row, column, found[row])


def clean_rows() -> list[dict]:
    """Six households: two inside tenant a's district, two outside every one, two unlocated."""
    rows = valid_rows(6, seed=11)
    points = [(126.955, 37.505), (126.965, 37.515), (128.5, 35.8), (129.0, 35.1)]
    for row, (lon, lat) in zip(rows, points, strict=False):
        row.update(lon=lon, lat=lat)
    for row in rows[4:]:
        row.update(lon=None, lat=None)
    return rows


CLEAN_FILES = {
    "utf8_bom_csv": lambda rows: (to_csv(rows, "utf-8-sig"), "가구.csv"),
    "cp949_csv": lambda rows: (to_csv(rows, "cp949"), "가구.csv"),
    "xlsx": lambda rows: (to_xlsx(rows), "가구.xlsx"),
}


# --- the must-show: the bad CP949 file ----------------------------------------------------------


def test_cli_dry_run_of_bad_cp949_file_names_every_bad_row_and_writes_nothing(
    runner, world, tmp_path
):
    data, expected = bad_cp949_file()
    assert len(expected) >= 20
    before = household_count()

    result = cli_import(runner, tmp_path, data, "bad.csv", world.a.municipality.code, dry_run=True)

    assert result.exit_code != 0
    assert "cp949" in result.output
    assert_names_every_bad_row(cli_problems(result.output), expected)
    assert "would be refused" in result.output
    assert household_count() == before


def test_cli_real_import_of_bad_cp949_file_is_refused_whole(runner, world, tmp_path):
    data, expected = bad_cp949_file()
    before = household_count()

    result = cli_import(runner, tmp_path, data, "bad.csv", world.a.municipality.code, dry_run=False)

    assert result.exit_code != 0
    assert_names_every_bad_row(cli_problems(result.output), expected)
    assert "Nothing was imported" in result.output
    assert household_count() == before
    assert db.session.scalar(sa.select(sa.func.count(AccessLog.id))) == 0


def test_api_dry_run_of_bad_cp949_file_reports_every_bad_row(client, world):
    data, expected = bad_cp949_file()
    before = household_count()

    response = upload(client, world.a, data, "bad.csv", dry_run=True)

    assert response.status_code == 200, response.json
    report = response.json
    assert report["accepted"] is False and report["dry_run"] is True
    assert report["encoding"] == "cp949" and report["created"] == 0
    assert_names_every_bad_row(api_problems(report["errors"]), expected)
    assert all(problem["message"] for problem in report["errors"])
    assert household_count() == before


def test_api_real_import_of_bad_cp949_file_is_refused_whole(client, world):
    data, expected = bad_cp949_file()
    before = household_count()

    job = imported(client, world.a, data, "bad.csv")

    assert job["status"] == "failed"
    error = job["error"]
    assert error["code"] == "import_refused"
    assert_names_every_bad_row(api_problems(error["fields"]["rows"]), expected)
    report = job["result"]  # the row report, as a dry run answers it
    assert report["accepted"] is False and report["dry_run"] is False and report["created"] == 0
    assert_names_every_bad_row(api_problems(report["errors"]), expected)
    assert household_count() == before


def test_api_import_is_a_dry_run_unless_asked(client, world):
    data = to_csv(clean_rows())
    response = client.post(
        IMPORTS,
        data={"file": (io.BytesIO(data), "h.csv")},
        content_type="multipart/form-data",
        headers=world.a.headers(Role.SOCIAL_WORKER),
    )
    assert response.status_code == 200
    assert response.json["dry_run"] is True and response.json["accepted"] is True
    assert response.json["created"] == 0
    assert household_count(world.a.municipality.id) == 0


# --- clean files ------------------------------------------------------------------------------


def assert_clean_import_stored(municipality_id: int, rows: list[dict], office_id: int) -> None:
    stored = {
        h.name + "|" + h.road_address: h
        for h in db.session.scalars(
            sa.select(Household).where(Household.municipality_id == municipality_id)
        )
    }
    assert len(stored) == len(rows)
    statuses = []
    for row in rows:
        household = stored[row["name"] + "|" + row["road_address"]]
        digits = re.sub(r"\D", "", row["phone"])
        assert household.phone == "+82" + digits[1:]
        assert household.note == row["note"]
        statuses.append(household.assignment_status)
        if household.assignment_status == "assigned":
            assert household.office_id == office_id and household.district_id is not None
    assert statuses == ["assigned"] * 2 + ["outside_districts"] * 2 + ["not_geocoded"] * 2


@pytest.mark.parametrize("kind", sorted(CLEAN_FILES))
def test_clean_file_imports_through_the_api(client, world, kind):
    rows = clean_rows()
    data, filename = CLEAN_FILES[kind](rows)

    dry = upload(client, world.a, data, filename, dry_run=True)
    assert dry.status_code == 200 and dry.json["accepted"] is True
    assert household_count(world.a.municipality.id) == 0
    response = upload(client, world.a, data, filename, dry_run=False)

    report = result_of(client, response, world.a.headers(Role.SOCIAL_WORKER))
    assert report["dry_run"] is False and report["accepted"] is True
    expected_encoding = {"utf8_bom_csv": "utf-8-sig", "cp949_csv": "cp949", "xlsx": "xlsx"}[kind]
    assert report["encoding"] == expected_encoding
    assert report["errors"] == []
    assert (report["total_rows"], report["valid_rows"], report["created"]) == (6, 6, 6)
    counts = (report["assigned"], report["outside_districts"], report["not_geocoded"])
    assert counts == (2, 2, 2)
    for key in ("assigned", "outside_districts", "not_geocoded"):
        assert dry.json[key] == report[key]
    assert_clean_import_stored(world.a.municipality.id, rows, world.a.office.id)


@pytest.mark.parametrize("kind", sorted(CLEAN_FILES))
def test_clean_file_imports_through_the_cli(runner, world, tmp_path, kind):
    rows = clean_rows()
    data, filename = CLEAN_FILES[kind](rows)
    code = world.a.municipality.code

    dry = cli_import(runner, tmp_path, data, filename, code, dry_run=True)
    assert dry.exit_code == 0, dry.output
    assert "nothing written" in dry.output
    assert household_count(world.a.municipality.id) == 0
    result = cli_import(runner, tmp_path, data, filename, code, dry_run=False)

    assert result.exit_code == 0, result.output
    assert "Imported 6 households: 2 in a district, 2 outside every district, 2 to geocode" in (
        result.output
    )
    assert_clean_import_stored(world.a.municipality.id, rows, world.a.office.id)


def test_cli_unknown_municipality_fails_clearly(runner, tmp_path):
    result = cli_import(runner, tmp_path, to_csv(clean_rows()), "h.csv", "00000", dry_run=False)
    assert result.exit_code != 0
    assert "00000" in result.output


def test_second_import_of_the_same_file_is_all_duplicates(client, world):
    data = to_csv(clean_rows())
    assert imported(client, world.a, data, "h.csv")["status"] == "done"
    count = household_count()

    dry = upload(client, world.a, data, "h.csv", dry_run=True)
    again = imported(client, world.a, data, "h.csv")

    assert dry.status_code == 200 and dry.json["accepted"] is False
    assert [(p["row"], p["code"]) for p in dry.json["errors"]] == [
        (row, "duplicate_in_registry") for row in range(2, 8)
    ]
    assert dry.json["valid_rows"] == 0
    assert again["status"] == "failed"
    assert again["error"]["code"] == "import_refused"
    assert {p["code"] for p in again["error"]["fields"]["rows"]} == {"duplicate_in_registry"}
    assert household_count() == count
    # Another municipality keeps its own registry: the same file imports there.
    assert imported(client, world.b, data, "h.csv")["result"]["created"] == 6


def test_formula_like_note_is_stored_neutralised_with_a_warning(client, world):
    rows = clean_rows()[:2]
    rows[1]["note"] = '=HYPERLINK("http://example.invalid","열기")'
    report = imported(client, world.a, to_csv(rows), "h.csv")["result"]

    assert [(w["row"], w["column"], w["code"]) for w in report["warnings"]] == [
        (3, "note", "formula_neutralised")
    ]
    note = db.session.scalar(
        sa.select(Household.note).where(Household.name_index == blind_index(rows[1]["name"]))
    )
    assert note == "'" + rows[1]["note"]


# --- whole-file problems ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "명부.pdf"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "명부.xls"),
        ("성명,도로명주소\n김민준,가상로 1\n".encode("utf-16"), "명부.csv"),
        (b"PK\x03\x04 not really a zip", "명부.xlsx"),
        (b"", "empty.csv"),
        (b"\xef\xbb\xbf\r\n \n", "blank.csv"),
    ],
    ids=["pdf", "xls", "utf16", "corrupt_xlsx", "empty", "blank"],
)
def test_unusable_file_is_422_naming_file(client, world, data, filename):
    """The quick look before a job keeps the file refuses these at once, real import or not."""
    for dry_run in (True, False):
        response = upload(client, world.a, data, filename, dry_run=dry_run)
        assert response.status_code == 422, response.json
        error = response.json["error"]
        assert error["code"] == "import_file_invalid"
        assert list(error["fields"]) == ["file"] and error["fields"]["file"]
    assert household_count() == 0


def test_a_file_without_a_required_column_fails_its_job_naming_file(client, world):
    data = "주소,메모\n가상로 1,\n".encode()
    dry = upload(client, world.a, data, "no_name_column.csv", dry_run=True)
    assert dry.status_code == 422 and dry.json["error"]["code"] == "import_file_invalid"

    error = imported(client, world.a, data, "no_name_column.csv")["error"]

    assert error["code"] == "import_file_invalid"
    assert list(error["fields"]) == ["file"] and "성명" in error["fields"]["file"][0]
    assert household_count() == 0


def test_missing_file_part_is_422_naming_file(client, world):
    response = client.post(
        f"{IMPORTS}?dry_run=false",
        data={"other": (io.BytesIO(b"x"), "h.csv")},
        content_type="multipart/form-data",
        headers=world.a.headers(Role.SOCIAL_WORKER),
    )
    assert response.status_code == 422
    assert "file" in str(response.json["error"]["fields"])


def test_body_over_the_size_limit_is_refused_in_the_error_shape(app, client, world, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    data = to_csv(valid_rows(200, seed=3))
    assert len(data) > 4096

    response = upload(client, world.a, data, "big.csv", dry_run=False)

    assert response.status_code == 413
    assert response.json["error"]["code"] == "too_large"
    assert household_count() == 0


def test_cli_rejects_unusable_file_with_its_reason(runner, world, tmp_path):
    result = cli_import(
        runner, tmp_path, b"%PDF-1.7\n", "명부.pdf", world.a.municipality.code, dry_run=True
    )
    assert result.exit_code != 0
    assert "CSV" in result.output and ".xlsx" in result.output


# --- who may import, and the record of it -----------------------------------------------------


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.DISPATCHER, Role.CARRIER])
def test_roles_that_cannot_import(client, world, role):
    for dry_run in (True, False):
        response = upload(
            client, world.a, to_csv(clean_rows()), "h.csv", dry_run=dry_run, role=role
        )
        assert response.status_code == 403
        assert response.json["error"]["code"] == "forbidden"
    assert household_count() == 0


def test_system_admin_has_no_municipality_to_import_into(client, world):
    response = client.post(
        f"{IMPORTS}?dry_run=false",
        data={"file": (io.BytesIO(to_csv(clean_rows())), "h.csv")},
        content_type="multipart/form-data",
        headers=world.admin_headers(),
    )
    assert response.status_code == 403
    assert household_count() == 0


def test_municipal_admin_may_import(client, world):
    job = imported(client, world.a, to_csv(clean_rows()), "h.csv", role=Role.MUNICIPAL_ADMIN)
    assert job["result"]["created"] == 6
    assert job["account_id"] == world.a.accounts[Role.MUNICIPAL_ADMIN].id


def test_unauthenticated_import_is_401(client, world):
    response = client.post(
        f"{IMPORTS}?dry_run=false",
        data={"file": (io.BytesIO(to_csv(clean_rows())), "h.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 401
    assert household_count() == 0


def test_access_log_has_one_import_row_per_created_household(client, world):
    """The job writes the log: the account that uploaded, from where it uploaded."""
    assert imported(client, world.a, to_csv(clean_rows()), "h.csv")["status"] == "done"

    ids = set(
        db.session.scalars(
            sa.select(Household.id).where(Household.municipality_id == world.a.municipality.id)
        )
    )
    rows = db.session.scalars(sa.select(AccessLog).where(AccessLog.action == "import")).all()
    assert len(ids) == 6
    assert sorted(row.subject_id for row in rows) == sorted(ids)
    account_id = world.a.accounts[Role.SOCIAL_WORKER].id
    for row in rows:
        assert row.account_id == account_id
        assert row.subject_type == "household"
        assert row.municipality_id == world.a.municipality.id
        assert row.ip == "127.0.0.1"


def test_dry_run_and_refused_import_leave_no_access_log(client, world):
    data, _ = bad_cp949_file()
    upload(client, world.a, data, "bad.csv", dry_run=True)
    upload(client, world.a, data, "bad.csv", dry_run=False)
    upload(client, world.a, to_csv(clean_rows()), "h.csv", dry_run=True)
    deliver_due()
    assert db.session.scalar(sa.select(sa.func.count(AccessLog.id))) == 0
