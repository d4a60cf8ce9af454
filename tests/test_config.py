"""Configuration: production refuses to start without secrets; development makes local ones."""

from __future__ import annotations

import json
import logging

import pytest

from app import create_app
from core.config import ConfigError, normalize_database_url


def test_production_refuses_to_start_without_secrets(tmp_path, monkeypatch):
    for name in ("SECRET_KEY", "ENCRYPTION_KEYS", "BLIND_INDEX_KEY"):
        monkeypatch.delenv(f"WELFARE_{name}", raising=False)
    with pytest.raises(ConfigError) as error:
        create_app({"ENV": "production", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"})
    assert "WELFARE_SECRET_KEY" in str(error.value)
    assert "WELFARE_ENCRYPTION_KEYS" in str(error.value)


def test_production_starts_with_secrets_from_the_environment(tmp_path, monkeypatch):
    from cryptography.fernet import Fernet

    monkeypatch.setenv("WELFARE_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("WELFARE_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("WELFARE_BLIND_INDEX_KEY", "b" * 40)
    app = create_app({"ENV": "production", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"})
    assert app.config["SECRET_KEY"] == "s" * 40
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_development_creates_local_secrets_once_and_says_so(tmp_path, monkeypatch, caplog):
    for name in ("SECRET_KEY", "ENCRYPTION_KEYS", "BLIND_INDEX_KEY"):
        monkeypatch.delenv(f"WELFARE_{name}", raising=False)
    instance = str(tmp_path / "instance")
    overrides = {"ENV": "development", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"}
    with caplog.at_level(logging.WARNING, logger="core.config"):
        first = create_app(overrides, instance_path=instance)
    assert "created local secrets" in caplog.text
    stored = json.loads((tmp_path / "instance" / "local-secrets.json").read_text())
    assert stored["SECRET_KEY"] == first.config["SECRET_KEY"]
    assert (tmp_path / "instance" / "local-secrets.json").stat().st_mode & 0o077 == 0
    second = create_app(overrides, instance_path=instance)
    assert second.config["ENCRYPTION_KEYS"] == first.config["ENCRYPTION_KEYS"]


def test_database_urls_use_psycopg3():
    assert normalize_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"
