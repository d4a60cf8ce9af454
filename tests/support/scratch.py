"""A separate, really committed database for tests that need one (files, dumps, processes)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import Flask
from flask_migrate import upgrade

from app import create_app
from core.crypto import configure_crypto
from core.db import db

MIGRATIONS = str(Path(__file__).resolve().parents[2] / "migrations")


@dataclass
class Scratch:
    app: Flask
    backend: str
    url: sa.URL
    municipality_id: int = 0
    account_id: int = 0
    household_ids: list[int] = field(default_factory=list)
    sqlite_path: Path | None = None


@contextmanager
def scratch_database(
    backend: str,
    tmp_path: Path,
    main_app: Flask,
    server_url: str | None = None,
    config: dict | None = None,
) -> Iterator[Scratch]:
    """A fresh migrated database of its own (no test rollback): SQLite file or PG database,
    made on server_url's PostgreSQL server (default: TEST_DATABASE_URL's); `config` adds to
    its app's settings."""
    admin_engine = None
    if backend == "sqlite":
        path = tmp_path / "privacy.db"
        url = sa.make_url(f"sqlite:///{path}")
    else:
        test_url = server_url or os.environ.get("TEST_DATABASE_URL", "")
        if not test_url.startswith("postgresql"):
            pytest.skip("TEST_DATABASE_URL is not a PostgreSQL URL")
        base = sa.make_url(test_url)
        name = f"welfare_privacy_{secrets.token_hex(6)}"
        # No pool: the test may restart its own server before the database is dropped.
        admin_engine = sa.create_engine(
            base.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
        )
        with admin_engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")
        url, path = base.set(database=name), None
    app = create_app(
        {
            "ENV": "testing",
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False),
            "MIGRATIONS_DIR": MIGRATIONS,
            "SECRET_KEY": "privacy-test-secret-key",
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "BLIND_INDEX_KEY": "privacy-test-blind-index-key",
            "RATELIMIT_LOGIN": "1000 per minute",
            **(config or {}),
        },
        instance_path=str(tmp_path / "instance"),
    )
    try:
        with app.app_context():
            upgrade(directory=MIGRATIONS)
        yield Scratch(app=app, backend=backend, url=url, sqlite_path=path)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        # create_app installed this app's keys process-wide: give the test suite its own back.
        configure_crypto(main_app.config["ENCRYPTION_KEYS"], main_app.config["BLIND_INDEX_KEY"])
        if admin_engine is not None:
            with admin_engine.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
            admin_engine.dispose()
