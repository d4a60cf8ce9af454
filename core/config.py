"""Configuration from the environment, with safe local secrets for development."""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

log = logging.getLogger(__name__)

SECRETS_FILE = "local-secrets.json"


class ConfigError(RuntimeError):
    """The service cannot start with this configuration."""


class Config:
    """Defaults; every key can be overridden by a WELFARE_* environment variable."""

    ENV = "development"
    SQLALCHEMY_DATABASE_URI: str | None = None
    # Exceptions and logs must not quote bound values: they hold addresses and ciphertexts.
    # A pooled connection is tested before use (one round trip), so the first request after a
    # database restart reconnects instead of failing on a dead connection; none is kept longer
    # than half an hour (firewalls and proxies drop idle connections silently).
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {
        "hide_parameters": True,
        "pool_pre_ping": True,
        "pool_recycle": 1800,
    }
    SECRET_KEY: str | None = None
    # Comma-separated Fernet keys, newest first (MultiFernet order).
    ENCRYPTION_KEYS: str | None = None
    # Key for the HMAC blind indexes (dedup and exact-match search).
    BLIND_INDEX_KEY: str | None = None
    GEOCODER_URL: str | None = None  # e.g. http://127.0.0.1:8080 (self-hosted Nominatim)
    GEOCODER_MIN_DELAY_S = 1.0
    GEOCODER_TIMEOUT_S = 10.0
    PASSWORD_MIN_LENGTH = 12
    LOGIN_MAX_FAILURES = 5
    LOGIN_LOCKOUT_MINUTES = 15
    SESSION_IDLE_MINUTES = 30
    SESSION_ABSOLUTE_HOURS = 12
    API_TOKEN_IDLE_MINUTES = 60
    API_TOKEN_LIFETIME_HOURS = 12
    # A closed household's personal data is destroyed this long after it and its cases closed.
    RETENTION_CLOSED_DAYS = 365
    ACCESS_LOG_RETENTION_DAYS = 730  # PIPA 안전성 확보조치 기준 제8조: >= 2 years for 민감정보
    PERMISSION_LOG_RETENTION_DAYS = 1095  # 제5조③: >= 3 years
    OUTBOX_KEEP_DAYS = 30  # finished jobs (sent or dead) stay this long for inquiries
    # memory:// counts per process: with n workers a client gets n times the limit. Production
    # refuses it (_check_production); `python3 dev.py run` serves from one process.
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_LOGIN = "20 per minute"
    RATELIMIT_TRACKING = "30 per minute"
    RATELIMIT_DEVICE_AUTH = "10 per minute"  # enrolment and refresh, per client address
    DEVICE_ENROLMENT_CODE_MINUTES = 15
    DEVICE_ACCESS_TOKEN_MINUTES = 15
    DEVICE_REFRESH_TOKEN_DAYS = 30
    VISIT_FAR_M = 300  # a visit recorded farther from the household is flagged
    VISIT_SIGNATURE_MAX_BYTES = 100_000
    VISIT_BATCH_MAX = 500
    # Absences before an item stays at the office instead of going out again (each earlier
    # absence schedules the next attempt for the next working day); held that many days, it
    # goes back to the sender (reason absent_limit).
    REDELIVERY_ATTEMPTS = 3
    REDELIVERY_HOLD_DAYS = 7
    ALERT_ESCALATE_MINUTES = 15  # an emergency nobody acknowledged goes to the municipal admins
    # Hours to a first response by severity (a municipality's case policy may set its own).
    CASE_DUE_HOURS: dict[str, int] = {"emergency": 4, "urgent": 24, "watch": 168}
    # Celery's broker (redis://host:6379/0): jobs and side effects run on Celery workers, one
    # pool per queue (core/queues.py). Empty: local workers poll the outbox (dev.py run).
    JOBS_BROKER_URL = ""
    JOBS_QUEUE_PREFIX = ""  # names this deployment's queues apart on a shared broker
    OUTBOX_HEARTBEAT_S = 1.5  # a running job's lease (5 s on alerts, else 15 s) is renewed so
    LOCAL_WORKER_POLL_S = 0.25  # a local worker looks for due messages this often
    HEAVY_WORKER_NICE = 10  # how much lower the heavy queues' workers run (os.nice)
    SCHEDULER_RELAY_EVERY_S = 1
    SCHEDULER_ESCALATION_EVERY_S = 60
    # The monthly access-log review (안전성 확보조치 기준 제8조): what it flags. Working hours
    # are Seoul time on weekdays that are not public holidays; outside them is off-hours.
    ACCESS_REVIEW_BULK_HOUSEHOLDS_PER_DAY = 100  # distinct households one account reads a day
    ACCESS_REVIEW_DAY_START_HOUR = 7
    ACCESS_REVIEW_DAY_END_HOUR = 21
    # Push through FCM's HTTP v1 API (pyfcm): a service account file (it names the project and
    # its token endpoint); FCM_ENDPOINT points elsewhere only for an emulator or a test server.
    FCM_SERVICE_ACCOUNT_FILE: str | None = None
    FCM_PROJECT_ID: str | None = None
    FCM_ENDPOINT = "https://fcm.googleapis.com/v1/projects"
    FCM_TIMEOUT_S = 10
    # Alert e-mail over SMTP (core/email.py). SMTP_HOST empty: e-mail is off and none is queued.
    SMTP_HOST = ""
    SMTP_PORT = 587
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_STARTTLS = True  # upgrade the plain connection (port 587)
    SMTP_SSL = False  # TLS from the first byte (port 465); wins over SMTP_STARTTLS
    SMTP_FROM: str | None = None  # e.g. "복지등기 알림 <alerts@city.go.kr>"; needed when on
    SMTP_TIMEOUT_S = 10
    #: Where staff reach this service, for links in e-mails (e.g. https://welfare.city.go.kr).
    PUBLIC_URL = ""
    #: Where produced letters are written (default: <instance>/letters).
    LETTERS_DIR: str | None = None
    #: Test-only: webhooks to loopback addresses, over http:// too (the tests' local receivers).
    #: Production refuses to start with it on.
    WEBHOOK_ALLOW_HTTP_LOOPBACK = False
    PAGE_SIZE_MAX = 200
    # Route planning (routing/plans/settings.py). Times of day are "HH:MM" in Seoul time.
    OSRM_URL: str | None = None  # an OSRM /table service; None: great-circle estimates
    ROUTING_WELFARE_SERVICE_S = 600  # a welfare visit at the door
    ROUTING_REGISTERED_SERVICE_S = 60  # handing over plain registered mail
    ROUTING_LUNCH_WINDOW = "11:30-13:00"  # when a carrier's lunch break may start
    # Minutes at the office from the shift's start before every round leaves (the morning's
    # sorting of the round's mail into delivery order); how long depends on the office.
    ROUTING_SORTING_MINUTES = 30
    # What serving a stop by another carrier than its preferred one costs, in seconds of travel:
    # the carrier who last visited a welfare household, else the district's carrier.
    ROUTING_PREFERENCE_COST_S = 900
    ROUTING_PLAN_TIME_LIMIT_S = 30
    # A search of this length, with its solver's grace, stays below the plans queue's time limit.
    ROUTING_PLAN_TIME_LIMIT_MAX_S = 240
    # The dispatcher's map: base-map tiles from this server, a Leaflet URL template such as
    # https://tiles.example.go.kr/{z}/{x}/{y}.png (its host is added to the pages' CSP). Empty:
    # no base map, the districts and routes on a blank background, no request leaves the app.
    MAP_TILE_URL = ""
    MAP_TILE_ATTRIBUTION = ""  # shown in the map's corner, as the tile server's licence asks
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    MAX_CONTENT_LENGTH = 32 * 1024 * 1024
    # What an imported CSV/XLSX may expand to (core/uploads.py), judged before it is parsed.
    UPLOAD_MAX_EXPANDED_MB = 256  # CSV text, or an .xlsx's parts together uncompressed
    UPLOAD_MAX_SHARED_STRINGS_MB = 48  # an .xlsx's shared-string table (read whole)
    UPLOAD_MAX_RATIO = 100  # uncompressed : compressed, per part above 1 MB
    UPLOAD_MAX_MEMBERS = 500  # parts of an .xlsx
    UPLOAD_CELLS_PER_ROW = 20  # cells read at most: the import's row limit times this
    API_TITLE = "welfare-post"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    WTF_CSRF_TIME_LIMIT = None  # the session's own idle timeout bounds the token
    WTF_CSRF_CHECK_DEFAULT = False  # core.web protects pages only; the API uses bearer tokens


def load_config(app, overrides: dict[str, Any] | None = None) -> None:
    """Fill app.config from defaults, the environment and explicit overrides, then check it."""
    app.config.from_object(Config)
    app.config.from_prefixed_env("WELFARE", loads=_load_env_value)
    if os.environ.get("DATABASE_URL"):
        app.config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(os.environ["DATABASE_URL"])
    if overrides:
        app.config.update(overrides)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        path = Path(app.instance_path) / "welfare.db"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    app.config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    app.config["SESSION_COOKIE_SECURE"] = app.config["ENV"] == "production"
    if app.config["SMTP_HOST"] and not app.config["SMTP_FROM"]:
        # Refuse at start rather than let every alert e-mail die in the outbox.
        raise ConfigError("WELFARE_SMTP_HOST is set but WELFARE_SMTP_FROM is not.")
    _ensure_secrets(app)
    if app.config["ENV"] == "production":
        _check_production(app.config)


def _check_production(config: dict[str, Any]) -> None:
    """Refuse settings that are safe on one developer's machine only."""
    if config.get("SQLALCHEMY_ECHO") == "debug":
        # Echo at debug level logs fetched rows, i.e. decrypted names and phone numbers.
        raise ConfigError("SQLALCHEMY_ECHO=debug would log personal data; refusing to start.")
    if is_per_process_storage(config["RATELIMIT_STORAGE_URI"]):
        raise ConfigError(
            "WELFARE_RATELIMIT_STORAGE_URI is a per-process store: each worker would count "
            "separately. Set a shared one such as redis://127.0.0.1:6379; refusing to start."
        )
    if config["WEBHOOK_ALLOW_HTTP_LOOPBACK"]:
        raise ConfigError(
            "WELFARE_WEBHOOK_ALLOW_HTTP_LOOPBACK is for tests only; refusing to start."
        )
    if not config["JOBS_BROKER_URL"]:
        # Local workers poll one machine's outbox per queue; production's web, scheduler and
        # workers run on several machines and meet at the broker.
        raise ConfigError(
            "WELFARE_JOBS_BROKER_URL is empty: production runs its jobs on Celery workers. "
            "Set it to the shared Redis, e.g. redis://127.0.0.1:6379/1; refusing to start."
        )


def is_per_process_storage(uri: str | None) -> bool:
    """Whether a flask-limiter storage URI keeps its counts inside one process."""
    return not uri or uri.split("://", 1)[0] in ("memory", "async+memory")


def _load_env_value(value: str) -> Any:
    """Parse JSON numbers and booleans only; everything else stays a string."""
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, int | float | bool) else value


def normalize_database_url(url: str) -> str:
    """Use psycopg 3 for plain postgres:// and postgresql:// URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _ensure_secrets(app) -> None:
    """Refuse to start in production without secrets; create local ones otherwise."""
    needed = ("SECRET_KEY", "ENCRYPTION_KEYS", "BLIND_INDEX_KEY")
    missing = [name for name in needed if not app.config.get(name)]
    if not missing:
        return
    if app.config["ENV"] == "production":
        names = ", ".join(f"WELFARE_{name}" for name in missing)
        raise ConfigError(f"Production mode needs {names}; refusing to start.")
    stored = read_local_secrets(app.instance_path)
    if stored is None:
        stored = {
            "SECRET_KEY": secrets.token_urlsafe(48),
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "BLIND_INDEX_KEY": secrets.token_urlsafe(48),
        }
        write_local_secrets(app.instance_path, stored)
        log.warning(
            "Development mode: created local secrets in %s (never use them in production).",
            Path(app.instance_path) / SECRETS_FILE,
        )
    for name in missing:
        app.config[name] = stored[name]


def read_local_secrets(instance_path: str) -> dict[str, str] | None:
    """The development secrets kept in the instance folder, if any."""
    path = Path(instance_path) / SECRETS_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def write_local_secrets(instance_path: str, values: dict[str, str]) -> None:
    """Store development secrets readable by the owner only."""
    path = Path(instance_path) / SECRETS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(values, indent=2), encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
