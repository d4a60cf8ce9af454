"""Uploads are bounded before they are expanded, and only callers allowed to upload get that far."""

from __future__ import annotations

import io
import struct
import time
import zipfile

import pytest
import sqlalchemy as sa

from core.auth.roles import Role
from core.db import db
from core.uploads import UploadLimits, UploadOverLimit, UploadTooLarge
from municipalities import household_import
from municipalities.household_file import parse_household_file
from municipalities.models import Household
from routing import office_items
from routing.models import OfficeItem
from tests.routing.test_planning import DAY
from tests.support.household_file_builders import to_csv, to_xlsx, valid_rows
from tests.support.jobs import refusal_of

IMPORTS = "/api/v1/households/imports"

_CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    b'relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    b'officedocument.spreadsheetml.sheet.main+xml"/>'
    b'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
    b'officedocument.spreadsheetml.worksheet+xml"/>'
    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
    b'officedocument.spreadsheetml.sharedStrings+xml"/>'
    b"</Types>"
)
_ROOT_RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    b'<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    b'<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
)
_SHEET_HEAD = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
# Header 성명 | 도로명주소, then one row naming shared string 0 and an address.
_HEADER_ROW = (
    '<row r="1"><c r="A1" t="inlineStr"><is><t>성명</t></is></c>'
    '<c r="B1" t="inlineStr"><is><t>도로명주소</t></is></c></row>'
).encode()
_DATA_ROW = (
    '<row r="2"><c r="A2" t="s"><v>0</v></c>'
    '<c r="B2" t="inlineStr"><is><t>서울특별시 시험구 희망로 1</t></is></c></row>'
).encode()


def handmade_xlsx(rows: bytes, shared_strings: bytes) -> bytes:
    """A minimal workbook, every part deflated: one sheet of `rows`, a shared-string table."""
    sheet = _SHEET_HEAD + b"<sheetData>" + rows + b"</sheetData></worksheet>"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in (
            ("[Content_Types].xml", _CONTENT_TYPES),
            ("_rels/.rels", _ROOT_RELS),
            ("xl/workbook.xml", _WORKBOOK),
            ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
            ("xl/worksheets/sheet1.xml", sheet),
            ("xl/sharedStrings.xml", shared_strings),
        ):
            archive.writestr(name, data)
    return buffer.getvalue()


def shared_strings(*texts: bytes) -> bytes:
    items = b"".join(b"<si><t>" + text + b"</t></si>" for text in texts)
    return (
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + items
        + b"</sst>"
    )


def shared_strings_bomb() -> bytes:
    """50 MB of one character as the name's shared string: about 50 kB zipped."""
    return handmade_xlsx(_HEADER_ROW + _DATA_ROW, shared_strings(b"a" * (50 * 1024 * 1024)))


def lying_xlsx() -> bytes:
    """A real .xlsx whose zip directory claims a member inflates to 500 MB."""
    data = bytearray(to_xlsx(valid_rows(3)))
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 500 * 1024 * 1024)  # uncompressed size
    return bytes(data)


def household_count() -> int:
    return db.session.scalar(sa.select(sa.func.count(Household.id)))


def import_households(client, world, data: bytes, filename: str, role=Role.SOCIAL_WORKER):
    return client.post(
        f"{IMPORTS}?dry_run=false",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
        headers=world.a.headers(role),
    )


def import_items(client, world, data: bytes, filename: str, role=Role.DISPATCHER):
    db.session.commit()
    return client.post(
        f"/api/v1/offices/{world.a.office.id}/items/imports?day={DAY.isoformat()}",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
        headers=world.a.headers(role),
    )


# --- Expansion: refused before it happens ------------------------------------------------------


@pytest.mark.parametrize(
    "build", [shared_strings_bomb, lying_xlsx], ids=["shared_strings_bomb", "lying_directory"]
)
def test_an_xlsx_that_would_inflate_is_refused_quickly_with_413(client, world, build):
    data = build()
    assert len(data) < 2 * 1024 * 1024
    started = time.perf_counter()
    response = import_households(client, world, data, "명부.xlsx")
    assert time.perf_counter() - started < 2.0
    assert response.status_code == 413, response.json
    assert response.json["error"]["code"] == "too_large"
    assert response.json["error"]["fields"]["file"]
    assert household_count() == 0


def test_an_office_items_xlsx_bomb_is_refused_with_413_and_nothing_stored(client, world):
    response = import_items(client, world, shared_strings_bomb(), "items.xlsx")
    assert response.status_code == 413, response.json
    assert db.session.scalar(sa.select(sa.func.count(OfficeItem.id))) == 0


def test_a_row_of_too_many_cells_is_refused_before_openpyxl_builds_it():
    cells = b"".join(b'<c r="A1"/>' for _ in range(20_000))  # one row, 20,000 cells
    data = handmade_xlsx(_HEADER_ROW + b'<row r="2">' + cells + b"</row>", shared_strings())
    with pytest.raises(UploadOverLimit, match="16,384"):
        parse_household_file(data, "h.xlsx")


def test_a_sheet_of_empty_gaps_stops_at_the_row_bound():
    # openpyxl yields the missing rows 3 .. 1,048,575 as empty rows, one by one.
    far = b'<row r="1048576"><c r="A1048576" t="s"><v>0</v></c></row>'
    data = handmade_xlsx(_HEADER_ROW + _DATA_ROW + far, shared_strings(b"\xea\xb9\x80"))
    started = time.perf_counter()
    with pytest.raises(UploadOverLimit, match="at most 10"):
        parse_household_file(data, "h.xlsx", UploadLimits(max_rows=10))
    assert time.perf_counter() - started < 1.0


def test_too_many_shared_strings_are_refused():
    many = shared_strings(*(b"x" for _ in range(300)))
    data = handmade_xlsx(_HEADER_ROW + _DATA_ROW, many)
    with pytest.raises(UploadOverLimit, match="200"):
        parse_household_file(data, "h.xlsx", UploadLimits(max_rows=10))  # 10 x 20 cells


def test_shared_strings_above_their_own_limit_are_413():
    data = handmade_xlsx(_HEADER_ROW + _DATA_ROW, shared_strings(bytes(range(33, 127)) * 20_000))
    with pytest.raises(UploadTooLarge):
        parse_household_file(data, "h.xlsx", UploadLimits(max_rows=10, max_shared_strings_bytes=1))


def test_a_csv_of_blank_lines_is_refused_before_it_is_split():
    with pytest.raises(UploadOverLimit, match="at most 10"):
        parse_household_file(
            b"\xec\x84\xb1\xeb\xaa\x85,x\n" + b"\n" * 5_000_000, "h.csv", UploadLimits(max_rows=10)
        )


def test_a_csv_line_or_cell_beyond_its_bound_is_refused():
    header = "성명,도로명주소\n".encode()
    with pytest.raises(UploadOverLimit, match="65,536"):
        parse_household_file(header + b"a," * 40_000 + b"\n", "h.csv")
    with pytest.raises(UploadOverLimit, match="cells"):
        parse_household_file(header + (b"," * 30 + b"\n") * 10, "h.csv", UploadLimits(max_rows=10))


# --- Too many rows: 422 naming the limit ------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_too_many_household_rows_fail_the_job_naming_the_limit(client, world, monkeypatch, kind):
    monkeypatch.setattr(household_import, "MAX_ROWS", 5)
    rows = valid_rows(6)
    data = to_csv(rows) if kind == "csv" else to_xlsx(rows)
    response = import_households(client, world, data, f"h.{kind}")
    error = refusal_of(client, response, world.a.headers(Role.SOCIAL_WORKER))
    assert error["code"] == "upload_limit"
    assert "at most 5" in error["fields"]["file"][0]
    assert household_count() == 0


def test_a_csv_of_far_too_many_lines_is_refused_before_it_becomes_a_job(client, world, monkeypatch):
    monkeypatch.setattr(household_import, "MAX_ROWS", 5)
    data = to_csv(valid_rows(200))
    response = import_households(client, world, data, "h.csv")
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "upload_limit"
    assert "at most 5" in response.json["error"]["fields"]["file"][0]


def test_too_many_office_item_rows_fail_the_job_naming_the_limit(client, world, monkeypatch):
    monkeypatch.setattr(office_items, "MAX_ROWS", 2)
    lines = ["등기번호,수취인,도로명주소,경도,위도"]
    lines += [f"1,수취인{i},서울특별시 시험구 우정로 {i},126.95,37.50" for i in range(3)]
    response = import_items(client, world, "\n".join(lines).encode(), "items.csv")
    error = refusal_of(client, response, world.a.headers(Role.DISPATCHER))
    assert "at most 2" in error["fields"]["file"][0]


# --- Who may upload is decided before the body is read -----------------------------------------


def _refuse_parsing(*_args, **_kwargs):
    raise AssertionError("the upload was parsed for a caller who may not upload")


@pytest.mark.parametrize("role", [Role.CARRIER, Role.AUDITOR, Role.DISPATCHER])
def test_household_import_refuses_other_roles_before_reading_the_body(
    client, world, monkeypatch, role
):
    monkeypatch.setattr(household_import, "parse_household_file", _refuse_parsing)
    for data in ({"file": (io.BytesIO(shared_strings_bomb()), "h.xlsx")}, {"other": "x"}):
        response = client.post(
            f"{IMPORTS}?dry_run=not-a-boolean",  # invalid: a 422 if anything were parsed first
            data=data,
            content_type="multipart/form-data",
            headers=world.a.headers(role),
        )
        assert response.status_code == 403, response.json


@pytest.mark.parametrize("role", [Role.CARRIER, Role.SOCIAL_WORKER])
def test_office_items_refuse_others_than_its_dispatchers_before_reading_the_body(
    client, world, monkeypatch, role
):
    monkeypatch.setattr(office_items, "parse_file", _refuse_parsing)
    db.session.commit()
    url = f"/api/v1/offices/{world.a.office.id}/items"
    headers = world.a.headers(role)
    upload = client.post(
        f"{url}/imports?day=not-a-day",
        data={"file": (io.BytesIO(shared_strings_bomb()), "items.xlsx")},
        content_type="multipart/form-data",
        headers=headers,
    )
    assert upload.status_code == 404, upload.json
    listed = client.post(url, json={"day": "not-a-day", "items": "none"}, headers=headers)
    assert listed.status_code == 404, listed.json
    other = world.b.headers(Role.DISPATCHER)
    foreign = client.post(f"{url}/imports?day=not-a-day", data={}, headers=other)
    assert foreign.status_code == 404, foreign.json


def test_districts_upload_refuses_a_dispatcher_before_reading_the_body(client, world):
    db.session.commit()
    response = client.put(
        f"/api/v1/offices/{world.a.office.id}/districts",
        json={"features": "no type: a 422 if the body were read first"},
        headers=world.a.headers(Role.DISPATCHER),
    )
    assert response.status_code == 403, response.json
