"""Bounds of uploaded spreadsheets (CSV, XLSX), checked before anything is expanded or parsed.

An .xlsx is a zip: a 1 MB upload can inflate to hundreds of MB of XML that openpyxl turns into
gigabytes of objects. The zip's central directory states every member's sizes (and zipfile never
inflates a member beyond its stated size: a lie fails the CRC), so the sizes are judged from the
directory, then the sheets and the shared-string table are counted by a streaming scan at C speed
before openpyxl sees them. While rows are read, `bounded_records` stops at the row, cell and
cell-length bounds. Too much to expand is a 413; too many rows or cells a 422 naming the limit.
Who may upload is decided before any of that, before the body is even read (`checked_first`).
"""

from __future__ import annotations

import functools
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app

from core.auth.principal import current_principal
from core.errors import ApiError, Invalid

MIB = 1024 * 1024
# Excel's own limits: a wider row or a longer cell did not come from a spreadsheet.
EXCEL_MAX_COLUMNS = 16_384
EXCEL_MAX_CELL_CHARS = 32_767
# Styles, workbook, relationships: openpyxl parses these whole, into a tree, so each stays small.
MAX_PART_BYTES = 16 * MIB
MAX_CSV_LINE_BYTES = 64 * 1024
_SHARED_STRINGS = "xl/sharedStrings.xml"
_WORKSHEETS = "xl/worksheets/"
# Small members compress well without harm; the ratio matters where the bytes are.
_RATIO_FLOOR = MIB
_SCAN_CHUNK = MIB
# A row, cell or shared-string start tag, with any namespace prefix; the lookahead keeps <col>,
# <cols> and <rowBreaks> out. A match is under 40 bytes long.
_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,31}:)?(row|c|si)(?=[\s/>])")
_TAG_OVERLAP = 64


class UploadTooLarge(ApiError):
    """The upload would expand beyond a limit (413); nothing of it was parsed."""

    status = 413
    code = "too_large"

    def __init__(self, message: str):
        super().__init__(message, fields={"file": [message]})


class UploadOverLimit(Invalid):
    """The file has more rows or cells than allowed (422); the message names the limit."""

    code = "upload_limit"

    def __init__(self, message: str):
        super().__init__(message, fields={"file": [message]})


@dataclass(frozen=True)
class UploadLimits:
    """What one import may expand to; max_rows counts data rows, the header excluded."""

    max_rows: int
    max_bytes: int = 256 * MIB
    max_shared_strings_bytes: int = 48 * MIB
    max_ratio: int = 100
    max_members: int = 500
    cells_per_row: int = 20

    @property
    def max_records(self) -> int:
        """Rows read at most: the data rows plus the header, blank rows and multi-line cells."""
        return self.max_rows + self.max_rows // 10 + 100

    @property
    def max_cells(self) -> int:
        """Cells (or shared strings) read at most."""
        return self.max_rows * self.cells_per_row


def checked_first(check: Callable[..., object]) -> Callable:
    """Run check(principal, **path arguments) before the view's body arguments are parsed.

    Goes above the view's @blp.arguments: webargs reads and parses the body in those, so a
    caller who may not upload (a role, another tenant's object) never gets that far.
    """

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check(current_principal(), **kwargs)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def upload_limits(max_rows: int) -> UploadLimits:
    """The configured limits (WELFARE_UPLOAD_*) for an import of at most max_rows data rows."""
    config = current_app.config
    return UploadLimits(
        max_rows=max_rows,
        max_bytes=config["UPLOAD_MAX_EXPANDED_MB"] * MIB,
        max_shared_strings_bytes=config["UPLOAD_MAX_SHARED_STRINGS_MB"] * MIB,
        max_ratio=config["UPLOAD_MAX_RATIO"],
        max_members=config["UPLOAD_MAX_MEMBERS"],
        cells_per_row=config["UPLOAD_CELLS_PER_ROW"],
    )


def too_many_rows(limits: UploadLimits) -> UploadOverLimit:
    """The refusal of a file with more data rows than limits.max_rows."""
    return UploadOverLimit(
        f"데이터 행이 너무 많습니다(최대 {limits.max_rows:,}행). 파일을 나눠 올려 주세요. "
        f"(Too many data rows: at most {limits.max_rows:,}; split the file.)"
    )


def _too_many_cells(limits: UploadLimits) -> UploadOverLimit:
    return UploadOverLimit(
        f"칸이 너무 많습니다(최대 {limits.max_cells:,}칸, 한 행에 {EXCEL_MAX_COLUMNS:,}칸). "
        f"(Too many cells: at most {limits.max_cells:,}, {EXCEL_MAX_COLUMNS:,} in a row.)"
    )


def _too_large(what_ko: str, what_en: str, limit_mb: float) -> UploadTooLarge:
    return UploadTooLarge(
        f"파일이 너무 큽니다: {what_ko}(최대 {limit_mb:,.0f}MB). "
        f"(The file is too large: {what_en}, at most {limit_mb:,.0f} MB.)"
    )


# --- XLSX --------------------------------------------------------------------------------------


def check_xlsx(archive: zipfile.ZipFile, limits: UploadLimits) -> None:
    """Refuse a workbook whose directory or sheets go beyond the limits, before openpyxl reads it.

    Errors of a broken zip (BadZipFile, zlib.error) pass through for the caller to name.
    """
    members = check_xlsx_directory(archive, limits)
    cells = 0
    for info in members:
        if info.filename == _SHARED_STRINGS or (
            info.filename.startswith(_WORKSHEETS) and info.filename.endswith(".xml")
        ):
            cells += _scan_part(archive, info, limits, cells)


def check_xlsx_directory(archive: zipfile.ZipFile, limits: UploadLimits) -> list[zipfile.ZipInfo]:
    """Refuse a workbook whose zip directory goes beyond the limits; its members otherwise.

    Only the directory is read (nothing is inflated): a quick look before a file is kept.
    """
    members = archive.infolist()
    if len(members) > limits.max_members:
        raise UploadTooLarge(
            f"엑셀 파일의 구성 요소가 너무 많습니다(최대 {limits.max_members:,}개). "
            f"(The Excel file has too many parts: at most {limits.max_members:,}.)"
        )
    if sum(info.file_size for info in members) > limits.max_bytes:
        raise _too_large("압축을 푼 크기", "uncompressed", limits.max_bytes / MIB)
    for info in members:
        if info.file_size > _RATIO_FLOOR and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise UploadTooLarge(
                f"엑셀 파일이 비정상적으로 압축되어 있습니다(압축률 최대 {limits.max_ratio}배). "
                f"(The Excel file is compressed abnormally: at most {limits.max_ratio}:1.)"
            )
        name = info.filename
        if name == _SHARED_STRINGS:
            if info.file_size > limits.max_shared_strings_bytes:
                raise _too_large(
                    "공유 문자열", "shared strings", limits.max_shared_strings_bytes / MIB
                )
        elif not name.startswith(_WORKSHEETS) and info.file_size > MAX_PART_BYTES:
            raise _too_large(name, name, MAX_PART_BYTES / MIB)
    return members


def _scan_part(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: UploadLimits, cells: int
) -> int:
    """Cells (or shared strings) of one part, refusing too many rows, cells or cells in a row."""
    rows = row_cells = found = 0
    tail = b""
    with archive.open(info) as part:
        while True:
            chunk = part.read(_SCAN_CHUNK)
            window = tail + chunk
            # A tag cut off at the end of the chunk is scanned with the next one.
            last = window.rfind(b"<")
            cut = last if chunk and last >= 0 and len(window) - last < _TAG_OVERLAP else len(window)
            tail = window[cut:]
            tags = b" ".join(_TAG.findall(window, 0, cut))
            # Each piece after a "row" is one row's cells; the first continues the last row.
            pieces = tags.split(b"row")
            row_cells += pieces[0].count(b"c")
            for piece in pieces[1:]:
                rows += 1
                if rows > limits.max_records:
                    raise too_many_rows(limits)
                if row_cells > EXCEL_MAX_COLUMNS:
                    raise _too_many_cells(limits)
                row_cells = piece.count(b"c")
            found += tags.count(b"c") + tags.count(b"si")
            if row_cells > EXCEL_MAX_COLUMNS or cells + found > limits.max_cells:
                raise _too_many_cells(limits)
            if not chunk:
                return found


# --- CSV ---------------------------------------------------------------------------------------


def csv_lines(body: bytes, limits: UploadLimits) -> list[bytes]:
    """The lines of a CSV body, refusing too much text and too many or too long lines."""
    if len(body) > limits.max_bytes:
        raise _too_large("텍스트", "text", limits.max_bytes / MIB)
    # Counted before splitting: a body of newlines alone would be millions of line objects.
    lines = body.count(b"\n") + body.count(b"\r") - body.count(b"\r\n") + 1
    if lines > limits.max_records:
        raise too_many_rows(limits)
    split = body.splitlines()
    if split and max(map(len, split)) > MAX_CSV_LINE_BYTES:
        raise UploadOverLimit(
            f"한 줄이 너무 깁니다(최대 {MAX_CSV_LINE_BYTES:,}바이트). "
            f"(A line is too long: at most {MAX_CSV_LINE_BYTES:,} bytes.)"
        )
    return split


# --- Rows --------------------------------------------------------------------------------------


def bounded_records(
    records: Iterable[Sequence[Any] | None], limits: UploadLimits
) -> Iterator[Sequence[Any] | None]:
    """The records, refusing the file (422) at the first beyond the row, cell or length bound."""
    rows = cells = 0
    for record in records:
        rows += 1
        if rows > limits.max_records:
            raise too_many_rows(limits)
        if record is not None:
            for cell in record:
                if cell is None:
                    continue  # openpyxl pads every row to the columns asked for
                cells += 1
                if cell.__class__ is str and len(cell) > EXCEL_MAX_CELL_CHARS:
                    raise UploadOverLimit(
                        f"칸의 글자가 너무 많습니다(최대 {EXCEL_MAX_CELL_CHARS:,}자). "
                        f"(A cell is too long: at most {EXCEL_MAX_CELL_CHARS:,} characters.)"
                    )
            if cells > limits.max_cells:
                raise _too_many_cells(limits)
        yield record
