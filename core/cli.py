"""Core CLI: key rotation, account bootstrap, the outbox workers and the scheduler."""

from __future__ import annotations

import os
import socket

import click
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import current_app
from flask.cli import AppGroup
from marshmallow import ValidationError

from core import scheduler
from core.auth.roles import Role
from core.config import read_local_secrets, write_local_secrets
from core.crypto import EncryptedText, configure_crypto, reencrypt
from core.db import db, transaction
from core.errors import ApiError
from core.outbox import LIGHT_QUEUES, QUEUES

keys_cli = AppGroup("keys", help="암호화 키 관리 (Encryption keys).")
accounts_cli = AppGroup("accounts", help="계정 관리 (Accounts).")


def encrypted_columns() -> list[tuple[sa.Table, sa.Column]]:
    """Every encrypted column in the schema."""
    return [
        (table, column)
        for table in db.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedText)
    ]


def rotate_all(batch_size: int = 1000) -> int:
    """Re-encrypt every encrypted value under the newest key; returns how many were rewritten."""
    rewritten = 0
    for table, column in encrypted_columns():
        pk = next(iter(table.primary_key.columns))
        raw = sa.column(column.name, sa.Text)  # bypass the decrypting type: rotate ciphertext
        last_id = 0
        while True:
            with transaction():
                rows = db.session.execute(
                    sa.select(pk, raw)
                    .select_from(table)
                    .where(pk > last_id, raw.is_not(None))
                    .order_by(pk)
                    .limit(batch_size)
                ).all()
                for row_id, token in rows:
                    # Guarded by the old ciphertext: a value the app rewrote meanwhile (already
                    # under the newest key) is not overwritten with the stale one.
                    db.session.execute(
                        sa.update(table)
                        .where(pk == row_id, raw == sa.literal(token, sa.Text))
                        .values({column.name: sa.literal(reencrypt(token), sa.Text)})
                    )
            if not rows:
                break
            rewritten += len(rows)
            last_id = rows[-1][0]
    return rewritten


@keys_cli.command("generate")
def generate_key() -> None:
    """Print a new encryption key (put it first in WELFARE_ENCRYPTION_KEYS, then rotate)."""
    click.echo(Fernet.generate_key().decode())


@keys_cli.command("rotate")
@click.option(
    "--new-key/--no-new-key",
    default=None,
    help="Add a fresh key first (default: yes for local development secrets).",
)
def rotate(new_key: bool | None) -> None:
    """Re-encrypt every personal-data field under the newest key."""
    stored = read_local_secrets(current_app.instance_path)
    uses_local = (
        stored is not None and stored["ENCRYPTION_KEYS"] == current_app.config["ENCRYPTION_KEYS"]
    )
    if new_key is None:
        new_key = uses_local
    if new_key:
        if not uses_local:
            raise click.ClickException(
                "Keys come from the environment: run `flask keys generate`, put the new key first "
                "in WELFARE_ENCRYPTION_KEYS, then run `flask keys rotate --no-new-key`."
            )
        keys = Fernet.generate_key().decode() + "," + stored["ENCRYPTION_KEYS"]
        stored["ENCRYPTION_KEYS"] = keys
        write_local_secrets(current_app.instance_path, stored)
        current_app.config["ENCRYPTION_KEYS"] = keys
        configure_crypto(keys, current_app.config["BLIND_INDEX_KEY"])
        click.echo("Added a new primary key to the local secrets.")
    count = rotate_all()
    click.echo(f"Re-encrypted {count} values under the newest key.")
    if uses_local and new_key:
        click.echo("Older keys stay listed so backups still decrypt; drop them when you are ready.")


@accounts_cli.command("create")
@click.option("--username", required=True)
@click.option("--name", "display_name", required=True)
@click.option("--role", type=click.Choice([role.value for role in Role]), required=True)
@click.option("--municipality-id", type=int)
@click.option("--office-id", type=int)
@click.option("--email", help="work e-mail for alerts")
@click.password_option()
def create(
    username: str,
    display_name: str,
    role: str,
    municipality_id: int | None,
    office_id: int | None,
    email: str | None,
    password: str,
) -> None:
    """Create an account (the first system admin is made this way)."""
    from core.auth.principal import COMMAND_LINE
    from core.auth.schemas import Email
    from core.auth.services import NewAccount, create_account

    try:
        email = Email().deserialize(email)
    except ValidationError as error:
        raise click.BadParameter(" ".join(error.messages), param_hint="--email") from error
    try:
        with transaction():
            new = NewAccount(
                username=username,
                display_name=display_name,
                password=password,
                role=Role(role),
                municipality_id=municipality_id,
                office_id=office_id,
                email=email,
            )
            account = create_account(COMMAND_LINE, new)
    except ApiError as error:
        raise click.ClickException(f"{error.message} {error.fields or ''}".strip()) from error
    click.echo(f"Created account {account.username} (id {account.id}, {account.role}).")


outbox_cli = AppGroup("outbox", help="작업 대기열 (Outbox: jobs, webhooks, pushes, e-mails).")


@outbox_cli.command("run")
@click.option(
    "--queue",
    "queues",
    multiple=True,
    type=click.Choice(QUEUES),
    help="a queue to work on (repeatable; default: all)",
)
@click.option("--once", is_flag=True, help="run what is due now in this process, then exit")
@click.option(
    "--concurrency",
    default=4,
    show_default=True,
    help="Celery's threads for alerts and notices (heavy queues: one job per process)",
)
def run_outbox(queues: tuple[str, ...], once: bool, concurrency: int) -> None:
    """Work on queues: a Celery worker when a broker is configured, else a local worker."""
    from core.outbox import deliver_due
    from core.push import state_push_off
    from core.queues import work_locally

    app = current_app._get_current_object()
    queues = queues or QUEUES
    state_push_off(app)
    if once:
        run = deliver_due(queues=queues)
        click.echo(f"sent {run.sent}, to retry {run.retried}, dead {run.dead}")
        return
    light = set(queues) <= set(LIGHT_QUEUES)
    if not light:
        # Where heavy work shares a machine with the web server or the alerts (the embedded
        # default, a small deployment), uploads and alerts get the CPU first; the solver's
        # processes inherit this. On a machine of its own it changes nothing.
        os.nice(app.config["HEAVY_WORKER_NICE"])
    celery = app.extensions.get("celery")
    if celery is None:
        work_locally(app, queues, app.config["LOCAL_WORKER_POLL_S"])
        return
    prefix = app.config["JOBS_QUEUE_PREFIX"]
    # Alerts and notices wait on the network: threads, each call bounded by its own timeout.
    # A heavy job runs on the main thread, one at a time per process ("solo"), where the
    # queue's time limit can interrupt it; Celery's prefork pool, which enforces its own time
    # limits, marks its children daemonic, and a daemonic process may not start the solver's.
    celery.Worker(
        queues=[prefix + queue for queue in queues],
        pool="threads" if light else "solo",
        # Celery reserves concurrency × prefetch tasks: a solo worker reserves only the one it
        # runs, so a second machine's worker gets the next plan.
        concurrency=concurrency if light else 1,
        hostname=f"{'+'.join(queues)}@{socket.gethostname()}-{os.getpid()}",
        loglevel=app.config.get("LOG_LEVEL", "INFO"),
        # Workers share nothing but the broker's queues: no startup sync with other workers
        # (mingle), no gossip, no event heartbeats. A worker that lost Redis while syncing
        # could stop consuming for good once Redis was back (celery#8030, #8091, #10205: seen
        # here as jobs left unrun after a Redis restart); without them it reconnects and reads.
        without_mingle=True,
        without_gossip=True,
        without_heartbeat=True,
    ).start()


scheduler_cli = AppGroup("scheduler", help="예약 작업 (Scheduled jobs: one leader at a time).")


@scheduler_cli.command("run")
@click.option(
    "--probe-every", type=float, default=None, help="also record a probe tick every S seconds"
)
def run_scheduler(probe_every: float | None) -> None:
    """Run the scheduler; a second one waits and takes over if the first dies."""
    scheduler.run(probe_every_s=probe_every)
