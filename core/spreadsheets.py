"""Reading uploaded spreadsheets (CSV in UTF-8 or CP949, or XLSX) into rows of cells, within the
upload limits; what the rows mean is the importer's business."""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from openpyxl import load_workbook

from core.errors import ApiError
from core.jobs import PARSE, VALIDATE
from core.uploads import (
    UploadLimits,
    bounded_records,
    check_xlsx,
    check_xlsx_directory,
    csv_lines,
)

# Cells beyond this column are ignored: a hostile sheet could claim 16,384 columns per row.
_MAX_XLSX_COLUMNS = 200
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_TEXT_SUFFIXES = ("", "csv", "tsv", "txt")

NO_DATA_MESSAGE = "파일에 데이터 행이 없습니다. (The file has no data rows.)"
_CORRUPT_XLSX = (
    "엑셀 파일을 열 수 없습니다. 손상되었거나 .xlsx 형식이 아닙니다. "
    "(The Excel file cannot be opened: it is corrupt or not .xlsx.)"
)
#: Rows between two progress reports of a job (the report itself is throttled in time).
PROGRESS_ROWS = 1000

#: A job's progress report: phase, rows done, rows in all (None: not known yet).
Progress = Callable[[str, int, int | None], None]

#: The cells of one spreadsheet row, or None when its bytes could not be decoded.
Record = Sequence[Any] | None


class FileRejected(Exception):
    """The file as a whole cannot be imported; message is Korean first, English in parentheses."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def header_key(text: str) -> str:
    """Header cells match case-, width-, space- and underscore-insensitively."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(folded.split()).replace("_", "").replace("-", "")


def cell_text(raw: Any) -> str | None:
    """A cell as stripped NFC text (macOS writes decomposed Hangul); empty -> None."""
    if raw is None:
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # Excel stores 101 as 101.0; the detail "101" must not become "101.0"
    text = unicodedata.normalize("NFC", str(raw)).strip()
    return text or None


def check_file(data: bytes, filename: str, limits: UploadLimits) -> str:
    """A quick look at a file before a job keeps it: its format, 'csv' or 'xlsx'.

    The format, the size and the CSV's lines or the workbook's zip directory are checked
    (nothing is inflated or parsed); FileRejected or the limits' 413/422 refuse the file.
    """
    kind = _file_kind(data, filename)
    if kind == "xlsx":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                check_xlsx_directory(archive, limits)
        except ApiError:
            raise
        except Exception as exc:  # zipfile has many ways to fail on broken input
            raise FileRejected(_CORRUPT_XLSX) from exc
        return kind
    body = data.removeprefix(codecs.BOM_UTF8)
    if not body.strip():
        raise FileRejected(NO_DATA_MESSAGE)
    csv_lines(body, limits)
    return kind


def read_records(data: bytes, filename: str, limits: UploadLimits) -> tuple[str, Iterator[Record]]:
    """The encoding ('xlsx' for a workbook) and the rows of a CSV or XLSX file, within limits.

    A row is its cells, or None when its bytes are not in the file's encoding. Beyond the
    limits, reading raises core.uploads' UploadTooLarge (413) or UploadOverLimit (422).
    """
    if _file_kind(data, filename) == "xlsx":
        encoding, records = "xlsx", _xlsx_records(data, limits)
    else:
        encoding, records = _csv_records(data, limits)
    return encoding, bounded_records(records, limits)


def read_all(records: Iterator[Record], progress: Progress) -> list[Record]:
    """Every record (bounded by read_records' limits), reporting how many were read."""
    read = []
    for record in records:
        read.append(record)
        if len(read) % PROGRESS_ROWS == 0:
            progress(PARSE, len(read), None)
    return read


def report_checking(records: list[Record], progress: Progress) -> Iterator[Record]:
    """The records, reporting how many rows after the header the consumer has checked."""
    total = max(len(records) - 1, 0)
    progress(VALIDATE, 0, total)
    for index in range(len(records)):
        # Let go of each record once handed over: the checked rows take the memory it held.
        record, records[index] = records[index], None
        yield record  # resumed once the consumer has checked this record
        if index and index % PROGRESS_ROWS == 0:
            progress(VALIDATE, index, total)
    progress(VALIDATE, total, total)


def _file_kind(data: bytes, filename: str) -> str:
    """'xlsx' or 'csv', or FileRejected for formats that are neither."""
    suffix = filename.rpartition(".")[2].lower() if "." in filename else ""
    if suffix == "xlsx" or data.startswith(_ZIP_MAGIC):
        return "xlsx"
    if suffix == "xls" or data.startswith(_OLE_MAGIC):
        raise FileRejected(
            "예전 엑셀(.xls) 형식은 지원하지 않습니다. .xlsx 또는 CSV로 저장해 주세요. "
            "(Legacy .xls files are not supported; save as .xlsx or CSV.)"
        )
    if data.startswith(_UTF16_BOMS):
        raise FileRejected(
            "UTF-16(유니코드 텍스트) 파일은 지원하지 않습니다. CSV(UTF-8)로 저장해 주세요. "
            "(UTF-16 text is not supported; save as CSV UTF-8.)"
        )
    if suffix not in _TEXT_SUFFIXES:
        raise FileRejected(
            "지원하지 않는 파일 형식입니다. CSV 또는 .xlsx 파일을 올려 주세요. "
            "(Unsupported file format; upload a CSV or .xlsx file.)"
        )
    return "csv"


# --- CSV ---------------------------------------------------------------------------------------


def _csv_records(data: bytes, limits: UploadLimits) -> tuple[str, Iterator[Record]]:
    """The detected encoding and the records of a CSV file."""
    if data.startswith(codecs.BOM_UTF8):
        encoding, body = "utf-8-sig", data[len(codecs.BOM_UTF8) :]
    else:
        body = data
        try:
            body.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "cp949"
    # bytes.splitlines splits only on \n, \r and \r\n, none of which occurs inside a
    # multi-byte UTF-8 or CP949 character, so decoding line by line is safe.
    lines = [_decode_line(line, encoding) for line in csv_lines(body, limits)]
    return encoding, _csv_rows(lines)


def _decode_line(line: bytes, encoding: str) -> str | None:
    """One line as text, or None when it is not in the file's encoding."""
    if encoding == "cp949" and not line.isascii():
        try:
            line.decode("utf-8")
            return None  # a UTF-8 line pasted into a CP949 file would become mojibake
        except UnicodeDecodeError:
            pass
    try:
        return line.decode("utf-8" if encoding == "utf-8-sig" else encoding)
    except UnicodeDecodeError:
        return None


def _csv_rows(lines: list[str | None]) -> Iterator[Record]:
    """Records of the decoded lines; a record spanning an undecodable line becomes None."""
    header = next((line for line in lines if line and line.strip()), "")
    delimiter = "\t" if "\t" in header and "," not in header else ","
    # splitlines() dropped the line ends; a quoted cell spanning lines needs them back.
    reader = csv.reader((f"{line or ''}\n" for line in lines), delimiter=delimiter)
    consumed = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileRejected(
                f"CSV 형식을 읽을 수 없습니다({reader.line_num}번째 줄 근처). "
                f"(The CSV is malformed near line {reader.line_num}.)"
            ) from exc
        # A quoted cell may span several lines: the record is bad if any of them was.
        spanned = lines[consumed : reader.line_num]
        consumed = reader.line_num
        yield None if None in spanned else cells


# --- XLSX --------------------------------------------------------------------------------------


def _xlsx_records(data: bytes, limits: UploadLimits) -> Iterator[Record]:
    """Rows of the first sheet, cached values instead of formulas, gaps filled with empty rows."""
    corrupt = FileRejected(_CORRUPT_XLSX)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            check_xlsx(archive, limits)  # before openpyxl expands anything
    except ApiError:
        raise
    except Exception as exc:  # zipfile too has many ways to fail on broken input
        raise corrupt from exc
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl fails on broken input with all kinds of exceptions
        raise corrupt from exc
    try:
        sheet = workbook.worksheets[0]
        # Trust the cells, not the sheet's declared dimensions, which may be absurd.
        sheet.reset_dimensions()
        yield from sheet.iter_rows(max_col=_MAX_XLSX_COLUMNS, values_only=True)
    except Exception as exc:  # the sheet XML is parsed lazily, so corruption shows up here
        raise corrupt from exc
    finally:
        workbook.close()
