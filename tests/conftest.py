"""Test fixtures: one migrated database per run, one rolled-back transaction per test."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy.orm import scoped_session, sessionmaker

from app import create_app
from core.db import db
from tests.support.desk import Desk, set_up_desk
from tests.support.factories import World, build_world
from tests.support.schemathesis_counts import ARTIFACT, COUNTS
from tests.support.scratch import scratch_database

TEST_KEYS = {
    "SECRET_KEY": "test-secret-key-not-for-production",
    # Fixed, so that worker processes a test spawns share it (never a production key).
    "ENCRYPTION_KEYS": base64.urlsafe_b64encode(b"welfare-post test key: 32 bytes!").decode(),
    "BLIND_INDEX_KEY": "test-blind-index-key",
}


def database_url(tmp_path_factory) -> str:
    """PostgreSQL when TEST_DATABASE_URL is set, otherwise a fresh SQLite file."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def reset_database(engine: sa.Engine) -> None:
    """Drop everything so the migrations build the schema from nothing."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")


@pytest.fixture(scope="session")
def app_config(tmp_path_factory) -> dict:
    return {
        "ENV": "testing",
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url(tmp_path_factory),
        "RATELIMIT_LOGIN": "1000 per minute",
        "RATELIMIT_TRACKING": "1000 per minute",
        # Many tests enrol phones within a minute from one address; the limit has its own test.
        "RATELIMIT_DEVICE_AUTH": "1000 per minute",
        "WEBHOOK_ALLOW_HTTP_LOOPBACK": True,
        # One rolled-back connection per test: no second connection renews a running lease.
        "OUTBOX_HEARTBEAT_S": 0,
        "LETTERS_DIR": str(tmp_path_factory.mktemp("letters")),
        "MIGRATIONS_DIR": str(Path(__file__).resolve().parent.parent / "migrations"),
        **TEST_KEYS,
    }


@pytest.fixture(scope="session")
def app(app_config):
    app = create_app(app_config)
    with app.app_context():
        reset_database(db.engine)
        upgrade(directory=app_config["MIGRATIONS_DIR"])
    return app


@pytest.fixture(autouse=True)
def db_session(request, app):
    """Each test runs inside one outer transaction that is rolled back at the end.

    App code may commit or roll back freely: with join_transaction_mode="create_savepoint" those
    calls only touch a SAVEPOINT, so production transaction semantics hold inside the test.
    """
    if "no_db_rollback" in request.keywords:
        yield None
        return
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        real_session = db.session
        # expire_on_commit=False: objects a test built stay readable after a request ends
        # its session; tests re-read from the database when they check what changed.
        db.session = scoped_session(
            sessionmaker(
                bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
            )
        )
        try:
            yield db.session
        finally:
            db.session.remove()
            db.session = real_session
            outer.rollback()
            connection.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def ctx(app, db_session):
    """An application context for calling services directly."""
    with app.app_context(), app.test_request_context():
        yield


@pytest.fixture
def world(app, db_session) -> World:
    """Two municipalities and two offices, with an account of every role in each."""
    world = build_world()
    # Commits only the test's SAVEPOINT: requests end their session, which would otherwise
    # roll back data that was merely flushed.
    db.session.commit()
    return world


@pytest.fixture
def fresh_app(app, tmp_path):
    """An app on a database of its own, migrated from nothing (for tests that commit for real):
    PostgreSQL when the suite runs on it, else a SQLite file. Yields (app, database URL)."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    with scratch_database(backend, tmp_path, app) as scratch:
        yield scratch.app, scratch.url.render_as_string(hide_password=False)


@pytest.fixture
def desk(app, db_session) -> Desk:
    """A carrier's published route of welfare items today, committed (the test's SAVEPOINT only:
    requests end their session)."""
    desk = set_up_desk()
    db.session.commit()
    return desk


def pytest_runtest_logreport(report) -> None:
    COUNTS.timed(report.nodeid, report.duration)


def pytest_sessionfinish(session) -> None:
    """Schemathesis' counts to test-artifacts/schemathesis.json, when its tests ran."""
    if COUNTS:
        url = os.environ.get("TEST_DATABASE_URL", "")
        COUNTS.database = "postgresql" if url.startswith("postgresql") else "sqlite"
        COUNTS.write()


def pytest_terminal_summary(terminalreporter) -> None:
    """Schemathesis' counts by caller, when its tests ran (not captured: CI's output shows it)."""
    if COUNTS:
        terminalreporter.section("schemathesis")
        for line in COUNTS.lines():
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"  (written to {ARTIFACT.relative_to(ARTIFACT.parents[1])})")
