"""Parallel submissions never share a registered number (real processes, real commits)."""

from __future__ import annotations

import multiprocessing
import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from app import create_app
from core.auth.principal import COMMAND_LINE
from core.auth.roles import Role
from core.clock import next_working_day, seoul_today
from core.db import db, transaction
from municipalities import household_import
from municipalities.mail import services as mail
from municipalities.mail.models import MailItem
from municipalities.mail.registered_numbers import is_valid
from municipalities.models import Household
from tests.conftest import TEST_KEYS
from tests.support.factories import (
    make_account,
    make_district,
    make_municipality,
    make_office,
    square,
)
from tests.support.household_file_builders import to_csv, valid_rows

MIGRATIONS = str(Path(__file__).resolve().parents[3] / "migrations")
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _submit(url: str, account_id: int, template_id: int, household_ids: list[int], queue) -> None:
    """One worker: its own app, engine and transaction, as a separate web worker would have."""
    from core.auth.models import Account
    from core.auth.services import principal_for

    app = create_app({"ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, **TEST_KEYS})
    with app.app_context():
        principal = principal_for(db.session.get(Account, account_id))
        today = seoul_today()
        send = next_working_day(today + timedelta(days=1))
        with transaction():
            mailing = mail.create_mailing(
                principal,
                mail.NewMailing(
                    title="병렬",
                    template_id=template_id,
                    selection={"household_ids": household_ids},
                    send_date=send,
                ),
                today,
            )
            mail.submit_mailing(principal, mailing.id, today)
        queue.put(mailing.id)


def _prepare(url: str, households: int) -> tuple[int, int, list[int]]:
    app = create_app({"ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, **TEST_KEYS})
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        with transaction():
            municipality = make_municipality()
            office = make_office()
            make_district(office, square(126.8, 37.4, 0.4))
            account = make_account(Role.SOCIAL_WORKER, municipality_id=municipality.id)
            data = to_csv(valid_rows(households, seed=7))
            report = household_import.import_file(
                COMMAND_LINE, municipality, data, "h.csv", dry_run=False
            )
            assert report.created == households and report.assigned == households
            from core.auth.services import principal_for

            template = mail.create_template(
                principal_for(account),
                mail.NewTemplate(name="t", body="{addressee}님", contact="복지팀"),
            )
        ids = db.session.scalars(sa.select(Household.id).order_by(Household.id)).all()
        return account.id, template.id, list(ids)


def _run_parallel(url: str, workers: int, per_worker: int) -> list[str]:
    account_id, template_id, ids = _prepare(url, workers * per_worker)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [
        context.Process(
            target=_submit,
            args=(url, account_id, template_id, ids[i * per_worker : (i + 1) * per_worker], queue),
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(300)
    assert [p.exitcode for p in processes] == [0] * workers
    app = create_app({"ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, **TEST_KEYS})
    with app.app_context():
        numbers = db.session.scalars(sa.select(MailItem.registered_number)).all()
        db.engine.dispose()
    return numbers


@pytest.mark.slow
@pytest.mark.no_db_rollback
def test_eight_parallel_submissions_on_postgresql_get_distinct_numbers():
    if not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"):
        pytest.skip("PostgreSQL run only (TEST_DATABASE_URL)")
    name = f"welfare_alloc_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        numbers = _run_parallel(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", 8, 1000)
        print(f"8 parallel submissions: {len(numbers)} items, {len(set(numbers))} distinct numbers")
        assert len(numbers) == len(set(numbers)) == 8000
        assert all(is_valid(n) for n in numbers)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@pytest.mark.no_db_rollback
def test_parallel_submissions_on_sqlite_get_distinct_numbers(tmp_path):
    numbers = _run_parallel(f"sqlite:///{tmp_path}/alloc.db", 3, 100)
    assert len(numbers) == len(set(numbers)) == 300
    assert all(is_valid(n) for n in numbers)
