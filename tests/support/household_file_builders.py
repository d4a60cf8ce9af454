"""Builders of household import files (CSV, XLSX) with fictitious data, for tests and benches."""

from __future__ import annotations

import csv
import io
import random
from typing import Any

from openpyxl import Workbook

from municipalities.vocabulary import HOUSEHOLD_TYPES, RISK_SOURCES

COLUMNS = (
    "name",
    "road_address",
    "address_detail",
    "postal_code",
    "phone",
    "household_type",
    "risk_sources",
    "lon",
    "lat",
    "note",
)
KOREAN_HEADERS = {
    "name": "성명",
    "road_address": "도로명주소",
    "address_detail": "상세주소",
    "postal_code": "우편번호",
    "phone": "전화번호",
    "household_type": "가구유형",
    "risk_sources": "위기요인",
    "lon": "경도",
    "lat": "위도",
    "note": "메모",
}

_SURNAMES = "김이박최정강조윤장임한오서신권황안송류홍"
_GIVEN = ("민준", "서연", "도윤", "하은", "시우", "지우", "예준", "서윤", "주원", "하준", "지민")
_DISTRICTS = ("가상구", "예시구", "시범구")
_ROADS = ("희망로", "행복길", "나눔로", "보람길", "새싹로", "온정길", "미래대로")
_NOTES = ("주 2회 방문 필요", "낮에는 부재 잦음", "이웃 주민 연락 가능")


def valid_rows(n: int, seed: int = 1) -> list[dict]:
    """N distinct fictitious Seoul households with every column valid; same seed, same rows."""
    rng = random.Random(seed)
    risk_codes = sorted(RISK_SOURCES)
    rows = []
    for i in range(n):
        # The road and building number come from i, so no two rows are the same household.
        road = _ROADS[i % len(_ROADS)]
        building = i // len(_ROADS) + 1
        rows.append(
            {
                "name": rng.choice(_SURNAMES) + rng.choice(_GIVEN),
                "road_address": f"서울특별시 {rng.choice(_DISTRICTS)} {road} {building}",
                "address_detail": rng.choice((None, f"{rng.randint(1, 15)}0{rng.randint(1, 4)}호")),
                "postal_code": f"{rng.randint(1000, 8866):05d}",
                # 010-5xxx is not allocated, so phonenumbers rejects it.
                "phone": f"010-{rng.choice('2346789')}{rng.randint(0, 999):03d}-"
                f"{rng.randint(0, 9999):04d}",
                "household_type": rng.choice(sorted(HOUSEHOLD_TYPES)),
                "risk_sources": sorted(rng.sample(risk_codes, rng.randint(0, 3))),
                "lon": round(rng.uniform(126.9, 127.1), 6),
                "lat": round(rng.uniform(37.45, 37.6), 6),
                "note": rng.choice((None, *_NOTES)),
            }
        )
    return rows


def _cell(column: str, value: Any, korean: bool) -> Any:
    """A row value as a file cell; Korean files carry vocabulary labels, English ones codes."""
    if value is None:
        return ""
    if column == "household_type" and korean:
        return HOUSEHOLD_TYPES.get(value, value)
    if column == "risk_sources" and not isinstance(value, str):
        return ";".join(RISK_SOURCES.get(code, code) if korean else code for code in value)
    return value


def _cells(row: dict, korean: bool = True) -> list[Any]:
    return [_cell(column, row.get(column), korean) for column in COLUMNS]


def _headers(korean: bool) -> list[str]:
    return [KOREAN_HEADERS[column] if korean else column for column in COLUMNS]


def _csv_line(cells: list[Any], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


def to_csv(
    rows: list[dict],
    encoding: str = "utf-8-sig",
    korean_headers: bool = True,
    delimiter: str = ",",
) -> bytes:
    """Rows as an Excel-style CSV (CRLF) in the given encoding; "utf-8-sig" writes the BOM."""
    lines = [_csv_line(_headers(korean_headers), delimiter)]
    lines += [_csv_line(_cells(row, korean_headers), delimiter) for row in rows]
    return "".join(lines).encode(encoding)


def to_xlsx(rows: list[dict]) -> bytes:
    """Rows as a one-sheet .xlsx with Korean headers; values keep their type, text stays text."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(_headers(korean=True))
    for row_number, row in enumerate(rows, start=2):
        for column_number, value in enumerate(_cells(row), start=1):
            cell = sheet.cell(row_number, column_number, value if value != "" else None)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # openpyxl would otherwise store "=..." as a formula
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def bad_cp949_file() -> tuple[bytes, dict[int, str]]:
    """A Korean-Excel CP949 CSV with 25 bad rows of varied kinds among 5 good ones.

    Returns the bytes and, for each bad row (spreadsheet numbering, header = 1), the canonical
    column at fault ("" for whole-row problems). Row 31 is blank and must be skipped.
    """
    base = valid_rows(40, seed=7)
    base[1]["address_detail"] = "101호"
    duplicate = dict(
        base[1],
        name=f" {base[1]['name']} ",
        road_address=base[1]["road_address"].replace(" ", "  "),
        address_detail="１０１호",  # full-width digits: the same detail after NFKC
    )
    # (row, expected column or "good"/"blank", how the line is written)
    plan: list[tuple[Any, str, str]] = [
        (base[0], "good", "cp949"),
        (base[1], "good", "cp949"),
        (dict(base[2], phone="010-12"), "phone", "cp949"),
        (dict(base[3], name=""), "name", "cp949"),
        (dict(base[4], road_address=""), "road_address", "cp949"),
        (duplicate, "", "cp949"),
        (dict(base[5], lon=139.69, lat=35.68), "lon", "cp949"),
        (dict(base[6], lat=None), "lat", "cp949"),
        (dict(base[7], lat="삼십칠"), "lat", "cp949"),
        (dict(base[8], risk_sources="전기요금 체납;로또당첨"), "risk_sources", "cp949"),
        (dict(base[9], household_type="대가족"), "household_type", "cp949"),
        (dict(base[10], name='=HYPERLINK("http://example.invalid/x","열기")'), "name", "cp949"),
        (dict(base[11], road_address="@SUM(1+1)*cmd|' /C calc'!A0"), "road_address", "cp949"),
        (base[12], "", "utf-8"),
        (dict(base[13], postal_code="123-456"), "postal_code", "cp949"),
        (dict(base[14], name="김" * 101), "name", "cp949"),
        (base[15], "", "extra"),
        (dict(base[16], address_detail="+cmd|' /C calc'!A0"), "address_detail", "cp949"),
        (dict(base[17], note="=1+1 확인 필요"), "good", "cp949"),
        (dict(base[18], lon=125.75, lat=39.03), "lat", "cp949"),
        (dict(base[19], phone="010-1234-56789"), "phone", "cp949"),
        (dict(base[20], road_address="서울특별시 가상구 " + "가" * 200), "road_address", "cp949"),
        (dict(base[21], postal_code="AB123"), "postal_code", "cp949"),
        (dict(base[22], note="가" * 2001), "note", "cp949"),
        (dict(base[23], address_detail="-2+3"), "address_detail", "cp949"),
        (dict(base[24], lon="nan"), "lon", "cp949"),
        (b'\x80\x80,\xff\xfe,"', "", "raw"),  # bytes that are neither CP949 nor UTF-8
        (
            dict(base[25], household_type="독거노인", risk_sources="전기요금 체납 | 수도요금 체납"),
            "good",
            "cp949",
        ),
        (dict(base[26], phone="전화 없음"), "phone", "cp949"),
        (None, "blank", "raw"),
        (base[27], "good", "cp949"),
    ]
    lines = [_csv_line(_headers(korean=True)).encode("cp949")]
    expected: dict[int, str] = {}
    for row_number, (row, column, how) in enumerate(plan, start=2):
        if how == "raw":
            lines.append((row or b"") + b"\r\n")
        elif how == "extra":
            lines.append(_csv_line([*_cells(row), "추가 칸"]).encode("cp949"))
        else:
            lines.append(_csv_line(_cells(row)).encode(how))
        if column not in ("good", "blank"):
            expected[row_number] = column
    return b"".join(lines), expected
