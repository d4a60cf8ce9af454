"""Jobs a person waits for (an uploaded file's import): who started it, its progress, its result.

A request stores the job, with its file encrypted, and the outbox message that runs it in one
transaction, and answers 202. The worker (`run`) marks the job running, reports its progress
in short transactions of its own, and applies the work in one transaction that also marks the
job done: the job is done exactly when its work is committed. A worker that dies leaves the
job running and nothing applied; the outbox runs the message again and the job starts over. A
job already finished is left alone. The file is cleared when the job finishes either way.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.audit import client_ip
from core.auth.principal import Principal
from core.auth.roles import MUNICIPAL_ROLES, Role
from core.crypto import EncryptedBytes, EncryptedJSON
from core.db import UTCDateTime, db, transaction, utcnow
from core.errors import ApiError, NotFound
from core.outbox import MAX_ATTEMPTS, Message, enqueue

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATUSES = (QUEUED, RUNNING, DONE, FAILED)
FINISHED = (DONE, FAILED)
#: The phases of an import: reading the file, checking its rows, writing them; and the wait
#: for another attempt after a worker failed.
PARSE, VALIDATE, WRITE, RETRY = "parse", "validate", "write", "retry"
#: Counts are written at most this often (a new phase at once): a page polls every second.
PROGRESS_EVERY_S = 0.5
#: The file is compressed before it is encrypted (ciphertext compresses no more): a CSV keeps
#: a quarter of its size in the table and in memory on the way; the fastest level suffices.
FILE_COMPRESSION = 1


class Job(db.Model):
    """One background job of a municipality or a delivery office, started by an account."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    #: The tenant whose staff may follow it: a municipality's, or a delivery office's.
    municipality_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("municipalities.id"), index=True
    )
    office_id: Mapped[int | None] = mapped_column(sa.ForeignKey("delivery_offices.id"), index=True)
    #: queued | running | done | failed
    status: Mapped[str] = mapped_column(sa.String(10), default=QUEUED)
    phase: Mapped[str | None] = mapped_column(sa.String(20))
    done_count: Mapped[int] = mapped_column(default=0)
    total_count: Mapped[int | None]
    #: The job's own arguments (the file's format, a day); never personal data.
    params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # The three encrypted columns are loaded (and decrypted) only when read: a page polling
    # the progress needs none of them, and the file may be tens of megabytes.
    #: What the synchronous call would have answered (an import's row report). Encrypted: a
    #: row problem quotes the cell it is about.
    result: Mapped[dict | None] = mapped_column(EncryptedJSON(), deferred=True)
    #: The refusal, in the API's error shape {"code", "message", "fields"} (fields quote cells).
    error: Mapped[dict | None] = mapped_column(EncryptedJSON(), deferred=True)
    #: The uploaded file, zlib-compressed, until the job finishes.
    file: Mapped[bytes | None] = mapped_column(EncryptedBytes(), deferred=True)
    #: Where the starter connected from: the access log of the job's work names it.
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def progress(self) -> dict[str, Any]:
        """The phase and how far into it: {"phase", "done", "total"} (total None: unknown)."""
        return {"phase": self.phase, "done": self.done_count, "total": self.total_count}

    @property
    def finished(self) -> bool:
        """Done or failed: nothing more will happen to it."""
        return self.status in FINISHED


#: The error of a job whose every attempt failed unexpectedly (the outbox gave up on it).
INTERRUPTED = {
    "code": "job_interrupted",
    "message": "작업을 끝내지 못했습니다. 아무것도 바뀌지 않았으니 파일을 다시 올려 주세요. "
    "(The job could not be completed; nothing was changed. Upload the file again.)",
    "fields": {},
}


def start(
    principal: Principal,
    kind: str,
    file: bytes,
    params: dict[str, Any],
    *,
    municipality_id: int | None = None,
    office_id: int | None = None,
) -> Job:
    """Store a job with its file and queue it; it runs only if the caller's transaction commits."""
    job = Job(
        kind=kind,
        account_id=principal.account_id,
        municipality_id=municipality_id,
        office_id=office_id,
        status=QUEUED,
        params=params,
        file=zlib.compress(file, FILE_COMPRESSION),
        ip=client_ip(),
    )
    db.session.add(job)
    db.session.flush()
    enqueue(kind, {"job": job.id}, job.id)
    return job


def jobs_visible_to(principal: Principal) -> sa.Select:
    """A municipality's jobs to its staff, an office's to its dispatchers; none to anyone else."""
    query = sa.select(Job).order_by(Job.id.desc())
    if principal.role in MUNICIPAL_ROLES and principal.municipality_id is not None:
        return query.where(Job.municipality_id == principal.municipality_id)
    if principal.role == Role.DISPATCHER and principal.office_id is not None:
        return query.where(Job.office_id == principal.office_id)
    return query.where(sa.false())


def get_job(principal: Principal, job_id: int, kind: str | None = None) -> Job:
    """One visible job (of the kind, if given), or 404."""
    query = jobs_visible_to(principal).where(Job.id == job_id)
    if kind is not None:
        query = query.where(Job.kind == kind)
    job = db.session.scalar(query)
    if job is None:
        raise NotFound()
    return job


class _AlreadyFinished(Exception):
    """Another run finished the job meanwhile: this one's work is rolled back."""


@dataclass
class RunningJob:
    """A started job as plain data, with the calls its work makes (none inside a transaction)."""

    id: int
    account_id: int | None
    municipality_id: int | None
    office_id: int | None
    params: dict[str, Any]
    file: bytes
    ip: str | None
    _phase: str | None = field(default=None, repr=False)
    _reported_at: float = field(default=0.0, repr=False)

    def progress(self, phase: str, done: int = 0, total: int | None = None) -> None:
        """Say how far the job is, in a short transaction of its own (throttled)."""
        now = time.monotonic()
        if phase == self._phase and done != total and now - self._reported_at < PROGRESS_EVERY_S:
            return
        self._phase, self._reported_at = phase, now
        with transaction():
            db.session.execute(
                sa.update(Job)
                .where(Job.id == self.id, Job.status == RUNNING)
                .values(phase=phase, done_count=done, total_count=total)
                .execution_options(synchronize_session=False)
            )

    def apply(self, work: Callable[[], dict]) -> None:
        """Run work in one transaction that also marks the job done with work's result."""
        try:
            with transaction():
                job = _locked(self.id)
                if job.finished:
                    raise _AlreadyFinished()
                result = work()
                _finish(job, DONE, result=result)
        except _AlreadyFinished:
            log.info("job %s was finished by another run; this run changed nothing", self.id)

    def refuse(self, error: ApiError, result: dict | None = None) -> None:
        """End the job failed with the refusal (and a result such as the row report)."""
        with transaction():
            job = _locked(self.id)
            if not job.finished:
                _finish(job, FAILED, result=result, error=_error_body(error))


def run(message: Message, work: Callable[[RunningJob], None]) -> None:
    """Run the job a message names: a finished job is left alone, a refusal (ApiError) fails it,
    any other error gives it back to the outbox to try again (and fails it on the last try)."""
    job = _begin(int(message.payload["job"]))
    if job is None:
        return
    try:
        work(job)
    except ApiError as refusal:
        job.refuse(refusal)
    except Exception:
        _interrupted(job.id, last_attempt=message.attempt >= MAX_ATTEMPTS)
        raise


def _begin(job_id: int) -> RunningJob | None:
    """Mark the job running (again, if a worker died running it); None if it is finished."""
    with transaction():
        job = db.session.scalar(sa.select(Job).where(Job.id == job_id).with_for_update())
        if job is None or job.finished:
            return None
        job.status, job.started_at = RUNNING, utcnow()
        job.phase, job.done_count, job.total_count = None, 0, None
        return RunningJob(
            job.id,
            job.account_id,
            job.municipality_id,
            job.office_id,
            dict(job.params),
            zlib.decompress(job.file),
            job.ip,
        )


def _interrupted(job_id: int, *, last_attempt: bool) -> None:
    """After an unexpected error: queued for the outbox's next try, or failed after the last."""
    with transaction():
        job = _locked(job_id)
        if job.finished:
            return
        if last_attempt:
            _finish(job, FAILED, error=INTERRUPTED)
        else:
            job.status, job.phase, job.done_count, job.total_count = QUEUED, RETRY, 0, None


def _locked(job_id: int) -> Job:
    """The job, locked for the rest of the transaction (PostgreSQL; SQLite locks the file)."""
    return db.session.scalars(sa.select(Job).where(Job.id == job_id).with_for_update()).one()


def _finish(
    job: Job, status: str, *, result: dict | None = None, error: dict | None = None
) -> None:
    job.status, job.result, job.error = status, result, error
    job.file, job.finished_at = None, utcnow()  # the upload is not kept once it has served


def _error_body(error: ApiError) -> dict[str, Any]:
    """A refusal as the API's error member: {"code", "message", "fields"}."""
    return {"code": error.code, "message": error.message, "fields": error.fields}
