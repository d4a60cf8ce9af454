"""Configuration: production refuses to start without secrets; development makes local ones."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from app import create_app
from core.config import ConfigError, normalize_database_url
from core.extensions import limiter
from tests.conftest import TEST_KEYS

ROOT = Path(__file__).resolve().parents[2]
REDIS = "redis://127.0.0.1:6379"


def test_production_refuses_to_start_without_secrets(tmp_path, monkeypatch):
    for name in ("SECRET_KEY", "ENCRYPTION_KEYS", "BLIND_INDEX_KEY"):
        monkeypatch.delenv(f"WELFARE_{name}", raising=False)
    with pytest.raises(ConfigError) as error:
        create_app({"ENV": "production", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"})
    assert "WELFARE_SECRET_KEY" in str(error.value)
    assert "WELFARE_ENCRYPTION_KEYS" in str(error.value)


@pytest.fixture
def production_secrets(monkeypatch, app) -> Iterator[None]:
    """Production's secrets in the environment; the shared limiter given back to the tests' app."""
    monkeypatch.setenv("WELFARE_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("WELFARE_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("WELFARE_BLIND_INDEX_KEY", "b" * 40)
    yield
    # create_app binds the one Limiter to its own storage: the other tests count in memory.
    limiter.init_app(app)


def test_production_starts_with_secrets_from_the_environment(tmp_path, production_secrets):
    app = create_app(
        {
            "ENV": "production",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db",
            "RATELIMIT_STORAGE_URI": REDIS,
            "JOBS_BROKER_URL": REDIS,
        }
    )
    assert app.config["SECRET_KEY"] == "s" * 40
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.extensions["celery"].conf.task_acks_late is True


def test_production_refuses_to_run_jobs_without_a_broker(tmp_path, production_secrets):
    overrides = {
        "ENV": "production",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db",
        "RATELIMIT_STORAGE_URI": REDIS,
    }
    with pytest.raises(ConfigError, match="WELFARE_JOBS_BROKER_URL is empty"):
        create_app(overrides)


@pytest.mark.parametrize("storage", [None, "memory://", "async+memory://", ""])
def test_production_refuses_rate_limits_counted_per_process(tmp_path, production_secrets, storage):
    overrides = {"ENV": "production", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"}
    if storage is not None:
        overrides["RATELIMIT_STORAGE_URI"] = storage
    with pytest.raises(ConfigError, match="WELFARE_RATELIMIT_STORAGE_URI is a per-process"):
        create_app(overrides)


def test_production_refuses_the_test_only_webhook_loopback_setting(tmp_path, production_secrets):
    overrides = {
        "ENV": "production",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db",
        "RATELIMIT_STORAGE_URI": REDIS,
        "WEBHOOK_ALLOW_HTTP_LOOPBACK": True,
    }
    with pytest.raises(ConfigError, match="WELFARE_WEBHOOK_ALLOW_HTTP_LOOPBACK is for tests"):
        create_app(overrides)


# One "worker": its own process and app, a few public tracking look-ups (each counts).
WORKER = """
import sys
from app import create_app
client = create_app().test_client()
print(" ".join(str(client.get("/api/v1/tracking/1").status_code) for _ in range(int(sys.argv[1]))))
"""


def _redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


def test_two_workers_in_production_share_the_rate_limit_through_redis(tmp_path):
    if not _redis_reachable():
        pytest.skip("no Redis on 127.0.0.1:6379")
    env = os.environ | {
        "WELFARE_ENV": "production",
        "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        "WELFARE_RATELIMIT_STORAGE_URI": REDIS,
        "WELFARE_JOBS_BROKER_URL": REDIS,
        "WELFARE_RATELIMIT_TRACKING": "3 per minute",
        # A fresh count for this run, apart from any other run's.
        "WELFARE_RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        **{f"WELFARE_{name}": value for name, value in TEST_KEYS.items()},
    }

    def worker(requests: int) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", WORKER, str(requests)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout.split()

    assert worker(2) == ["422", "422"]  # a malformed number: counted, then refused
    assert worker(2) == ["422", "429"]  # the other worker sees the first one's two


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
