"""Bulk import of households from a municipality's file: dry run, or all or nothing.

Through the API and the pages an import is a job (core.jobs): the request keeps the file and
answers at once, a worker parses, checks and applies it. Only a dry run of a small file is
answered in the request, as a person expects of a check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from core import jobs
from core.audit import record_access
from core.auth.principal import Principal
from core.crypto import blind_index
from core.db import db, transaction, utcnow
from core.errors import Invalid
from core.geo import DistrictRef
from core.outbox import Message
from core.spreadsheets import FileRejected, check_file
from core.uploads import MIB, upload_limits
from municipalities.household_file import (
    MAX_ROWS,
    ParseResult,
    RowProblem,
    parse_household_file,
)
from municipalities.models import Household, Municipality
from municipalities.schemas import ImportReportSchema
from municipalities.services import dedup_key, request_geocoding
from postal.services import district_index

KIND = "household_import"
#: A dry run of a file up to this size is answered in the request (about 25,000 CSV rows or
#: 7,000 XLSX rows: a second or so); a bigger one is a job like every real import, so that no
#: request holds a web worker's thread for long (a 200,000-row XLSX takes about a minute).
INLINE_DRY_RUN_BYTES = {"csv": 4 * MIB, "xlsx": MIB // 2}
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
        "accepted": list(problem.accepted),
    }


def _file_invalid(rejected: FileRejected) -> ImportFileInvalid:
    return ImportFileInvalid(rejected.message, fields={"file": [rejected.message]})


def import_file(
    principal: Principal, municipality: Municipality, data: bytes, filename: str, *, dry_run: bool
) -> ImportReport:
    """Parse a file within the configured upload limits and import it (or only check it)."""
    try:
        parsed = parse_household_file(data, filename, upload_limits(MAX_ROWS))
    except FileRejected as rejected:
        raise _file_invalid(rejected) from rejected
    return import_households(principal.actor_id, municipality, parsed, dry_run=dry_run)


def submit_file(
    principal: Principal, data: bytes, filename: str, *, dry_run: bool
) -> ImportReport | jobs.Job:
    """A small file's dry run answered now, or a job that imports (or checks) the file.

    Either way the file's format and size are checked first: a file that cannot be imported
    is refused at once (422 or 413) instead of becoming a job that fails.
    """
    try:
        file_format = check_file(data, filename, upload_limits(MAX_ROWS))
    except FileRejected as rejected:
        raise _file_invalid(rejected) from rejected
    if dry_run and len(data) <= INLINE_DRY_RUN_BYTES[file_format]:
        municipality = db.session.get(Municipality, principal.municipality_id)
        return import_file(principal, municipality, data, filename, dry_run=True)
    params = {"format": file_format, "dry_run": dry_run}
    return jobs.start(principal, KIND, data, params, municipality_id=principal.municipality_id)


def run_import_job(message: Message) -> None:
    """The outbox handler of a household import job (a real import, or a big file's dry run)."""
    jobs.run(message, _import_job)


def _import_job(job: jobs.RunningJob) -> None:
    """Parse and check the file with progress reports, then apply it in one transaction."""
    dry_run = bool(job.params["dry_run"])
    job.progress(jobs.PARSE)
    filename = f"upload.{job.params['format']}"
    try:
        parsed = parse_household_file(job.file, filename, upload_limits(MAX_ROWS), job.progress)
    except FileRejected as rejected:
        raise _file_invalid(rejected) from rejected
    # A household registered between this check and the write breaks the unique key there:
    # the job is tried again and this check then names the duplicate.
    with transaction():
        checked = check_households(job.municipality_id, parsed, dry_run=dry_run)
    report = checked.report
    if dry_run:
        job.apply(lambda: report_json(report))
    elif not report.accepted:
        job.refuse(ImportRefused(report), result=report_json(report))
    else:
        job.progress(jobs.WRITE, 0, len(checked.rows))
        job.apply(lambda: report_json(write_households(job.account_id, checked, ip=job.ip)))


def report_json(report: ImportReport) -> dict:
    """The report as the API answers it (a job's result)."""
    return ImportReportSchema().dump(report)


@dataclass
class ImportReport:
    """What an import found and did; `created` is 0 for a dry run or a refused import, and
    `created_ids` names the new households (ascending) for the result to list them."""

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
    created_ids: list[int] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return not self.errors


@dataclass
class CheckedImport:
    """A file's rows checked against the registry: the report, and what a write would insert."""

    municipality_id: int
    report: ImportReport
    #: (values, dedup key) of every row to insert, in file order.
    rows: list[tuple[dict, str]]
    #: The district of each row (None: outside every district, or no coordinates).
    refs: list[DistrictRef | None]


def import_households(
    account_id: int | None,
    municipality: Municipality,
    parsed: ParseResult,
    *,
    dry_run: bool,
) -> ImportReport:
    """Check parsed rows against the registry and, unless dry-run, insert all or nothing."""
    checked = check_households(municipality.id, parsed, dry_run=dry_run)
    if dry_run or not checked.report.accepted:
        return checked.report
    return write_households(account_id, checked)


def check_households(municipality_id: int, parsed: ParseResult, *, dry_run: bool) -> CheckedImport:
    """Name the rows already in the registry and find each other row's district."""
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
            sa.select(Household.dedup_key).where(Household.municipality_id == municipality_id)
        )
    )
    prepared = []
    for row in parsed.rows:
        values = row.values
        key = dedup_key(
            municipality_id, values["name"], values["road_address"], values["address_detail"]
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
    return CheckedImport(municipality_id, report, prepared, refs)


def write_households(
    account_id: int | None, checked: CheckedImport, *, ip: str | None = None
) -> ImportReport:
    """Insert the checked rows and log each as imported by the account (from `ip`, if given)."""
    municipality_id, prepared, refs = checked.municipality_id, checked.rows, checked.refs
    now = utcnow()
    for start in range(0, len(prepared), INSERT_BATCH):
        chunk = prepared[start : start + INSERT_BATCH]
        chunk_refs = refs[start : start + INSERT_BATCH]
        rows = [
            _import_row(municipality_id, account_id, values, key, ref, now)
            for (values, key), ref in zip(chunk, chunk_refs, strict=True)
        ]
        db.session.execute(_INSERT_HOUSEHOLDS, rows)
    ids = _created_ids(municipality_id, {key for _, key in prepared})
    for start in range(0, len(ids), INSERT_BATCH):
        chunk_ids = ids[start : start + INSERT_BATCH]
        record_access(account_id, "import", "household", chunk_ids, municipality_id, ip=ip)
    checked.report.created = len(prepared)
    checked.report.created_ids = ids
    if checked.report.not_geocoded:
        request_geocoding()
    return checked.report


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
