"""Parsing of household import files: encodings, formats, row problems and file rejections."""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from core.spreadsheets import FileRejected
from core.uploads import UploadLimits, UploadOverLimit
from municipalities.household_file import ParseResult, parse_household_file
from municipalities.vocabulary import HOUSEHOLD_TYPES, RISK_SOURCES
from tests.support.household_file_builders import bad_cp949_file, to_csv, to_xlsx, valid_rows

HEADER = "성명,도로명주소,전화번호,경도,위도,메모\r\n"


def parse_text(text: str) -> ParseResult:
    return parse_household_file(text.encode(), "households.csv")


def expected_values(row: dict) -> dict:
    """What the parser should make of a valid_rows() row."""
    digits = row["phone"].replace("-", "")
    return {**row, "phone": "+82" + digits[1:]}


def problems(result: ParseResult) -> set[tuple[int, str, str]]:
    return {(p.row, p.column, p.code) for p in result.errors}


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "cp949"])
def test_csv_in_each_encoding_parses_every_row(encoding):
    rows = valid_rows(30)

    result = parse_household_file(to_csv(rows, encoding), "households.csv")

    assert result.encoding == encoding
    assert result.errors == [] and result.warnings == []
    assert result.total_rows == 30
    assert [r.row for r in result.rows] == list(range(2, 32))
    assert [r.values for r in result.rows] == [expected_values(row) for row in rows]


def test_english_headers_and_codes():
    rows = valid_rows(10, seed=2)

    result = parse_household_file(to_csv(rows, "utf-8", korean_headers=False), "h.csv")

    assert [r.values for r in result.rows] == [expected_values(row) for row in rows]


def test_tab_separated_file():
    rows = valid_rows(10, seed=3)

    result = parse_household_file(to_csv(rows, "utf-8", delimiter="\t"), "h.txt")

    assert [r.values for r in result.rows] == [expected_values(row) for row in rows]


def test_headers_match_aliases_case_and_spacing():
    text = " NAME ,Road Address,연락처,X,y,비고\n김민준,가상로 12,010-2345-6789,127,37.5,\n"

    (row,) = parse_text(text).rows

    assert row.values["name"] == "김민준"
    assert row.values["phone"] == "+821023456789"
    assert (row.values["lon"], row.values["lat"]) == (127.0, 37.5)


def test_xlsx_with_numeric_postal_code_phone_and_detail():
    rows = valid_rows(5, seed=4)
    rows[0].update(postal_code=6234, phone=1023456789, address_detail=101)

    result = parse_household_file(to_xlsx(rows), "households.xlsx")

    assert result.encoding == "xlsx"
    assert result.errors == []
    first = result.rows[0].values
    assert (first["postal_code"], first["phone"]) == ("06234", "+821023456789")
    assert first["address_detail"] == "101"
    assert [r.values for r in result.rows[1:]] == [expected_values(row) for row in rows[1:]]


def test_xlsx_is_recognised_by_content_whatever_its_name():
    result = parse_household_file(to_xlsx(valid_rows(2)), "upload")

    assert result.encoding == "xlsx" and len(result.rows) == 2


def test_xlsx_formulas_are_never_taken_as_data():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["성명", "도로명주소"])
    sheet.append(['=CONCAT("김","민준")', "서울특별시 가상구 희망로 1"])  # a real formula
    sheet.append(["박서연", "서울특별시 가상구 희망로 2"])
    sheet.cell(3, 1).value = '=HYPERLINK("http://example.invalid")'
    sheet.cell(3, 1).data_type = "s"  # the same text stored as a plain string
    buffer = io.BytesIO()
    workbook.save(buffer)

    result = parse_household_file(buffer.getvalue(), "h.xlsx")

    assert result.rows == []
    assert problems(result) == {(2, "name", "required"), (3, "name", "formula")}


def test_bad_cp949_file_names_every_bad_row_and_column():
    data, expected = bad_cp949_file()

    result = parse_household_file(data, "지자체_가구.csv")

    assert result.encoding == "cp949"
    assert len(expected) >= 20
    assert {(p.row, p.column) for p in result.errors} >= set(expected.items())
    assert {p.row for p in result.errors} == set(expected)
    good_rows = {r.row for r in result.rows}
    assert good_rows.isdisjoint(expected)
    assert len(good_rows) >= 3
    assert result.total_rows == len(good_rows) + len(expected)
    assert {p.code for p in result.errors} >= {
        "invalid_phone",
        "required",
        "duplicate_in_file",
        "outside_korea",
        "coordinates_incomplete",
        "invalid_coordinate",
        "unknown_risk_source",
        "unknown_household_type",
        "formula",
        "encoding",
        "invalid_postal_code",
        "too_long",
        "extra_cells",
    }


def test_every_message_is_korean_then_english():
    data, _ = bad_cp949_file()
    result = parse_household_file(data, "h.csv")

    for problem in result.errors + result.warnings:
        korean, english = problem.message.rsplit(" (", 1)
        assert re.search("[가-힣]", korean), problem
        assert re.search("[A-Za-z]", english) and english.endswith(")"), problem


def test_messages_do_not_echo_personal_data():
    text = HEADER + (
        "홍길동,서울특별시 가상구 비밀로 7,010-9999-00,,,\n"
        "홍길동,서울특별시 가상구 비밀로 7,,,,\n"
        "홍길동,서울특별시 가상구 비밀로 7,,,,\n"
        f"=홍길동,서울특별시 가상구 비밀로 8,,,,{'비밀메모' * 600}\n"
    )

    result = parse_text(text)

    assert len(result.errors) == 4
    for problem in result.errors:
        for secret in ("홍길동", "9999", "비밀", "010"):
            assert secret not in problem.message


def test_formula_in_note_is_neutralised_with_a_warning():
    text = HEADER + "김민준,서울특별시 가상구 희망로 12,,,,=cmd|' /C calc'!A0\n"

    result = parse_text(text)

    (row,) = result.rows
    assert row.values["note"] == "'=cmd|' /C calc'!A0"
    assert [(w.row, w.column, w.code) for w in result.warnings] == [
        (2, "note", "formula_neutralised")
    ]


def test_phone_with_country_code_is_not_a_formula():
    text = HEADER + "김민준,서울특별시 가상구 희망로 12,+82 10-2345-6789,,,\n"

    (row,) = parse_text(text).rows

    assert row.values["phone"] == "+821023456789"


def test_unknown_column_is_ignored_with_one_warning():
    text = "성명,담당자,도로명주소\n김민준,박주무관,가상로 1\n이서연,박주무관,가상로 2\n"

    result = parse_text(text)

    assert len(result.rows) == 2 and result.errors == []
    assert [(w.row, w.column, w.code) for w in result.warnings] == [(1, "담당자", "unknown_column")]
    assert "담당자" not in result.rows[0].values


def test_cells_beyond_the_header_are_an_error_unless_empty():
    text = "성명,도로명주소\n김민준,가상로 1,,\n이서연,가상로 2,서울\n"

    result = parse_text(text)

    assert [r.row for r in result.rows] == [2]
    assert problems(result) == {(3, "", "extra_cells")}


def test_blank_rows_are_skipped_and_row_numbers_follow_the_sheet():
    text = '성명,도로명주소,메모\n김민준,가상로 1,"첫 줄\n둘째 줄"\n,,\n\n이서연,가상로 2,\n'

    result = parse_text(text)

    assert [r.row for r in result.rows] == [2, 5]
    assert result.rows[0].values["note"] == "첫 줄\n둘째 줄"
    assert result.total_rows == 2


def test_duplicate_names_the_earlier_row_and_ignores_invalid_rows():
    text = HEADER + (
        "김민준,서울특별시 가상구 희망로 12,010-12,,,\n"  # invalid, so not the original
        "김민준,서울특별시 가상구 희망로 12,,,,\n"
        "김민준 ,서울특별시  가상구 희망로 12,,,,\n"
        "김민준,서울특별시 가상구 희망로 13,,,,\n"
    )

    result = parse_text(text)

    assert [r.row for r in result.rows] == [3, 5]
    assert problems(result) == {(2, "phone", "invalid_phone"), (4, "", "duplicate_in_file")}
    (duplicate,) = [p for p in result.errors if p.code == "duplicate_in_file"]
    assert "3" in duplicate.message


@pytest.mark.parametrize(
    ("header", "column", "value", "code"),
    [
        ("성명", "name", "김\x00민준", "control_character"),
        ("우편번호", "postal_code", "0623", "invalid_postal_code"),
        ("경도", "lon", "inf", "invalid_coordinate"),
        ("위기요인", "risk_sources", "전기요금 체납;;복권", "unknown_risk_source"),
        ("상세주소", "address_detail", "@101호", "formula"),
        ("메모", "note", "가" * 2001, "too_long"),
    ],
)
def test_cell_problems(header, column, value, code):
    cells = {"성명": "김철수", "도로명주소": "가상로 1", header: value}
    text = ",".join(cells) + "\n" + ",".join(cells.values()) + "\n"

    result = parse_text(text)

    assert result.rows == []
    assert [(p.row, p.column, p.code) for p in result.errors] == [(2, column, code)]


def test_vocabulary_labels_and_separators():
    text = (
        "성명,도로명주소,가구유형,위기요인,우편번호\n"
        '김민준,가상로 1,조손 가구,"기타| 전기요금체납 ;gas_arrears, 기타",06-234\n'
    )

    (row,) = parse_text(text).rows

    assert row.values["household_type"] == "grandparent_grandchild"
    assert row.values["risk_sources"] == ["electricity_arrears", "gas_arrears", "other"]
    assert row.values["postal_code"] == "06234"


@pytest.mark.parametrize(
    ("data", "filename", "mentions"),
    [
        (b"", "h.csv", "데이터 행이 없습니다"),
        ("성명,도로명주소\r\n".encode(), "h.csv", "데이터 행이 없습니다"),
        (b"\r\n,,\r\n", "h.csv", "데이터 행이 없습니다"),
        ("성명,전화번호\n김민준,010-2345-6789\n".encode(), "h.csv", "도로명주소"),
        ("주소,연락처\n가상로 1,\n".encode(), "h.csv", "성명"),
        ("성명,이름,주소\n김,김,가상로 1\n".encode(), "h.csv", "중복"),
        (b"PK\x03\x04 not really a zip", "h.csv", "엑셀 파일을 열 수 없습니다"),
        (b"just some text", "h.xlsx", "엑셀 파일을 열 수 없습니다"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "h.xls", ".xls"),
        ("성명,주소\n".encode("utf-16"), "h.csv", "UTF-16"),
        (b"%PDF-1.7", "h.pdf", "지원하지 않는 파일 형식"),
    ],
)
def test_whole_file_rejections(data, filename, mentions):
    with pytest.raises(FileRejected) as rejected:
        parse_household_file(data, filename)

    assert mentions in rejected.value.message
    assert re.search(r"\(.*[A-Za-z].*\)$", rejected.value.message)


def test_too_many_rows_rejects_the_file_naming_the_limit():
    data = to_csv(valid_rows(4))

    assert parse_household_file(data, "h.csv", UploadLimits(max_rows=4)).total_rows == 4
    with pytest.raises(UploadOverLimit, match="at most 3") as refused:
        parse_household_file(data, "h.csv", UploadLimits(max_rows=3))
    assert refused.value.status == 422


# --- Properties --------------------------------------------------------------------------------

hangul = st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3)
spaced_hangul = st.text(st.one_of(hangul, st.just(" ")), min_size=1, max_size=30).filter(
    lambda s: s.strip() and not s.startswith(tuple("=+-@"))
)
households = st.fixed_dictionaries(
    {
        "name": spaced_hangul,
        "road_address": st.builds(
            "서울특별시 {} {}로".format,
            st.sampled_from(["가상구", "예시구"]),
            st.text(hangul, min_size=1, max_size=5),
        ),
        "address_detail": st.none() | spaced_hangul,
        "postal_code": st.integers(0, 99999).map("{:05d}".format),
        "phone": st.builds(
            "010-{}{:03d}-{:04d}".format,
            st.sampled_from("2346789"),
            st.integers(0, 999),
            st.integers(0, 9999),
        ),
        "household_type": st.sampled_from(sorted(HOUSEHOLD_TYPES)),
        "risk_sources": st.lists(st.sampled_from(sorted(RISK_SOURCES)), unique=True).map(sorted),
        "lon": st.floats(124.5, 132.0),
        "lat": st.floats(33.0, 38.7),
        "note": st.none() | spaced_hangul,
    }
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(households, min_size=1, max_size=5),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp949"]),
    korean_headers=st.booleans(),
)
def test_valid_rows_round_trip_normalized(rows, encoding, korean_headers):
    for number, row in enumerate(rows):
        row["road_address"] += f" {number + 1}"  # distinct households

    result = parse_household_file(to_csv(rows, encoding, korean_headers), "h.csv")

    assert result.errors == []
    for row, parsed in zip(rows, result.rows, strict=True):
        expected = expected_values(row)
        for key in ("name", "road_address", "address_detail"):
            expected[key] = " ".join(row[key].split()) if row[key] else None
        expected["note"] = row["note"].strip() if row["note"] else None
        assert parsed.values == expected


@settings(max_examples=150, deadline=None)
@given(
    body=st.binary(max_size=600),
    header=st.sampled_from([b"", "성명,도로명주소,전화번호,경도,위도,메모\n".encode("cp949")]),
    filename=st.sampled_from(["h.csv", "h.xlsx", "h.txt", ""]),
)
def test_arbitrary_bytes_only_ever_raise_file_rejected(body, header, filename):
    try:
        result = parse_household_file(header + body, filename)
    except FileRejected as rejected:
        assert rejected.message
    else:
        assert result.total_rows == len(result.rows) + len({p.row for p in result.errors})


def test_an_unknown_value_names_the_accepted_values_at_its_cell():
    text = "성명,도로명주소,가구유형,위기요인\n김민준,가상로 1,한부모,전기요금 체납;복권\n"

    (problem,) = parse_text(text).errors

    assert (problem.row, problem.column, problem.code) == (2, "risk_sources", "unknown_risk_source")
    assert problem.accepted == tuple(RISK_SOURCES.values())
    assert problem.message.startswith(
        "위기요인: '복권'은(는) 알 수 없는 값입니다. 가능한 값: 전기요금 체납, 수도요금 체납, "
    )


def test_common_synonyms_and_code_names_are_read_as_their_values():
    text = (
        "성명,도로명주소,가구유형,위기요인\n"
        "김민준,가상로 1,한부모,전기료체납; 건보료 체납\n"
        "이서연,가상로 2,한부모 가정,electricity_arrears|단수\n"
        "박도윤,가상로 3,홀몸 어르신,가스요금-체납\n"
    )

    rows = parse_text(text).rows

    assert [(r.values["household_type"], r.values["risk_sources"]) for r in rows] == [
        ("single_parent", ["electricity_arrears", "health_insurance_arrears"]),
        ("single_parent", ["electricity_arrears", "water_arrears"]),
        ("single_elderly", ["gas_arrears"]),
    ]


def test_a_value_that_could_mean_two_values_is_refused_naming_both():
    text = "성명,도로명주소,가구유형\n김민준,가상로 1,독거노인 한부모\n"

    (problem,) = parse_text(text).errors

    assert (problem.column, problem.code) == ("household_type", "ambiguous_household_type")
    assert "독거노인, 한부모가구" in problem.message
    assert problem.accepted == tuple(HOUSEHOLD_TYPES.values())
