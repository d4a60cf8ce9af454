"""The household file template a municipality fills in: CSV and XLSX, built from the importer's
own columns (municipalities.household_file.COLUMNS) and vocabularies, so it cannot drift."""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from municipalities.household_file import COLUMNS, Column

DATA_SHEET = "가구"
GUIDE_SHEET = "입력 안내"
#: How many rows of the data sheet get the dropdowns and the text format.
TEMPLATE_ROWS = 1000
#: Columns Excel would turn into numbers, dropping a leading zero (03154, 010-…).
_TEXT_COLUMNS = ("postal_code", "phone")
_NUMBER_COLUMNS = ("lon", "lat")
_BOLD = Font(bold=True)


def coded_columns() -> list[Column]:
    """The columns whose values come from a vocabulary, in file order."""
    return [column for column in COLUMNS if column.values is not None]


def template_csv() -> bytes:
    """The header and the example row, in UTF-8 with a BOM so that Excel reads it as UTF-8."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow([column.korean for column in COLUMNS])
    writer.writerow([column.example for column in COLUMNS])
    return text.getvalue().encode("utf-8-sig")


def template_xlsx() -> bytes:
    """A workbook: the header and example row on the first sheet (the one the importer reads),
    dropdowns on its coded columns, and a guide sheet with every column's accepted values."""
    workbook = Workbook()
    data = workbook.active
    data.title = DATA_SHEET
    guide = workbook.create_sheet(GUIDE_SHEET)
    value_ranges = _write_guide(guide)
    data.append([column.korean for column in COLUMNS])
    data.append([_typed_example(column) for column in COLUMNS])
    data.freeze_panes = "A2"
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        data.cell(1, index).font = _BOLD
        data.column_dimensions[letter].width = max(12, 2 * len(column.example) + 2)
        cells = f"{letter}2:{letter}{TEMPLATE_ROWS + 1}"
        if column.key in _TEXT_COLUMNS:
            for (cell,) in data[cells]:
                cell.number_format = "@"
        if column.key in value_ranges:
            data.add_data_validation(_dropdown(column, value_ranges[column.key], cells))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _typed_example(column: Column) -> str | float:
    """The example as Excel would hold it: coordinates as numbers, the rest as text."""
    return float(column.example) if column.key in _NUMBER_COLUMNS else column.example


def _dropdown(column: Column, values: str, cells: str) -> DataValidation:
    """A list of the column's labels to pick from; several risk sources in one cell are still
    allowed, so a value off the list only warns (the importer checks every value anyway)."""
    several = column.key == "risk_sources"
    validation = DataValidation(
        type="list",
        formula1=values,
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="warning" if several else "stop",
        errorTitle=column.korean,
        error=f"{column.korean}: '{GUIDE_SHEET}' 시트의 값을 적어 주세요.",
        promptTitle=column.korean,
        prompt=column.hint,
        showInputMessage=True,
    )
    validation.add(cells)
    return validation


def _write_guide(guide: Worksheet) -> dict[str, str]:
    """Every column with its hint and example, then each coded column's values with the other
    spellings the importer takes; returns each coded column's label range for its dropdown."""
    guide.append(["열", "입력 방법", "예"])
    for column in COLUMNS:
        guide.append([column.korean, column.hint, column.example])
    ranges: dict[str, str] = {}
    for column in coded_columns():
        assert column.values is not None
        guide.append([])
        guide.append([f"{column.korean}: 가능한 값", "코드", "같이 받는 다른 표기"])
        guide.cell(guide.max_row, 1).font = _BOLD
        first = guide.max_row + 1
        for code, label in column.values.labels.items():
            guide.append([label, code, ", ".join(column.values.synonyms.get(code, ()))])
        ranges[column.key] = f"{quote_sheetname(GUIDE_SHEET)}!$A${first}:$A${guide.max_row}"
    for cell in guide[1]:
        cell.font = _BOLD
    for letter, width in zip("ABC", (30, 34, 60), strict=True):
        guide.column_dimensions[letter].width = width
    return ranges
