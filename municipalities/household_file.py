"""Parse a municipality's household file (CSV or XLSX) for bulk import: its columns, each
cell's checks and the rows' problems; no database access."""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import phonenumbers

from core.crypto import normalize_for_index
from core.spreadsheets import (
    NO_DATA_MESSAGE,
    FileRejected,
    Progress,
    Record,
    cell_text,
    header_key,
    read_all,
    read_records,
    report_checking,
)
from core.uploads import UploadLimits, too_many_rows
from municipalities.vocabulary import HOUSEHOLD_TYPE_VALUES, RISK_SOURCE_VALUES, CodedValues

MAX_NAME = 100
MAX_ROAD_ADDRESS = 200
MAX_ADDRESS_DETAIL = 100
MAX_NOTE = 2000
LON_RANGE = (124.5, 132.0)
LAT_RANGE = (33.0, 38.7)
MAX_ROWS = 200_000  # data rows of one household file

_FORMULA_PREFIXES = ("=", "+", "-", "@")
_RISK_SEPARATORS = re.compile(r"[;,|]")
_POSTAL_SEPARATORS = re.compile(r"[\s\-]")
# C0 controls other than tab/LF/CR: PostgreSQL rejects NUL, and none belongs in a record.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ECHO_LIMIT = 40


@dataclass(frozen=True)
class RowProblem:
    """One problem of one row (row 1 is the header), or of the whole row when column is ""."""

    row: int
    column: str
    code: str
    message: str
    #: For a value outside a vocabulary: the labels the column accepts.
    accepted: tuple[str, ...] = ()


@dataclass
class ParsedRow:
    """A row without errors; values holds every canonical column, normalized."""

    row: int
    values: dict


@dataclass
class ParseResult:
    """Valid rows, per-row errors and warnings of one household file."""

    encoding: str
    rows: list[ParsedRow]
    errors: list[RowProblem]
    warnings: list[RowProblem]
    total_rows: int


@dataclass(frozen=True)
class Column:
    """One column of a household file: its Korean header (what the template writes), the other
    headers read as it, a hint and an example for the template, and its vocabulary if coded."""

    key: str
    korean: str
    english: str
    aliases: tuple[str, ...]
    hint: str
    example: str
    values: CodedValues | None = None


COLUMNS = (
    Column("name", "성명", "name", ("성명", "이름", "수취인", "name"), "필수", "홍길동"),
    Column(
        "road_address",
        "도로명주소",
        "road address",
        ("도로명주소", "주소", "road_address", "address"),
        "필수. 시·도부터 건물번호까지",
        "서울특별시 종로구 세종대로 209",
    ),
    Column(
        "address_detail",
        "상세주소",
        "address detail",
        ("상세주소", "address_detail"),
        "동·호수 등",
        "101동 1001호",
    ),
    Column(
        "postal_code",
        "우편번호",
        "postal code",
        ("우편번호", "postal_code"),
        "숫자 5자리",
        "03154",
    ),
    Column(
        "phone",
        "전화번호",
        "phone",
        ("전화번호", "연락처", "phone"),
        "010-1234-5678 형식",
        "010-1234-5678",
    ),
    Column(
        "household_type",
        "가구유형",
        "household type",
        ("가구유형", "household_type"),
        "아래 값 중 하나. 비우면 기타",
        "독거노인",
        HOUSEHOLD_TYPE_VALUES,
    ),
    Column(
        "risk_sources",
        "위기요인",
        "risk sources",
        ("위기요인", "위기정보", "risk_sources"),
        "아래 값 중 여럿을 ; 로 구분",
        "전기요금 체납; 수도요금 체납",
        RISK_SOURCE_VALUES,
    ),
    Column(
        "lon",
        "경도",
        "longitude",
        ("경도", "longitude", "lon", "x"),
        "위도와 함께. 비우면 주소로 찾음",
        "126.9770",
    ),
    Column(
        "lat",
        "위도",
        "latitude",
        ("위도", "latitude", "lat", "y"),
        "경도와 함께. 비우면 주소로 찾음",
        "37.5759",
    ),
    Column("note", "메모", "note", ("메모", "비고", "note"), "자유롭게", "예시 행: 지우고 쓰세요"),
)
_BY_KEY = {column.key: column for column in COLUMNS}
_REQUIRED = ("name", "road_address")
_ALIASES = {header_key(alias): column.key for column in COLUMNS for alias in column.aliases}


class _CellError(Exception):
    """A cell's value is unusable; becomes a RowProblem for its column."""

    def __init__(self, code: str, message: str, accepted: tuple[str, ...] = ()):
        super().__init__(code)
        self.code = code
        self.message = message
        self.accepted = accepted


def parse_household_file(
    data: bytes,
    filename: str,
    limits: UploadLimits | None = None,
    progress: Progress | None = None,
) -> ParseResult:
    """Parse a household CSV (UTF-8 or CP949) or XLSX file into valid rows and row problems.

    With `progress`, the rows are read first ("parse") and then checked ("validate"), so the
    check reports how many of how many.
    """
    limits = limits or UploadLimits(max_rows=MAX_ROWS)
    encoding, records = read_records(data, filename, limits)
    if progress is None:
        return _parse_records(encoding, records, limits)
    read = read_all(records, progress)
    return _parse_records(encoding, report_checking(read, progress), limits)


# --- Records to rows ---------------------------------------------------------------------------


def _parse_records(encoding: str, records: Iterator[Record], limits: UploadLimits) -> ParseResult:
    """Header, then every data row, checked and normalized."""
    result = ParseResult(encoding=encoding, rows=[], errors=[], warnings=[], total_rows=0)
    header_row, width, positions = _read_header(records, result)
    seen: dict[tuple[str, str, str], int] = {}
    for row_number, record in enumerate(records, start=header_row + 1):
        if record is not None and _is_blank(record):
            continue
        result.total_rows += 1
        if result.total_rows > limits.max_rows:
            raise too_many_rows(limits)
        if record is None:
            result.errors.append(
                RowProblem(
                    row_number,
                    "",
                    "encoding",
                    "이 행의 문자 인코딩이 파일의 나머지와 다릅니다. 행을 읽지 않았습니다. "
                    "(This row is not in the file's encoding and was skipped.)",
                )
            )
            continue
        _parse_row(row_number, record, positions, width, seen, result)
    if result.total_rows == 0:
        raise FileRejected(NO_DATA_MESSAGE)
    return result


def _read_header(records: Iterator[Record], result: ParseResult) -> tuple[int, int, dict[str, int]]:
    """The header's row number, its width and the position of each known column in it."""
    for row_number, record in enumerate(records, start=1):
        if record is None:
            raise FileRejected(
                "머리글 행의 문자 인코딩을 알 수 없습니다. (The header row's encoding is unknown.)"
            )
        if not _is_blank(record):
            width = max(i for i, cell in enumerate(record) if not _is_blank([cell])) + 1
            return row_number, width, _header_positions(row_number, record, result)
    raise FileRejected(NO_DATA_MESSAGE)


def _header_positions(row_number: int, cells: Sequence[Any], result: ParseResult) -> dict[str, int]:
    """Map canonical column -> cell index; warn about unknown columns, reject bad headers."""
    positions: dict[str, int] = {}
    for index, cell in enumerate(cells):
        text = cell_text(cell)
        if text is None:
            continue
        key = _ALIASES.get(header_key(text))
        if key is None:
            result.warnings.append(
                RowProblem(
                    row_number,
                    text[:MAX_NAME],
                    "unknown_column",
                    "알 수 없는 열이라 무시했습니다. (Unknown column, ignored.)",
                )
            )
        elif key in positions:
            column = _BY_KEY[key]
            raise FileRejected(
                f"열 이름이 중복되었습니다: {column.korean}. (Duplicate column: {column.english}.)"
            )
        else:
            positions[key] = index
    for key in _REQUIRED:
        if key not in positions:
            column = _BY_KEY[key]
            raise FileRejected(
                f"필수 열이 없습니다: {column.korean}. (Required column missing: {column.english}.)"
            )
    return positions


def _is_blank(cells: Sequence[Any]) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


def _parse_row(
    row_number: int,
    cells: Sequence[Any],
    positions: dict[str, int],
    width: int,
    seen: dict[tuple[str, str, str], int],
    result: ParseResult,
) -> None:
    """Check one data row; append it to rows if clean, else its problems to errors."""
    errors: list[RowProblem] = []
    if not _is_blank(cells[width:]):
        errors.append(
            RowProblem(
                row_number,
                "",
                "extra_cells",
                "이 행에 머리글보다 많은 칸이 있습니다. (This row has more cells than the header.)",
            )
        )
    values: dict[str, Any] = {}
    for column in COLUMNS:
        index = positions.get(column.key)
        raw = cells[index] if index is not None and index < len(cells) else None
        try:
            values[column.key] = _PARSERS[column.key](raw)
        except _CellError as problem:
            errors.append(_cell_problem(row_number, column.key, problem))
    errors.extend(_coordinate_problems(row_number, values))
    if all(key in values for key in ("name", "road_address", "address_detail")):
        key = _dedup_key(values)
        if key in seen:
            errors.append(
                RowProblem(
                    row_number,
                    "",
                    "duplicate_in_file",
                    f"파일의 {seen[key]}행과 같은 가구입니다. "
                    f"(Same household as row {seen[key]} of this file.)",
                )
            )
        elif not errors:
            seen[key] = row_number
    if errors:
        result.errors.extend(errors)
        return
    values["note"], neutralised = neutralise_note(values["note"])
    if neutralised:
        result.warnings.append(
            RowProblem(
                row_number,
                "note",
                "formula_neutralised",
                "메모가 수식처럼 시작해 앞에 작은따옴표(')를 붙였습니다. "
                "(The note looked like a formula; a leading ' was added.)",
            )
        )
    result.rows.append(ParsedRow(row_number, values))


def _dedup_key(values: dict[str, Any]) -> tuple[str, str, str]:
    """Name + road address + detail, compared as the registry's blind index compares them."""
    return (
        normalize_for_index(values["name"] or ""),
        normalize_for_index(values["road_address"] or ""),
        normalize_for_index(values["address_detail"] or ""),
    )


# --- Cells -------------------------------------------------------------------------------------


def _text(raw: Any, key: str, limit: int, *, collapse: bool, formula_ok: bool) -> str | None:
    """A checked free-text cell."""
    text = cell_text(raw)
    if text is None:
        return None
    column = _BY_KEY[key]
    if collapse:
        text = " ".join(text.split())
    # Leading tab/CR, the other formula triggers, cannot survive the strip above.
    if not formula_ok and text.startswith(_FORMULA_PREFIXES):
        raise _CellError(
            "formula",
            f"{column.korean} 값이 수식처럼 시작합니다(=, +, -, @). "
            f"({column.english.capitalize()} starts like a spreadsheet formula.)",
        )
    if _CONTROL.search(text):
        raise _CellError(
            "control_character",
            f"{column.korean} 값에 제어 문자가 있습니다. "
            f"({column.english.capitalize()} contains control characters.)",
        )
    if len(text) > limit:
        raise _CellError(
            "too_long",
            f"{column.korean} 값이 너무 깁니다(최대 {limit}자). "
            f"({column.english.capitalize()} is longer than {limit} characters.)",
        )
    return text


def _required(value: str | None, key: str) -> str:
    if value is None:
        column = _BY_KEY[key]
        raise _CellError(
            "required",
            f"{column.korean} 값이 비어 있습니다. ({column.english.capitalize()} is required.)",
        )
    return value


def _parse_name(raw: Any) -> str:
    return _required(_text(raw, "name", MAX_NAME, collapse=True, formula_ok=False), "name")


def _parse_road_address(raw: Any) -> str:
    text = _text(raw, "road_address", MAX_ROAD_ADDRESS, collapse=True, formula_ok=False)
    return _required(text, "road_address")


def _parse_address_detail(raw: Any) -> str | None:
    return _text(raw, "address_detail", MAX_ADDRESS_DETAIL, collapse=True, formula_ok=False)


def _parse_note(raw: Any) -> str | None:
    # Formula-like notes are kept (neutralised later); internal line breaks are kept too.
    return _text(raw, "note", MAX_NOTE, collapse=False, formula_ok=True)


def _is_number(raw: Any) -> bool:
    return isinstance(raw, int | float) and not isinstance(raw, bool)


def _parse_postal_code(raw: Any) -> str | None:
    if _is_number(raw) and float(raw).is_integer():
        # Excel drops the leading zero of Seoul's codes: the number 6234 is "06234".
        code = f"{int(raw):05d}"
    else:
        text = cell_text(raw)
        if text is None:
            return None
        code = _POSTAL_SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    if len(code) != 5 or not code.isascii() or not code.isdigit():
        raise _CellError(
            "invalid_postal_code",
            "우편번호는 숫자 5자리(국가기초구역번호)여야 합니다. "
            "(The postal code must be 5 digits.)",
        )
    return code


def _parse_phone(raw: Any) -> str | None:
    if _is_number(raw) and float(raw).is_integer():
        # A number cell loses the leading 0: 1012345678 was typed as 010-1234-5678.
        text = f"0{int(raw)}"
    else:
        text = cell_text(raw)
        if text is None:
            return None
    e164 = _e164(text)
    if e164 is None:
        raise _CellError(
            "invalid_phone", "전화번호 형식이 올바르지 않습니다. (Not a valid Korean phone number.)"
        )
    return e164


# Parsing is the costliest check of a row, and files repeat numbers (a shared family phone, a
# centre's landline); the cache is bounded so a file of distinct numbers costs nothing extra.
@functools.lru_cache(maxsize=4096)
def _e164(text: str) -> str | None:
    """The number in E.164, or None when it is not a valid Korean (or international) number."""
    try:
        number = phonenumbers.parse(text, "KR")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


#: The stem of a coded column's error codes (unknown_*, ambiguous_*), one value of the column.
_VALUE_NAMES = {"household_type": "household_type", "risk_sources": "risk_source"}


# Files repeat the same few vocabulary values on every row; a miss scans the spellings.
@functools.lru_cache(maxsize=512)
def _coded(key: str, text: str) -> str:
    """The code a coded column's cell names, or the refusal naming the accepted values."""
    column = _BY_KEY[key]
    assert column.values is not None
    found = column.values.lookup(text)
    if found.code is not None:
        return found.code
    echo = text[:_ECHO_LIMIT]
    accepted = tuple(column.values.accepted())
    english = column.english.capitalize()
    if len(found.candidates) > 1:
        named = ", ".join(found.candidates)
        raise _CellError(
            f"ambiguous_{_VALUE_NAMES[key]}",
            f"{column.korean}: '{echo}'은(는) 여러 값에 해당해 정할 수 없습니다: {named}. "
            f"하나를 골라 적어 주세요. ({english}: '{echo}' could mean {named}; write one.)",
            accepted,
        )
    guess = f"혹시 '{found.candidates[0]}'인가요? " if found.candidates else ""
    raise _CellError(
        f"unknown_{_VALUE_NAMES[key]}",
        f"{column.korean}: '{echo}'은(는) 알 수 없는 값입니다. {guess}"
        f"가능한 값: {', '.join(accepted)}. "
        f"({english}: '{echo}' is not a known value; the accepted values are listed.)",
        accepted,
    )


def _parse_household_type(raw: Any) -> str:
    text = cell_text(raw)
    if text is None:
        return "other"
    return _coded("household_type", text)


def _parse_risk_sources(raw: Any) -> list[str]:
    text = cell_text(raw)
    if text is None:
        return []
    items = (item.strip() for item in _RISK_SEPARATORS.split(text))
    return sorted({_coded("risk_sources", item) for item in items if item})


def _cell_problem(row_number: int, key: str, problem: _CellError) -> RowProblem:
    return RowProblem(row_number, key, problem.code, problem.message, problem.accepted)


def _coordinate_parser(key: str) -> Callable[[Any], float | None]:
    """A parser for one coordinate; the range check needs both, see _coordinate_problems."""
    column = _BY_KEY[key]

    def parse(raw: Any) -> float | None:
        if _is_number(raw):
            value = float(raw)
        else:
            text = cell_text(raw)
            if text is None:
                return None
            try:
                value = float(text)
            except ValueError:
                value = math.nan
        if not math.isfinite(value):
            raise _CellError(
                "invalid_coordinate",
                f"{column.korean} 값이 숫자가 아닙니다. "
                f"({column.english.capitalize()} is not a number.)",
            )
        return value

    return parse


def _coordinate_problems(row_number: int, values: dict[str, Any]) -> list[RowProblem]:
    """Both coordinates or neither, and inside South Korea."""
    if "lon" not in values or "lat" not in values:
        return []  # a coordinate that is not a number is already reported
    lon, lat = values["lon"], values["lat"]
    if (lon is None) != (lat is None):
        missing = _BY_KEY["lon" if lon is None else "lat"]
        return [
            RowProblem(
                row_number,
                missing.key,
                "coordinates_incomplete",
                f"경도와 위도는 함께 입력해야 합니다. {missing.korean} 값이 없습니다. "
                f"(Longitude and latitude go together; {missing.english} is missing.)",
            )
        ]
    problems = []
    for key, value, (low, high) in (("lon", lon, LON_RANGE), ("lat", lat, LAT_RANGE)):
        if value is not None and not low <= value <= high:
            column = _BY_KEY[key]
            problems.append(
                RowProblem(
                    row_number,
                    key,
                    "outside_korea",
                    f"{column.korean} 값이 대한민국 범위({low}~{high}) 밖입니다. "
                    f"({column.english.capitalize()} is outside South Korea: {low} to {high}.)",
                )
            )
    return problems


_PARSERS = {
    "name": _parse_name,
    "road_address": _parse_road_address,
    "address_detail": _parse_address_detail,
    "postal_code": _parse_postal_code,
    "phone": _parse_phone,
    "household_type": _parse_household_type,
    "risk_sources": _parse_risk_sources,
    "lon": _coordinate_parser("lon"),
    "lat": _coordinate_parser("lat"),
    "note": _parse_note,
}


def neutralise_note(note: str | None) -> tuple[str | None, bool]:
    """Prefix a formula-like note with a quote so spreadsheets show it as text."""
    if note is not None and note.startswith(_FORMULA_PREFIXES):
        return "'" + note, True
    return note, False


def check_household_values(
    values: dict[str, Any], *, partial: bool
) -> tuple[dict[str, Any], list[RowProblem]]:
    """Check one household given as API fields by the same rules as a file row (row 0).

    `location` is [lon, lat] or None; `risk_sources` a list. With partial=False the required
    fields must be present.
    """
    checked: dict[str, Any] = {}
    problems: list[RowProblem] = []
    wanted = dict(values)
    if not partial:
        for key in _REQUIRED:
            wanted.setdefault(key, None)
    location = wanted.pop("location", ...)
    for key, raw in wanted.items():
        if key == "risk_sources":
            raw = ";".join(raw or [])
        try:
            checked[key] = _PARSERS[key](raw)
        except _CellError as problem:
            problems.append(_cell_problem(0, key, problem))
    if "note" in checked:
        checked["note"], _ = neutralise_note(checked["note"])
    if location is not ...:
        checked["location"] = location
        if location is not None:
            point = {"lon": location[0], "lat": location[1]}
            problems.extend(
                RowProblem(0, "location", p.code, p.message) for p in _coordinate_problems(0, point)
            )
    return checked, problems
