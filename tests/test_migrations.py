"""Migrations build exactly the schema the models describe, and go down and up again."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app import create_app
from core.db import db
from tests.conftest import TEST_KEYS

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


def test_models_and_migrations_agree(db_session):
    context = MigrationContext.configure(db_session.connection(), opts={"compare_type": True})
    assert compare_metadata(context, db.metadata) == []


@pytest.mark.no_db_rollback
def test_downgrade_to_nothing_and_upgrade_again(tmp_path):
    app = create_app(
        {"ENV": "testing", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/m.db", **TEST_KEYS}
    )
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        downgrade(directory=MIGRATIONS, revision="base")
        assert set(db.inspect(db.engine).get_table_names()) == {"alembic_version"}
        upgrade(directory=MIGRATIONS)
        assert "households" in db.inspect(db.engine).get_table_names()
