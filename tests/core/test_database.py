"""The database layer: SQLite safety settings, the one transaction owner, no lost updates."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest
import sqlalchemy as sa

from core.db import db, on_commit, transaction
from municipalities.models import Municipality


@pytest.mark.no_db_rollback
def test_sqlite_connections_get_the_safe_settings(app):
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "secure_delete")
        }
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 10000,
        "secure_delete": 1,
    }


def test_transaction_commits_once_and_runs_callbacks_after_commit(ctx):
    seen = []
    with transaction():
        db.session.add(Municipality(code="90001", name="커밋시"))
        on_commit(lambda: seen.append("sent"))
        assert seen == []
    assert seen == ["sent"]
    assert db.session.scalar(sa.select(Municipality.id).where(Municipality.code == "90001"))


def test_transaction_rolls_back_everything_and_drops_callbacks_on_error(ctx):
    seen = []
    with pytest.raises(RuntimeError), transaction():
        db.session.add(Municipality(code="90002", name="롤백시"))
        db.session.flush()
        on_commit(lambda: seen.append("sent"))
        raise RuntimeError("boom")
    assert seen == []
    assert db.session.scalar(sa.select(Municipality.id).where(Municipality.code == "90002")) is None


def test_a_failing_callback_does_not_undo_the_commit(ctx, caplog):
    def fail() -> None:
        raise ValueError("push service down")

    with transaction():
        db.session.add(Municipality(code="90003", name="콜백시"))
        on_commit(fail)
    assert "on_commit callback" in caplog.text
    assert db.session.scalar(sa.select(Municipality.id).where(Municipality.code == "90003"))


def _increment(url: str, times: int) -> None:
    """Read-modify-write in separate transactions through the app's engine setup."""
    engine = sa.create_engine(url)
    for _ in range(times):
        with engine.begin() as conn:
            value = conn.exec_driver_sql("SELECT n FROM counter").scalar()
            conn.exec_driver_sql(f"UPDATE counter SET n = {value + 1}")
    engine.dispose()


@pytest.mark.no_db_rollback
def test_concurrent_read_modify_write_loses_no_update_on_sqlite(tmp_path):
    """Without BEGIN IMMEDIATE most of these updates were silently lost (pysqlite begins lazily)."""
    import core.db  # noqa: F401 - installs the SQLite listeners in the child processes too

    path = tmp_path / "counter.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE counter (n INTEGER)")
        conn.execute("INSERT INTO counter VALUES (0)")
    url = f"sqlite:///{path}"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_increment, args=(url, 100)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert all(worker.exitcode == 0 for worker in workers)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT n FROM counter").fetchone()[0] == 400


@pytest.mark.parametrize("table", ["access_log", "permission_events"])
def test_logs_are_append_only_in_the_database_itself(ctx, world, table):
    """Even SQL that bypasses the ORM cannot rewrite or prune a log row inside its retention."""
    from core.audit import record_access
    from core.auth.models import PermissionEvent

    record_access(world.admin.id, "view", "household", [1], world.a.municipality.id)
    db.session.add(PermissionEvent(account_id=world.admin.id, action="grant"))
    db.session.flush()
    for statement in (f"UPDATE {table} SET ip = '10.0.0.1'", f"DELETE FROM {table}"):
        with pytest.raises(sa.exc.DatabaseError), db.session.begin_nested():
            db.session.execute(sa.text(statement))
    assert db.session.scalar(sa.text(f"SELECT count(*) FROM {table}")) > 0
