"""Benchmark: import generated households (with coordinates) on SQLite and PostgreSQL.

Run `.venv/bin/python bench/import_households.py [--rows 100000] [--db sqlite|postgresql|both]
[--format csv|xlsx]`. The import goes the API's way: POST /api/v1/households/imports answers
202 with a job, the outbox runs the job in-process (`deliver_due`, what a worker of the imports
queue does), GET /api/v1/jobs/{id} gives its result. Each database runs in its own subprocess,
so the reported peak memory (ru_maxrss) belongs to that import alone. Target on a 2-core
machine: >= 2,000 rows/s and <= 1 GB peak, encryption and district assignment included.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script from anywhere, like `flask` would

SEED = 2026
TARGET_ROWS_PER_S = 2_000
TARGET_PEAK_MB = 1024
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
HEADERS = ["성명", "도로명주소", "상세주소", "우편번호", "전화번호", "가구유형", "위기요인"]
HEADERS += ["경도", "위도", "메모"]
SAMPLE_SIZE = 50


def main() -> int:
    """Parse arguments and run the parent (table) or a worker (one database)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    parser.add_argument(
        "--postgres-url",
        help="an existing, empty PostgreSQL database to use (kept afterwards); "
        "default: a scratch bench_import_<pid> on 127.0.0.1:5432, dropped afterwards",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = run_worker(args)
        print(json.dumps(result))
        return 0
    return run_parent(args)


# --- parent ------------------------------------------------------------------------------------


def run_parent(args: argparse.Namespace) -> int:
    """Generate the file once, import it in one subprocess per database, print the table."""
    print_machine()
    workdir = Path(tempfile.mkdtemp(prefix="bench_import_"))
    try:
        path = workdir / f"households.{args.format}"
        started = time.perf_counter()
        rows_written = write_file(path, args.rows, args.format)
        generated_s = time.perf_counter() - started
        print(
            f"generated {rows_written:,} households -> {args.format} "
            f"{path.stat().st_size / 1e6:.1f} MB in {generated_s:.1f} s (not timed below)\n"
        )
        databases = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
        results, failures = [], []
        for database in databases:
            command = [sys.executable, str(Path(__file__).resolve()), "--worker", database]
            command += ["--rows", str(args.rows), "--format", args.format, "--file", str(path)]
            if args.postgres_url:
                command += ["--postgres-url", args.postgres_url]
            # The worker's logging goes to stderr and is shown; its stdout is one JSON line.
            done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
            if done.returncode != 0:
                failures.append(f"{database}: worker exited with {done.returncode}")
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(result)
            failures += [f"{database}: {problem}" for problem in result["problems"]]
        print_table(results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


def print_machine() -> None:
    """CPU model, cores, Python and library versions."""
    import sqlite3

    import sqlalchemy

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(f"machine : {cpu}, {os.cpu_count()} cores, {platform.platform()}")
    print(
        f"python  : {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
        f"SQLite {sqlite3.sqlite_version}"
    )


def print_table(results: list[dict]) -> None:
    """One line per database; the split columns add up to the total."""
    if not results:
        return
    for result in results:
        print(f"{result['database']:<10}: {result['server']}")
    header = (
        f"{'database':<10} {'format':<6} {'rows':>8} {'seconds':>8} {'rows/s':>8} "
        f"{'peak MB':>8} {'(before)':>8} | {'accept':>6} {'parse':>6} {'check':>6} "
        f"{'insert':>6} {'commit':>6} {'job':>6} {'(db io)':>7} | target verified"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        split = r["split"]
        met = r["rows_per_s"] >= TARGET_ROWS_PER_S and r["peak_mb"] <= TARGET_PEAK_MB
        print(
            f"{r['database']:<10} {r['format']:<6} {r['rows']:>8,} {r['seconds']:>8.1f} "
            f"{r['rows_per_s']:>8,.0f} {r['peak_mb']:>8.0f} {r['rss_before_import_mb']:>8.0f} | "
            f"{split['accept']:>6.1f} {split['parse']:>6.1f} {split['check']:>6.1f} "
            f"{split['insert']:>6.1f} {split['commit']:>6.1f} {split['job']:>6.1f} "
            f"{split['db_io']:>7.1f} | "
            f"{'met' if met else 'MISSED':<6} {'ok' if not r['problems'] else 'FAILED'}"
        )
    print(
        f"\ntarget: >= {TARGET_ROWS_PER_S:,} rows/s and <= {TARGET_PEAK_MB:,} MB peak RSS "
        "(parse, validate, dedup, encrypt, assign districts, insert, access log, commit)."
    )
    print(
        "peak MB = RSS high-water mark of the import's own process; (before) = that mark just "
        "before the import (app, migrations, network, file bytes)."
    )
    print(
        "split (s): accept = the POST (format and size checked, file encrypted into the job, "
        "outbox message; answered 202); parse = read + validate the file; check = dedup against "
        "the registry + district lookup; insert = encrypt + INSERT households + access log; "
        "commit = of that one transaction, with the job marked done; job = the rest of the "
        "job's run (claim, decrypting the file, progress reports); (db io) = time inside the DB "
        "driver's execute, part of the others."
    )


# --- the file ----------------------------------------------------------------------------------


def demo_area():
    """The union of the demo districts: every generated household lands in a district."""
    import shapely

    from demo.world import generate_world

    world = generate_world(seed=SEED, households=0)
    # Like generate_world's own households: the raw outline may stick out past the snapped
    # district tiling by a hair, and a point there would belong to no district.
    return shapely.union_all([d.geometry for d in world.districts], grid_size=1e-9)


def file_rows(count: int):
    """The generated households as file cells, Korean labels as a municipality would write."""
    from demo.world import generate_households
    from municipalities.vocabulary import HOUSEHOLD_TYPES, RISK_SOURCES

    for h in generate_households(count, SEED, area=demo_area()):
        yield [
            h.name,
            h.road_address,
            h.address_detail or "",
            h.postal_code,
            h.phone or "",
            HOUSEHOLD_TYPES[h.household_type],
            ";".join(RISK_SOURCES[code] for code in h.risk_sources),
            f"{h.lon:.6f}",
            f"{h.lat:.6f}",
            h.note or "",
        ]


def write_file(path: Path, count: int, file_format: str) -> int:
    """Write `count` generated households as an Excel-style CSV (UTF-8 BOM, CRLF) or XLSX."""
    written = 0
    if file_format == "csv":
        with path.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(HEADERS)
            for cells in file_rows(count):
                writer.writerow(cells)
                written += 1
        return written
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)  # streams rows to disk instead of holding 100k cells
    sheet = workbook.create_sheet()
    sheet.append(HEADERS)
    for cells in file_rows(count):
        # Coordinates as numbers, codes and phones as text: what Excel would hold.
        cells[7], cells[8] = float(cells[7]), float(cells[8])
        sheet.append([cell if cell != "" else None for cell in cells])
        written += 1
    workbook.save(path)
    return written


# --- worker ------------------------------------------------------------------------------------


def run_worker(args: argparse.Namespace) -> dict:
    """Fresh database, migrations, demo network, then the timed import and its verification."""
    with scratch_database(args.worker, args.postgres_url) as url:
        return import_into(url, args)


@contextmanager
def scratch_database(database: str, postgres_url: str | None):
    """A fresh SQLite file, or a PostgreSQL database created and dropped around the run."""
    if database == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="bench_import_sqlite_"))
        try:
            yield f"sqlite:///{directory / 'bench.db'}"
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    if postgres_url:
        yield postgres_url
        return
    import psycopg

    name = f"bench_import_{os.getpid()}"
    admin = f"{DEFAULT_POSTGRES}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{DEFAULT_POSTGRES}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def import_into(url: str, args: argparse.Namespace) -> dict:
    """Set up the app on `url`, time the import of the file as a job, verify what was stored."""
    from cryptography.fernet import Fernet
    from flask_migrate import upgrade

    from app import create_app
    from core.db import db, transaction

    app = create_app(
        {
            "ENV": "bench",
            "SECRET_KEY": "bench-secret-key-not-for-production",
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "BLIND_INDEX_KEY": "bench-blind-index-key",
            "SQLALCHEMY_DATABASE_URI": url,
            "MIGRATIONS_DIR": str(REPO / "migrations"),
            "LOG_LEVEL": "WARNING",  # keep alembic's per-migration INFO lines out of the table
        }
    )
    with app.app_context():
        upgrade(directory=str(REPO / "migrations"))
        with transaction():
            municipality_id = load_network()
            token = social_worker_token(municipality_id)
        server = server_version()
        data = Path(args.file).read_bytes()
        rss_before_mb = peak_rss_mb()
        timings = Timings()
        with timings.installed(db.engine):
            started = time.perf_counter()
            job = timed_import(app, token, data, args.format, timings)
            finished = time.perf_counter()
        del data
        seconds = finished - started
        peak_mb = peak_rss_mb()
        problems = verify(municipality_id, args.file, args.rows, job)
        db.engine.dispose()
    return {
        "database": args.worker,
        "server": server,
        "format": args.format,
        "rows": args.rows,
        "seconds": seconds,
        "rows_per_s": args.rows / seconds,
        "peak_mb": peak_mb,
        "rss_before_import_mb": rss_before_mb,
        "split": {
            "accept": timings.accept,
            "parse": timings.parse,
            "check": timings.check,
            "insert": timings.insert,
            "commit": timings.commit,
            "job": seconds
            - timings.accept
            - timings.parse
            - timings.check
            - timings.insert
            - timings.commit,
            "db_io": timings.db_io,
        },
        "problems": problems,
    }


def social_worker_token(municipality_id: int) -> str:
    """A bearer token of a new social worker of the municipality (who uploads the file)."""
    import secrets

    from core.auth.principal import COMMAND_LINE
    from core.auth.roles import Role
    from core.auth.services import NewAccount, create_account, issue_token

    new = NewAccount(
        username="bench.importer",
        display_name="가져오기 측정",
        password=secrets.token_urlsafe(24),  # never typed: the bench uses the token
        role=Role.SOCIAL_WORKER,
        municipality_id=municipality_id,
    )
    account = create_account(COMMAND_LINE, new)
    return issue_token(account)


def load_network() -> int:
    """The demo gu, its delivery office and districts (no households); the municipality's id."""
    import sqlalchemy as sa

    from core.db import db
    from demo.cli import load_demo
    from municipalities.models import Municipality

    world, _ = load_demo(SEED, households=0)
    return db.session.scalar(
        sa.select(Municipality.id).where(Municipality.code == world.municipality.code)
    )


class Timings:
    """Seconds spent answering the upload, parsing, checking against the registry, inserting,
    committing, and inside the database driver."""

    def __init__(self) -> None:
        self.accept = 0.0
        self.parse = 0.0
        self.check = 0.0
        self.insert = 0.0
        self.commit = 0.0
        self.db_io = 0.0
        self.check_started = 0.0

    @contextmanager
    def installed(self, engine):
        """Count the time of every statement executed on `engine`."""
        from sqlalchemy import event

        def before(conn, cursor, statement, parameters, context, executemany):
            conn.info["bench_started"] = time.perf_counter()

        def after(conn, cursor, statement, parameters, context, executemany):
            self.db_io += time.perf_counter() - conn.info.pop("bench_started")

        listeners = [("before_cursor_execute", before), ("after_cursor_execute", after)]
        for name, function in listeners:
            event.listen(engine, name, function)
        try:
            yield self
        finally:
            for name, function in listeners:
                event.remove(engine, name, function)


def timed_import(app, token: str, data: bytes, file_format: str, timings: Timings) -> dict:
    """POST the file (202, a job), run the job as a worker would, GET it; phases timed from
    outside: parse and check by wrapping their functions, insert and commit around the write."""
    import io

    from core import jobs
    from core.outbox import deliver_due
    from municipalities import household_import

    parse, locate = household_import.parse_household_file, household_import.district_index
    write, apply = household_import.write_households, jobs.RunningJob.apply

    def timed_parse(*args, **kwargs):
        started = time.perf_counter()
        try:
            return parse(*args, **kwargs)
        finally:
            timings.parse += time.perf_counter() - started
            # The registry checks run from here until the district index is asked for.
            timings.check_started = time.perf_counter()

    class TimedIndex:
        def __init__(self, index):
            self._index = index

        def locate_many(self, lons, lats):
            try:
                return self._index.locate_many(lons, lats)
            finally:
                timings.check += time.perf_counter() - timings.check_started

    def timed_write(*args, **kwargs):
        started = time.perf_counter()
        try:
            return write(*args, **kwargs)
        finally:
            timings.insert += time.perf_counter() - started

    def timed_apply(self, work):
        started, inserted = time.perf_counter(), timings.insert
        try:
            return apply(self, work)
        finally:
            # The transaction around the insert: taking the job's row, the commit, the result.
            timings.commit += time.perf_counter() - started - (timings.insert - inserted)

    household_import.parse_household_file = timed_parse
    household_import.district_index = lambda: TimedIndex(locate())
    household_import.write_households = timed_write
    jobs.RunningJob.apply = timed_apply
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    try:
        started = time.perf_counter()
        response = client.post(
            "/api/v1/households/imports?dry_run=false",
            data={"file": (io.BytesIO(data), f"bench.{file_format}")},
            content_type="multipart/form-data",
            headers=headers,
        )
        timings.accept = time.perf_counter() - started
        if response.status_code != 202:
            raise SystemExit(f"upload refused: {response.status_code} {response.get_json()}")
        run = deliver_due()
        job = client.get(response.headers["Location"], headers=headers).get_json()
    finally:
        household_import.parse_household_file, household_import.district_index = parse, locate
        household_import.write_households, jobs.RunningJob.apply = write, apply
    if run.sent != 1 or job["status"] != "done":
        raise SystemExit(f"import job {job['status']}: {job['error']} ({run})")
    return job


def server_version() -> str:
    """The database engine and version."""
    import sqlite3

    from core.db import db

    if db.engine.dialect.name == "sqlite":
        return f"SQLite {sqlite3.sqlite_version} (file, WAL, synchronous=NORMAL)"
    with db.engine.connect() as conn:
        version = conn.exec_driver_sql("SHOW server_version").scalar()
    return f"PostgreSQL {version} (127.0.0.1, psycopg {_psycopg_version()})"


def _psycopg_version() -> str:
    import psycopg

    return psycopg.__version__


def peak_rss_mb() -> float:
    """The process's RSS high-water mark (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def verify(municipality_id: int, path: str, rows: int, job: dict) -> list[str]:
    """The job's report and file, count, district assignment, access log and a decrypted sample
    against the file."""
    import sqlalchemy as sa

    from core.audit import AccessLog
    from core.crypto import blind_index
    from core.db import db
    from core.jobs import Job
    from municipalities.household_file import parse_household_file
    from municipalities.models import Household

    problems = []
    if job["result"]["created"] != rows:
        problems.append(f"report says {job['result']['created']} created, expected {rows}")
    if db.session.get(Job, job["id"]).file is not None:
        problems.append("the finished job still holds the file")
    in_municipality = Household.municipality_id == municipality_id
    count = db.session.scalar(sa.select(sa.func.count()).where(in_municipality))
    if count != rows:
        problems.append(f"{count} households stored, expected {rows}")
    assigned = db.session.scalar(
        sa.select(sa.func.count()).where(
            in_municipality,
            Household.assignment_status == "assigned",
            Household.district_id.is_not(None),
            Household.office_id.is_not(None),
        )
    )
    if assigned != rows:
        problems.append(f"{assigned} of {rows} households assigned to a district")
    logged = db.session.scalar(
        sa.select(sa.func.count()).where(
            AccessLog.action == "import", AccessLog.subject_type == "household"
        )
    )
    if logged != rows:
        problems.append(f"{logged} access-log rows, expected {rows}")

    # Rows are inserted in file order, so the k-th id is the k-th data row of the file.
    expected = parse_household_file(Path(path).read_bytes(), Path(path).name).rows
    ids = db.session.scalars(sa.select(Household.id).where(in_municipality).order_by(Household.id))
    ids = ids.all()
    comparable = min(len(ids), len(expected))
    picks = sorted(random.Random(SEED).sample(range(comparable), min(SAMPLE_SIZE, comparable)))
    for pick in picks:
        household = db.session.get(Household, ids[pick])
        want = expected[pick].values
        got = {key: getattr(household, key) for key in ("name", "phone", "note", "road_address")}
        if any(got[key] != want[key] for key in got):
            problems.append(f"row {pick + 2}: stored {got!r} != file {want!r}")
        elif household.name_index != blind_index(want["name"]):
            problems.append(f"row {pick + 2}: name_index does not match the name")
    return problems


if __name__ == "__main__":
    sys.exit(main())
