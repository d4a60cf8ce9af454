"""Importing without guessing, over HTTP: the template files round-trip, a bad value is named
with the accepted values (page and API), synonyms in a CP949 file import, and the result lists
the new households."""

from __future__ import annotations

import csv
import io
import re

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from core.audit import AccessLog
from core.auth.roles import Role
from core.db import db
from core.outbox import deliver_due
from municipalities.household_file import COLUMNS
from municipalities.models import Household
from municipalities.vocabulary import HOUSEHOLD_TYPES, RISK_SOURCES
from tests.support.desk import HTML, Desk, csrf_of, set_up_desk, sign_in
from tests.support.household_file_builders import to_csv, to_xlsx, valid_rows
from tests.support.jobs import finished, result_of

IMPORTS = "/api/v1/households/imports"
HEADER = [column.korean for column in COLUMNS]
EXAMPLE = [column.example for column in COLUMNS]
SYNONYM_FILE = (
    "성명,도로명주소,가구유형,위기요인\r\n"
    "김민준,서울특별시 가상구 희망로 1,한부모,전기료체납; 건보료 체납\r\n"
    "이서연,서울특별시 가상구 희망로 2,한부모 가정,전기요금체납|단수\r\n"
    "박도윤,서울특별시 가상구 희망로 3,홀몸어르신,electricity_arrears\r\n"
)


@pytest.fixture
def desk(app, db_session) -> Desk:
    desk = set_up_desk(visits=0)
    db.session.commit()  # the test's SAVEPOINT only: requests end their session
    return desk


def admin_of(desk: Desk):
    return desk.world.a.accounts[Role.MUNICIPAL_ADMIN]


def send(client, content: bytes, name: str, mode: str):
    """Post the import page's form as the browser would."""
    token = csrf_of(client.get("/registry/import").text)
    form = {"csrf_token": token, "mode": mode, "file": (io.BytesIO(content), name)}
    return client.post("/registry/import", data=form, headers=HTML)


def upload(client, desk: Desk, data: bytes, filename: str, *, dry_run: bool):
    return client.post(
        f"{IMPORTS}?dry_run={'true' if dry_run else 'false'}",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
        headers=desk.world.a.headers(Role.SOCIAL_WORKER),
    )


def imported_through_the_page(client, content: bytes, name: str) -> str:
    """A real import from the page, run by the outbox: the job page's address."""
    answer = send(client, content, name, "import")
    assert answer.status_code == 302, answer.text
    deliver_due()
    return answer.headers["Location"]


def household_links(html: str) -> list[int]:
    section = html.split('id="created-households"')[1]
    return [int(found) for found in re.findall(r'href="/registry/(\d+)"', section)]


# --- the template --------------------------------------------------------------------------------


def test_the_import_page_offers_both_templates_and_the_accepted_values(client, desk):
    sign_in(client, admin_of(desk))

    html = client.get("/registry/import").text

    assert 'href="/registry/import/template.xlsx"' in html
    assert 'href="/registry/import/template.csv"' in html and "CP949" in html
    for label in (*HOUSEHOLD_TYPES.values(), *RISK_SOURCES.values(), "한부모 가정", "전기료 체납"):
        assert label in html


def test_csv_template_round_trips(client, desk):
    sign_in(client, admin_of(desk))

    answer = client.get("/registry/import/template.csv")

    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    disposition = answer.headers["Content-Disposition"]
    assert disposition.isascii()  # HTTP headers are Latin-1: the Korean name goes percent-encoded
    assert disposition.startswith("attachment;") and "filename*=UTF-8''" in disposition
    assert answer.data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    assert list(csv.reader(io.StringIO(answer.data.decode("utf-8-sig")))) == [HEADER, EXAMPLE]
    job_page = imported_through_the_page(client, answer.data, "양식.csv")
    assert household_links(client.get(job_page).text) == [
        db.session.scalar(sa.select(Household.id).where(Household.road_address == EXAMPLE[1]))
    ]


def test_xlsx_template_lists_the_accepted_values_and_round_trips(client, desk):
    sign_in(client, admin_of(desk))

    answer = client.get("/registry/import/template.xlsx")

    assert answer.status_code == 200
    workbook = load_workbook(io.BytesIO(answer.data))
    assert workbook.sheetnames == ["가구", "입력 안내"]
    data, guide = workbook.worksheets
    rows = [[str(cell) for cell in row] for row in data.iter_rows(max_row=2, values_only=True)]
    assert rows == [HEADER, [str(float(v)) if k in (7, 8) else v for k, v in enumerate(EXAMPLE)]]
    guide_text = {str(cell) for row in guide.iter_rows(values_only=True) for cell in row if cell}
    assert set(HOUSEHOLD_TYPES.values()) | set(RISK_SOURCES.values()) <= guide_text
    dropdowns = {str(v.sqref).split(":")[0]: v for v in data.data_validations.dataValidation}
    assert set(dropdowns) == {"F2", "G2"}  # 가구유형, 위기요인
    assert dropdowns["F2"].type == "list" and "'입력 안내'!" in dropdowns["F2"].formula1
    job_page = imported_through_the_page(client, answer.data, "양식.xlsx")
    assert len(household_links(client.get(job_page).text)) == 1


def test_templates_are_for_those_who_import(client, desk):
    sign_in(client, desk.world.a.accounts[Role.DISPATCHER])

    assert client.get("/registry/import/template.xlsx", headers=HTML).status_code == 403


# --- a value outside the vocabulary --------------------------------------------------------------


def test_the_page_report_names_the_accepted_values_at_the_cell(client, desk):
    sign_in(client, admin_of(desk))
    content = "성명,도로명주소,위기요인\r\n김민준,가상로 1,전기세 밀림\r\n".encode("cp949")

    report = send(client, content, "가구.csv", "check").text.split('id="import-report"')[1]

    assert "<td>2</td><td>위기요인</td>" in report
    assert "&#39;전기세 밀림&#39;은(는) 알 수 없는 값입니다. 가능한 값: 전기요금 체납, " in report


def test_the_api_names_the_accepted_values_as_data(client, desk):
    content = "성명,도로명주소,가구유형\r\n김민준,가상로 1,한부모노인\r\n".encode("cp949")

    dry = upload(client, desk, content, "가구.csv", dry_run=True)
    refused = finished(
        client,
        upload(client, desk, content, "가구.csv", dry_run=False),
        desk.world.a.headers(Role.SOCIAL_WORKER),
    )

    (problem,) = dry.json["errors"]
    assert problem["code"] == "unknown_household_type"
    assert problem["accepted"] == list(HOUSEHOLD_TYPES.values())
    assert "가능한 값: 독거노인, 중장년 1인 가구" in problem["message"]
    assert refused["error"]["fields"]["rows"] == [problem]


# --- synonyms and the result ---------------------------------------------------------------------


def test_a_cp949_file_with_synonyms_imports_and_its_result_names_the_new_households(client, desk):
    headers = desk.world.a.headers(Role.SOCIAL_WORKER)

    answer = upload(client, desk, SYNONYM_FILE.encode("cp949"), "가구.csv", dry_run=False)
    result = result_of(client, answer, headers)

    assert (result["encoding"], result["created"]) == ("cp949", 3)
    stored = db.session.execute(
        sa.select(Household.id, Household.household_type, Household.risk_sources)
        .where(Household.municipality_id == desk.world.a.municipality.id)
        .where(Household.road_address.like("%희망로%"))
        .order_by(Household.id)
    ).all()
    assert [(kind, risks) for _, kind, risks in stored] == [
        ("single_parent", ["electricity_arrears", "health_insurance_arrears"]),
        ("single_parent", ["electricity_arrears", "water_arrears"]),
        ("single_elderly", ["electricity_arrears"]),
    ]
    assert result["created_ids"] == [household_id for household_id, _, _ in stored]


def test_the_job_page_lists_the_new_households_by_page(client, desk):
    admin = admin_of(desk)
    sign_in(client, admin)

    job_page = imported_through_the_page(client, to_xlsx(valid_rows(60, seed=5)), "가구.xlsx")
    first, second = client.get(job_page).text, client.get(f"{job_page}?page=2").text

    created = list(
        db.session.scalars(
            sa.select(Household.id)
            .where(Household.municipality_id == desk.world.a.municipality.id)
            .order_by(Household.id)
        )
    )[-60:]
    assert household_links(first) == created[:50] and household_links(second) == created[50:]
    assert "60가구." in first and f'href="{job_page}?page=2"' in first
    listed = db.session.scalars(
        sa.select(AccessLog.subject_id).where(
            AccessLog.account_id == admin.id, AccessLog.action == "list"
        )
    )
    assert set(listed) == set(created)


def test_a_check_lists_no_households(client, desk):
    sign_in(client, admin_of(desk))

    checked = send(client, to_csv(valid_rows(3)), "가구.csv", "check").text

    assert "문제 없음: 3행" in checked and 'id="created-households"' not in checked
