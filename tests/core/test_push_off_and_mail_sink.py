"""The demo's chain without FCM or a mail server (issue 15, item 2): with no FCM configured no
push is queued to die, and the worker says so once when it starts; the local mail sink that
`python3 dev.py run` starts keeps each alert e-mail as an .eml file.
"""

from __future__ import annotations

import email
import logging
import os
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import sqlalchemy as sa

import dev
from app import create_app
from core.auth.models import Account
from core.auth.roles import Role
from core.db import db
from core.mail_sink import serve
from core.outbox import OutboxMessage, deliver_due
from core.push import PUSH_OFF, state_push_off
from tests.support.desk import Desk, carrier_headers, visit
from welfare_checks.models import Alert

ROOT = Path(__file__).resolve().parents[2]


def upload_emergency(client, desk: Desk, number: str) -> Alert:
    body = visit(number)
    headers = carrier_headers(desk.carrier_token, body)
    assert client.post("/api/v1/carrier/visits", json=body, headers=headers).status_code == 201
    db.session.expire_all()
    return db.session.scalars(sa.select(Alert).order_by(Alert.id.desc())).first()


def kinds() -> list[str]:
    return list(db.session.scalars(sa.select(OutboxMessage.kind).order_by(OutboxMessage.id)))


def notices(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage() == PUSH_OFF]


def test_without_fcm_an_emergency_queues_no_push_that_would_die(app, client, desk):
    assert not app.config["FCM_SERVICE_ACCOUNT_FILE"]  # the tests' default, as in the demo
    alert = upload_emergency(client, desk, desk.numbers[0])
    assert alert.severity == "emergency"
    assert "push" not in kinds()
    run = deliver_due()
    assert run.dead == 0
    dead = sa.select(sa.func.count()).where(OutboxMessage.status == "dead")
    assert db.session.scalar(dead) == 0


def test_the_worker_says_once_at_start_that_pushes_are_off(app_config, db_session, caplog):
    worker = create_app(app_config)  # a worker process starting: its own app
    caplog.set_level(logging.WARNING, logger="core.push")
    runner = worker.test_cli_runner()
    with worker.app_context():  # the commands' current_app (the tests hold another one)
        for _ in range(3):
            assert runner.invoke(args=["outbox", "run", "--once"]).exit_code == 0
    (notice,) = notices(caplog)
    assert notice.levelno == logging.WARNING
    words = notice.getMessage()
    assert words.startswith("푸시 꺼짐: 설정하려면 WELFARE_FCM_SERVICE_ACCOUNT_FILE")
    assert "(push is off: set WELFARE_FCM_SERVICE_ACCOUNT_FILE" in words
    assert state_push_off(worker) is True and len(notices(caplog)) == 1


def test_with_fcm_configured_nothing_is_said(app_config, tmp_path, caplog):
    account = tmp_path / "fcm.json"
    worker = create_app(app_config | {"FCM_SERVICE_ACCOUNT_FILE": str(account)})
    caplog.set_level(logging.WARNING, logger="core.push")
    assert state_push_off(worker) is False and notices(caplog) == []


def read_eml(path: Path) -> EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=default)


def test_the_mail_sink_keeps_an_alert_email_as_a_file(app, client, desk, tmp_path, monkeypatch):
    folder = tmp_path / "mail"
    sink = serve(folder, 0)
    try:
        settings = {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": sink.port,
            "SMTP_STARTTLS": False,
            "SMTP_FROM": "복지등기 데모 알림 <alerts@gaon.example>",
            "PUBLIC_URL": "http://127.0.0.1:5000",
        }
        for key, value in settings.items():
            monkeypatch.setitem(app.config, key, value)
        desk.social_worker.email = "gaon.sw1@gaon.example"
        db.session.commit()
        alert = upload_emergency(client, desk, desk.numbers[0])
        assert deliver_due().sent >= 1
    finally:
        sink.stop()
    (kept,) = sorted(folder.glob("*.eml"))
    assert not list(folder.glob("*.tmp"))
    message = read_eml(kept)
    assert message["X-Envelope-To"] == "gaon.sw1@gaon.example"
    assert message["To"] == "gaon.sw1@gaon.example"
    assert str(message["From"]) == "복지등기 데모 알림 <alerts@gaon.example>"
    assert message["Subject"] == f"[복지등기] 긴급 확인 보고 #{alert.report_id} (emergency)"
    body = message.get_content()
    assert body.startswith("안부 확인 결과 긴급 보고가 들어왔습니다.")
    assert f"http://127.0.0.1:5000/welfare/reports/{alert.report_id}" in body


def test_the_sink_runs_as_dev_py_starts_it(tmp_path):
    port = dev.free_port()
    folder = tmp_path / "mail"
    process = subprocess.Popen(  # noqa: S603 - the project's own module
        [sys.executable, "-m", "core.mail_sink", "--dir", str(folder), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        started = process.stdout.readline()
        assert f"smtp://127.0.0.1:{port}" in started and str(folder) in started
        message = EmailMessage()
        message["From"], message["To"] = "alerts@gaon.example", "gaon.admin@gaon.example"
        message["Subject"] = "[복지등기] 시험 (test)"
        message.set_content("시험 메일입니다.", cte="base64")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(message)
        deadline = time.monotonic() + 5
        while not list(folder.glob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.05)
        (kept,) = folder.glob("*.eml")
        assert read_eml(kept)["Subject"] == "[복지등기] 시험 (test)"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_the_demo_team_has_work_addresses(runner):
    assert runner.invoke(args=["demo", "load"]).exit_code == 0
    addresses = dict(
        db.session.execute(
            sa.select(Account.username, Account.email).where(Account.username.like("gaon.%"))
        ).all()
    )
    assert addresses["gaon.sw1"] == "gaon.sw1@gaon.example"
    assert addresses["gaon.admin"] == "gaon.admin@gaon.example"
    assert addresses["gaon.audit"] is None  # auditors get no alert e-mail
    roles = dict(
        db.session.execute(
            sa.select(Account.username, Account.role).where(Account.username.like("gaon.%"))
        ).all()
    )
    assert roles["gaon.sw1"] == Role.SOCIAL_WORKER.value


def test_a_worker_states_it_once_when_it_starts(fresh_app):
    """A worker process `dev.py run` starts for the alerts queue: the notice is in its log,
    once."""
    app, url = fresh_app
    keys = ("SECRET_KEY", "ENCRYPTION_KEYS", "BLIND_INDEX_KEY")
    env = (
        os.environ
        | {f"WELFARE_{key}": app.config[key] for key in keys}
        | {"DATABASE_URL": url, "WELFARE_ENV": "testing"}
    )
    env.pop("WELFARE_FCM_SERVICE_ACCOUNT_FILE", None)
    worker = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "flask", "--app", "app", "outbox", "run", "--queue", "alerts"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = worker.stderr.readline()
            lines.append(line)
            if "local worker for alerts started" in line or not line:
                break
        time.sleep(3)  # many passes of the queue: still said only once
    finally:
        worker.terminate()
        _, rest = worker.communicate(timeout=30)
    log = "".join(lines) + rest
    assert any("local worker for alerts started" in line for line in lines), log
    assert log.count("푸시 꺼짐: 설정하려면 WELFARE_FCM_SERVICE_ACCOUNT_FILE") == 1, log
