"""Bulk import of households from a municipality's file: dry run, or all-or-nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from core.audit import record_access
from core.crypto import blind_index
from core.db import db, utcnow
from core.errors import Invalid
from core.uploads import upload_limits
from municipalities.importing import (
    MAX_ROWS,
    FileRejected,
    ParseResult,
    RowProblem,
    parse_household_file,
)
from municipalities.models import Household, Municipality
from municipalities.services import dedup_key, district_index

INSERT_BATCH = 2000
# A Core executemany into the table, not the ORM bulk insert: the ORM leaves out None values, so
# rows with and without a phone or note fell into separate tiny executemany groups whose
# RETURNING results it spliced together again and again (quadratic). No RETURNING either: with
# it SQLAlchemy sends one huge multi-VALUES statement per 1,000 rows, which psycopg re-parses
# every time; without it psycopg pipelines one short prepared statement. Every row names every
# column, so the stored rows are the same; the column types (encryption, UTC) still apply.
_HOUSEHOLDS = Household.__table__
_INSERT_HOUSEHOLDS = sa.insert(_HOUSEHOLDS)


class ImportFileInvalid(Invalid):
    code = "import_file_invalid"


class ImportRefused(Invalid):
    """A real import with bad rows: nothing was written; every bad row is named."""

    code = "import_refused"

    def __init__(self, report: ImportReport):
        super().__init__(
            f"{len(report.errors)}개 행에 문제가 있어 아무것도 가져오지 않았습니다. "
            f"(Nothing imported: {len(report.errors)} row problem(s).)",
            fields={"rows": [problem_dict(p) for p in report.errors]},
        )


def problem_dict(problem: RowProblem) -> dict:
    """A row problem as JSON."""
    return {
        "row": problem.row,
        "column": problem.column,
        "code": problem.code,
        "message": problem.message,
    }


def import_file(
    account_id: int | None, municipality: Municipality, data: bytes, filename: str, *, dry_run: bool
) -> ImportReport:
    """Parse a file within the configured upload limits and import it (or only check it)."""
    try:
        parsed = parse_household_file(data, filename, upload_limits(MAX_ROWS))
    except FileRejected as rejected:
        raise ImportFileInvalid(rejected.message, fields={"file": [rejected.message]}) from rejected
    return import_households(account_id, municipality, parsed, dry_run=dry_run)


@dataclass
class ImportReport:
    """What an import found and did; `created` is 0 for a dry run or a refused import."""

    dry_run: bool
    encoding: str
    total_rows: int
    valid_rows: int
    created: int = 0
    errors: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)
    assigned: int = 0
    outside_districts: int = 0
    not_geocoded: int = 0

    @property
    def accepted(self) -> bool:
        return not self.errors


def import_households(
    account_id: int | None,
    municipality: Municipality,
    parsed: ParseResult,
    *,
    dry_run: bool,
) -> ImportReport:
    """Check parsed rows against the registry and, unless dry-run, insert all or nothing."""
    report = ImportReport(
        dry_run=dry_run,
        encoding=parsed.encoding,
        total_rows=parsed.total_rows,
        valid_rows=len(parsed.rows),
        errors=list(parsed.errors),
        warnings=list(parsed.warnings),
    )
    existing = set(
        db.session.scalars(
            sa.select(Household.dedup_key).where(Household.municipality_id == municipality.id)
        )
    )
    prepared = []
    for row in parsed.rows:
        values = row.values
        key = dedup_key(
            municipality.id, values["name"], values["road_address"], values["address_detail"]
        )
        if key in existing:
            report.errors.append(
                RowProblem(
                    row.row,
                    "",
                    "duplicate_in_registry",
                    "이미 등록된 가구입니다. (This household is already registered.)",
                )
            )
            continue
        prepared.append((values, key))
    report.errors.sort(key=lambda problem: (problem.row, problem.column))
    report.valid_rows = len(prepared)

    has_point = [v["lon"] is not None for v, _ in prepared]
    refs = district_index().locate_many(
        [v["lon"] if p else 0.0 for (v, _), p in zip(prepared, has_point, strict=True)],
        [v["lat"] if p else 0.0 for (v, _), p in zip(prepared, has_point, strict=True)],
    )
    refs = [ref if point else None for ref, point in zip(refs, has_point, strict=True)]
    report.not_geocoded = has_point.count(False)
    report.assigned = sum(ref is not None for ref in refs)
    report.outside_districts = len(prepared) - report.assigned - report.not_geocoded
    if dry_run or not report.accepted:
        return report

    now = utcnow()
    for start in range(0, len(prepared), INSERT_BATCH):
        chunk = prepared[start : start + INSERT_BATCH]
        chunk_refs = refs[start : start + INSERT_BATCH]
        rows = [
            _import_row(municipality.id, account_id, values, key, ref, now)
            for (values, key), ref in zip(chunk, chunk_refs, strict=True)
        ]
        db.session.execute(_INSERT_HOUSEHOLDS, rows)
    ids = _created_ids(municipality.id, {key for _, key in prepared})
    for start in range(0, len(ids), INSERT_BATCH):
        chunk_ids = ids[start : start + INSERT_BATCH]
        record_access(account_id, "import", "household", chunk_ids, municipality.id)
    report.created = len(prepared)
    return report


def _created_ids(municipality_id: int, keys: set[str]) -> list[int]:
    """The ids of the rows just inserted, ascending."""
    # (municipality, dedup_key) is unique and none of these keys existed before this
    # transaction (or the insert would have failed), so the keys name exactly the new rows.
    rows = db.session.execute(
        sa.select(_HOUSEHOLDS.c.id, _HOUSEHOLDS.c.dedup_key)
        .where(_HOUSEHOLDS.c.municipality_id == municipality_id)
        .order_by(_HOUSEHOLDS.c.id)
    )
    return [household_id for household_id, key in rows if key in keys]


def _import_row(municipality_id, account_id, values, key, ref, now) -> dict:
    point = values["lon"] is not None
    return {
        "municipality_id": municipality_id,
        "name": values["name"],
        "name_index": blind_index(values["name"]),
        "dedup_key": key,
        "phone": values["phone"],
        "note": values["note"],
        "road_address": values["road_address"],
        "address_detail": values["address_detail"],
        "postal_code": values["postal_code"],
        "household_type": values["household_type"],
        "risk_sources": values["risk_sources"],
        "lon": values["lon"],
        "lat": values["lat"],
        "geocode_status": "given" if point else "pending",
        "office_id": ref.office_id if ref else None,
        "district_id": ref.district_id if ref else None,
        "assignment_status": "assigned"
        if ref
        else ("outside_districts" if point else "not_geocoded"),
        "status": "active",
        "version": 1,
        "created_by": account_id,
        "created_at": now,
        "updated_at": now,
    }
