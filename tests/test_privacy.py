"""Privacy: no plaintext personal data at rest (SQLite files, pg_dump), in logs or in URLs."""

from __future__ import annotations

import glob
import io
import logging
import os
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from carrier_api.models import Visit
from core.audit import AccessLog
from core.auth.models import Account
from core.auth.principal import COMMAND_LINE, Principal
from core.auth.roles import Role
from core.auth.services import NewAccount, create_account, issue_token
from core.crypto import blind_index, configure_crypto, decrypt, encrypt
from core.db import db, transaction, utcnow
from core.outbox import deliver_due
from municipalities import household_import
from municipalities.erasure import PURGED
from municipalities.models import Household
from municipalities.services import (
    HouseholdChanges,
    NewHousehold,
    NewMunicipality,
    create_household,
    create_municipality,
    get_household,
    update_household,
)
from tests.support.factories import auth
from tests.support.household_file_builders import to_csv, valid_rows
from tests.support.jobs import started
from tests.support.scratch import Scratch, scratch_database
from welfare_checks.models import Case, CaseEvent, CheckReport
from welfare_checks.retention import purge
from welfare_checks.statistics import figures

PASSWORD = "privacy horse battery staple 42"


@dataclass
class Person:
    name: str
    phone: str  # as typed: 010-xxxx-xxxx
    note: str

    @property
    def phone_forms(self) -> list[str]:
        digits = self.phone.replace("-", "")
        return [
            self.phone,
            digits,
            "+82" + digits[1:],
            "+82 " + digits[1:3] + "-" + digits[3:7] + "-" + digits[7:],
            digits[1:],
            self.phone[4:],  # the last eight digits as written: 2345-6789
        ]


# Distinctive fictitious names (no other text in the database contains them).
SERVICE_PERSON = Person("황보은서", "010-2345-6789", "치매 초기 의심 주 2회 방문")
UPDATED_PHONE = "010-3456-7812"
IMPORTED = [
    Person("남궁민철", "010-9876-5432", "난방비 미납 겨울철 주의"),
    Person("제갈예린", "010-7777-1234", "=SUM(1+1) 수식 같은 메모"),
    Person("독고준혁", "010-6203-4417", "야간 근무로 낮 부재"),
]
ADDRESS = "서울특별시 가상구 은행나무로 77"


def needles(texts: list[str]) -> dict[bytes, str]:
    """Every text in UTF-8, CP949 (where it encodes) and UTF-16 (both byte orders)."""
    found: dict[bytes, str] = {}
    for text in texts:
        for encoding in ("utf-8", "cp949", "utf-16-le", "utf-16-be"):
            try:
                found.setdefault(text.encode(encoding), f"{text!r} in {encoding}")
            except UnicodeEncodeError:
                continue
    return found


def personal_texts(people: list[Person], extra_phones: tuple[str, ...] = ()) -> list[str]:
    texts = []
    for person in people:
        texts += [person.name, person.note.lstrip("="), *person.phone_forms]
    for phone in extra_phones:
        texts += Person("", phone, "").phone_forms
    return texts


def assert_no_plaintext(data: bytes, texts: list[str], where: str) -> None:
    leaks = [label for needle, label in needles(texts).items() if needle in data]
    assert leaks == [], f"plaintext personal data in {where}: {leaks}"


# --- a separate, really committed database -----------------------------------------------------


def seed(scratch: Scratch) -> None:
    """Households through every path: the service, a CP949 import, an update of the phone."""
    with scratch.app.app_context(), scratch.app.test_request_context():
        with transaction():
            municipality = create_municipality(
                COMMAND_LINE, NewMunicipality(code="11999", name="가상구")
            )
            account = create_account(
                COMMAND_LINE,
                NewAccount(
                    username="privacy.worker",
                    display_name="주무관",
                    password=PASSWORD,
                    role=Role.SOCIAL_WORKER,
                    municipality_id=municipality.id,
                ),
            )
        principal = Principal(account.id, account.username, Role.SOCIAL_WORKER, municipality.id)
        scratch.municipality_id, scratch.account_id = municipality.id, account.id
        with transaction():
            household = create_household(
                principal,
                NewHousehold(
                    name=SERVICE_PERSON.name,
                    road_address=ADDRESS,
                    phone=SERVICE_PERSON.phone,
                    note=SERVICE_PERSON.note,
                    location=[126.97, 37.56],
                ),
            )
        rows = valid_rows(len(IMPORTED), seed=5)
        for row, person in zip(rows, IMPORTED, strict=True):
            row.update(name=person.name, phone=person.phone, note=person.note)
        with transaction():
            report = household_import.import_file(
                principal, municipality, to_csv(rows, "cp949"), "가구.csv", dry_run=False
            )
        assert report.created == len(IMPORTED), report.errors
        with transaction():
            update_household(
                principal, household.id, HouseholdChanges(version=1, phone=UPDATED_PHONE)
            )
            get_household(principal, household.id)
        scratch.household_ids = list(db.session.scalars(sa.select(Household.id)))


def database_bytes(scratch: Scratch) -> bytes:
    """Every byte of the SQLite database, its WAL and its shared-memory file."""
    assert scratch.sqlite_path is not None
    chunks = []
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{scratch.sqlite_path}{suffix}")
        if path.exists():
            chunks.append(path.read_bytes())
    return b"\n".join(chunks)


def pg_dump(scratch: Scratch) -> bytes:
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"), key=_version)
    if not binaries:
        pytest.skip("pg_dump is not installed")
    url = scratch.url
    command = [binaries[-1], "--no-owner", "-h", url.host or "127.0.0.1"]
    command += ["-p", str(url.port or 5432), "-U", url.username or "postgres", url.database]
    env = dict(os.environ, PGPASSWORD=url.password or "")
    return subprocess.run(command, capture_output=True, check=True, env=env, timeout=60).stdout


def _version(path: str) -> int:
    return int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0


ALL_PEOPLE = [SERVICE_PERSON, *IMPORTED]
SECRET_TEXTS = personal_texts(ALL_PEOPLE, extra_phones=(UPDATED_PHONE,))


@pytest.mark.no_db_rollback
def test_no_plaintext_personal_data_in_the_sqlite_files(app, tmp_path):
    with scratch_database("sqlite", tmp_path, app) as scratch:
        seed(scratch)
        # With the connections still open: the WAL holds the latest pages.
        live = database_bytes(scratch)
        assert ADDRESS.encode() in live  # the scan sees table data (addresses are not secret)
        assert_no_plaintext(live, SECRET_TEXTS, "the SQLite files")
        with scratch.app.app_context():
            db.engine.dispose()  # checkpoint the WAL into the main file
        assert_no_plaintext(database_bytes(scratch), SECRET_TEXTS, "the checkpointed SQLite file")


@pytest.mark.no_db_rollback
def test_no_plaintext_personal_data_in_a_postgresql_dump(app, tmp_path):
    with scratch_database("postgresql", tmp_path, app) as scratch:
        seed(scratch)
        dump = pg_dump(scratch)
        assert ADDRESS.encode() in dump and b"COPY public.households" in dump
        assert_no_plaintext(dump, SECRET_TEXTS, "the pg_dump output")


def raw_personal_columns(ids: list[int]) -> dict[int, tuple]:
    rows = db.session.execute(
        sa.text("SELECT id, name, phone, note FROM households WHERE id IN :ids").bindparams(
            sa.bindparam("ids", expanding=True)
        ),
        {"ids": ids},
    )
    return {row.id: (row.name, row.phone, row.note) for row in rows}


@pytest.mark.no_db_rollback
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_after_key_rotation_every_row_decrypts_under_the_new_key(app, tmp_path, backend):
    with scratch_database(backend, tmp_path, app) as scratch:
        seed(scratch)
        config = scratch.app.config
        old_key, index_key = config["ENCRYPTION_KEYS"], config["BLIND_INDEX_KEY"]
        with scratch.app.app_context():
            before = {
                h.id: (h.name, h.phone, h.note, h.name_index)
                for h in db.session.scalars(sa.select(Household))
            }
            raw_before = raw_personal_columns(list(before))
        assert len(before) == len(ALL_PEOPLE)

        new_key = Fernet.generate_key().decode()
        config["ENCRYPTION_KEYS"] = f"{new_key},{old_key}"
        configure_crypto(config["ENCRYPTION_KEYS"], index_key)
        result = scratch.app.test_cli_runner().invoke(args=["keys", "rotate", "--no-new-key"])
        assert result.exit_code == 0, result.output
        assert "Re-encrypted" in result.output

        # Only the new key from now on: the old one can be destroyed.
        config["ENCRYPTION_KEYS"] = new_key
        configure_crypto(new_key, index_key)
        with scratch.app.app_context():
            after = {
                h.id: (h.name, h.phone, h.note, h.name_index)
                for h in db.session.scalars(sa.select(Household))
            }
            raw_after = raw_personal_columns(list(before))
        assert after == before
        for household_id, values in raw_after.items():
            for old_token, new_token in zip(raw_before[household_id], values, strict=True):
                if old_token is None:
                    assert new_token is None
                    continue
                assert new_token != old_token
                Fernet(new_key.encode()).decrypt(new_token.encode())
                with pytest.raises(InvalidToken):
                    Fernet(old_key.encode()).decrypt(new_token.encode())
        names = {values[0] for values in after.values()}
        assert names == {person.name for person in ALL_PEOPLE}


@pytest.mark.no_db_rollback
def test_rotate_with_environment_keys_refuses_to_invent_a_key(app, tmp_path):
    with scratch_database("sqlite", tmp_path, app) as scratch:
        result = scratch.app.test_cli_runner().invoke(args=["keys", "rotate", "--new-key"])
        assert result.exit_code != 0
        assert "WELFARE_ENCRYPTION_KEYS" in result.output


# --- encryption and blind index ----------------------------------------------------------------


def test_same_plaintext_encrypts_differently_and_decrypts_back(ctx):
    first, second = encrypt(SERVICE_PERSON.name), encrypt(SERVICE_PERSON.name)
    assert first != second
    assert decrypt(first) == decrypt(second) == SERVICE_PERSON.name
    assert_no_plaintext(first.encode() + second.encode(), [SERVICE_PERSON.name], "ciphertext")


def test_blind_index_is_stable_normalised_and_opaque(ctx):
    name = SERVICE_PERSON.name
    index = blind_index(name)
    assert blind_index(name) == index
    assert blind_index(f"  {name} ") == index  # the normalised form is what counts
    assert blind_index("남궁민철") != index
    assert len(index) == 64 and int(index, 16) >= 0
    assert_no_plaintext(index.encode(), [name], "the blind index")


def test_stored_households_hold_ciphertext_and_blind_indexes(client, world):
    response = client.post(
        "/api/v1/households",
        json={
            "name": SERVICE_PERSON.name,
            "road_address": ADDRESS,
            "phone": SERVICE_PERSON.phone,
            "note": SERVICE_PERSON.note,
        },
        headers=world.a.headers(Role.SOCIAL_WORKER),
    )
    assert response.status_code == 201
    row = db.session.execute(
        sa.text("SELECT * FROM households WHERE id = :id"), {"id": response.json["id"]}
    ).one()
    stored = "|".join(str(value) for value in row).encode()
    assert_no_plaintext(stored, personal_texts([SERVICE_PERSON]), "the household row")
    assert row.name_index == blind_index(SERVICE_PERSON.name)


# --- logs and URLs -----------------------------------------------------------------------------


@pytest.mark.no_db_rollback
def test_application_logs_hold_no_names_or_phones(app, tmp_path, caplog):
    with scratch_database("sqlite", tmp_path, app) as scratch:
        seed(scratch)
        # Alembic's env.py ran fileConfig(), which replaces the root handlers: capture again.
        root = logging.getLogger()
        if caplog.handler not in root.handlers:
            root.addHandler(caplog.handler)
        caplog.set_level(logging.DEBUG)
        # What SQLALCHEMY_ECHO=True shows: every SQL statement with its bound parameters.
        caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
        with scratch.app.app_context():
            token = issue_token(db.session.get(Account, scratch.account_id))
            db.session.commit()
        client = scratch.app.test_client()
        headers = auth(token)
        person = Person("선우다인", "010-4821-9930", "가스 차단 예정 통보")
        created = client.post(
            "/api/v1/households",
            json={"name": person.name, "road_address": ADDRESS, "phone": person.phone},
            headers=headers,
        )
        assert created.status_code == 201
        url = f"/api/v1/households/{created.json['id']}"
        assert client.get(url, headers=headers).status_code == 200
        assert client.get("/api/v1/households", headers=headers).status_code == 200
        patched = client.patch(url, json={"version": 1, "note": person.note}, headers=headers)
        assert patched.status_code == 200
        found = client.post(
            "/api/v1/households/search", json={"name": person.name}, headers=headers
        )
        assert found.json["meta"]["total"] == 1
        extra = Person("서문가온", "010-5512-3377", "이웃 연락 가능")
        rows = valid_rows(1, seed=9)
        rows[0].update(name=extra.name, phone=extra.phone, note=extra.note)
        imported = client.post(
            "/api/v1/households/imports?dry_run=false",
            data={"file": (io.BytesIO(to_csv(rows)), "h.csv")},
            content_type="multipart/form-data",
            headers=headers,
        )
        location = started(imported)
        with scratch.app.app_context():
            assert deliver_due().sent == 1  # the worker's statements are logged too
        job = client.get(location, headers=headers).json
        assert job["status"] == "done" and job["result"]["created"] == 1
        duplicate = client.post(
            "/api/v1/households",
            json={"name": person.name, "road_address": ADDRESS},
            headers=headers,
        )
        assert duplicate.status_code == 409

    text = caplog.text
    assert "INSERT INTO households" in text  # SQL logging was on: parameters were logged too
    assert_no_plaintext(
        text.encode(), personal_texts([*ALL_PEOPLE, person, extra]), "the application logs"
    )


def test_no_route_takes_personal_data_in_its_url(app):
    personal = {"name", "phone", "note", "address", "road_address", "username"}
    for rule in app.url_map.iter_rules():
        assert not rule.arguments & personal, rule.rule
        if "household" in rule.rule:
            assert all(argument.endswith("_id") for argument in rule.arguments), rule.rule


def test_household_list_refuses_a_name_in_the_query_string(client, world):
    response = client.get(
        f"/api/v1/households?name={SERVICE_PERSON.name}",
        headers=world.a.headers(Role.SOCIAL_WORKER),
    )
    assert response.status_code == 422
    assert SERVICE_PERSON.name not in response.get_data(as_text=True)


@pytest.mark.no_db_rollback
def test_retention_destroys_closed_households_personal_data_and_keeps_the_counts(app, tmp_path):
    backend = (
        "postgresql" if os.environ.get("TEST_DATABASE_URL", "").startswith("postgres") else "sqlite"
    )
    with scratch_database(backend, tmp_path, app) as scratch:
        seed(scratch)
        now = utcnow()
        with scratch.app.app_context(), scratch.app.test_request_context():
            before = raw_personal_columns(scratch.household_ids)
            household_id = scratch.household_ids[0]
            with transaction():
                _closed_case_with_a_report(scratch, household_id, now - timedelta(days=400))
                for household in db.session.scalars(sa.select(Household)):
                    household.status, household.closed_at = "closed", now - timedelta(days=400)
                db.session.add(
                    AccessLog(at=now - timedelta(days=800), action="view", subject_type="household")
                )
            reader = Principal(scratch.account_id, "auditor", Role.AUDITOR, scratch.municipality_id)
            period = ((now - timedelta(days=420)).date(), (now - timedelta(days=300)).date())
            counted = figures(reader, *period)
            with transaction():
                purged = purge(now)
            assert figures(reader, *period) == counted  # the statistics outlive the people
            assert counted["checks_by_severity"]["urgent"] == 1
            every = db.session.scalar(sa.select(sa.func.count(Household.id)))
            assert purged.households == every  # all closed long ago, their cases too
            assert purged.access_logs == 1
            with transaction():
                assert purge(now).households == 0  # idempotent
            report = db.session.scalar(sa.select(CheckReport))
            assert report.answers == "{}" and report.severity == "urgent"  # counted still
            visit = db.session.scalar(sa.select(Visit))
            assert visit.other_text is None and visit.outcome == "other"  # the carrier app's too
            assert db.session.scalar(sa.select(sa.func.count(Case.id))) == 1
            assert (
                db.session.scalar(sa.select(CaseEvent.note).where(CaseEvent.action == "note"))
                is None
            )
            assert {h.name for h in db.session.scalars(sa.select(Household))} == {PURGED}
            db.session.remove()
            db.engine.dispose()  # SQLite: checkpoint the WAL into the main file
        old_ciphertexts = [value.encode() for row in before.values() for value in row if value]
        stored = database_bytes(scratch) if backend == "sqlite" else pg_dump(scratch)
        assert [c for c in old_ciphertexts if c in stored] == []
        assert_no_plaintext(stored, SECRET_TEXTS + [CASE_NOTE], "the database after the purge")


CASE_NOTE = "긴급복지 상담 후 병원 동행 예정"


def _closed_case_with_a_report(scratch: Scratch, household_id: int, closed_at) -> None:
    """A visit, its urgent check report and a case closed long ago with a note."""
    from municipalities.models import Municipality
    from tests.support.factories import Tenant, make_district, make_due_item, make_office, square

    tenant = Tenant(db.session.get(Municipality, scratch.municipality_id), make_office())
    district = make_district(tenant.office, square(126.9, 37.5))
    item = make_due_item(tenant, (126.91, 37.51), closed_at.date(), district)
    item.household_id = household_id

    visit = Visit(
        client_uuid="00000000-0000-4000-8000-000000000001",
        fingerprint="f",
        account_id=scratch.account_id,
        household_id=household_id,
        outcome="other",
        other_text=CASE_NOTE,
        recorded_at=closed_at,
        lon=127.0,
        lat=37.5,
        accuracy_m=5.0,
    )
    db.session.add(visit)
    db.session.flush()
    report = CheckReport(
        visit_id=visit.id,
        municipality_id=scratch.municipality_id,
        household_id=household_id,
        mail_item_id=item.id,
        form="wellbeing",
        version=1,
        contact="met_addressee",
        answers='{"note": "' + CASE_NOTE + '"}',
        outcome="other",
        severity="urgent",
        visited_at=closed_at,
    )
    db.session.add(report)
    db.session.flush()
    case = Case(
        municipality_id=scratch.municipality_id,
        household_id=household_id,
        report_id=report.id,
        severity="urgent",
        status="closed",
        due_at=closed_at,
        opened_at=closed_at,
        closed_at=closed_at,
    )
    db.session.add(case)
    db.session.flush()
    db.session.add(CaseEvent(case_id=case.id, action="note", note=CASE_NOTE, at=closed_at))
