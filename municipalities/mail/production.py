"""Letter production: print-ready PDFs and manifests per batch, made by the outbox worker."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from core.audit import record_access
from core.auth.principal import Principal
from core.db import db, transaction, utcnow
from core.errors import Invalid, NotFound
from core.outbox import DeliveryFailed, Message
from municipalities.mail.letters import LetterItem, Sender, render_letters
from municipalities.mail.models import LetterBatch, LetterTemplate, Mailing, MailItem
from municipalities.mail.registered_numbers import make_number
from municipalities.mail.services import get_batch, merge_letter, preview_mailing, record_event
from municipalities.mail.tracking import EventCode, ItemStatus
from municipalities.models import Household, Municipality

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.5  # the mailing page polls every second


def letters_dir() -> Path:
    """Where produced PDFs and manifests are kept."""
    configured = current_app.config.get("LETTERS_DIR")
    path = Path(configured) if configured else Path(current_app.instance_path) / "letters"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sender_of(municipality: Municipality) -> Sender:
    """The return-address block of a municipality's letters: its sender identity."""
    return Sender(
        name=municipality.name,
        department=municipality.department,
        road_address=municipality.road_address,
        postal_code=municipality.postal_code,
        phone=municipality.phone,
        contact_person=municipality.contact_person,
    )


def _letter(item_number: str, household: Household, text: str) -> LetterItem:
    return LetterItem(
        registered_number=item_number,
        addressee=household.name,
        road_address=household.road_address,
        address_detail=household.address_detail,
        postal_code=household.postal_code,
        body=text,
    )


def preview_pdf(principal: Principal, mailing_id: int, today: date) -> io.BytesIO:
    """One merged letter of a draft mailing as PDF, with a sample registered number."""
    preview = preview_mailing(principal, mailing_id, today)
    if preview.sample is None:
        raise Invalid(fields={"selection": ["보낼 가구가 없습니다. (No household to mail.)"]})
    municipality = db.session.get(Municipality, preview.mailing.municipality_id)
    out = io.BytesIO()
    render_letters(
        [_letter(make_number(today.year, 1), preview.sample, preview.sample_text)],
        sender_of(municipality),
        out,
        title="복지등기 (미리보기 preview)",
        issued_on=preview.mailing.send_date,
    )
    out.seek(0)
    return out


def _batch_letters(
    batch: LetterBatch, mailing: Mailing, template, municipality
) -> Iterator[LetterItem]:
    rows = db.session.execute(
        sa.select(MailItem.registered_number, Household)
        .join(Household, Household.id == MailItem.household_id)
        .where(MailItem.batch_id == batch.id)
        .order_by(MailItem.district_id, Household.road_address, MailItem.id)
    )
    body = mailing.body_snapshot or template.body
    for number, household in rows:
        yield _letter(number, household, merge_letter(body, household, municipality, template))


def _reporter(batch_id: int) -> Callable[[int], None]:
    """Record how many letters are rendered, at most every PROGRESS_EVERY_S (a short
    transaction of its own: rendering holds no database lock)."""
    last = time.monotonic()

    def report(rendered: int) -> None:
        nonlocal last
        if time.monotonic() - last < PROGRESS_EVERY_S:
            return
        last = time.monotonic()
        with transaction():
            db.session.execute(
                sa.update(LetterBatch)
                .where(LetterBatch.id == batch_id)
                .values(rendered_count=rendered)
            )

    return report


def produce_batch(message: Message) -> None:
    """Outbox handler: render one batch's letters and manifest, then mark its items produced."""
    batch_id = message.payload["batch_id"]
    with transaction():
        batch = db.session.get(LetterBatch, batch_id)
        if batch.status == "produced":
            return  # a repeated message after a crash between render and record
        batch.status = "producing"
    directory = letters_dir()
    pdf_path = directory / f"batch-{batch_id}.pdf"
    manifest_path = directory / f"batch-{batch_id}-manifest.csv"
    with transaction():
        batch = db.session.get(LetterBatch, batch_id)
        mailing = db.session.get(Mailing, batch.mailing_id)
        template = db.session.get(LetterTemplate, mailing.template_id)
        municipality = db.session.get(Municipality, mailing.municipality_id)
        sender = sender_of(municipality)
        # Dated the mailing's send date: the same on every batch and on the preview, and it
        # does not change when a failed batch is rendered again later.
        issued_on = mailing.send_date
        # Read everything first: rendering takes seconds and must not hold the database.
        letters = list(_batch_letters(batch, mailing, template, municipality))
    try:
        with (
            pdf_path.open("wb") as pdf,
            manifest_path.open("w", encoding="utf-8-sig", newline="") as manifest,
        ):
            pages = render_letters(
                letters,
                sender,
                pdf,
                manifest=manifest,
                issued_on=issued_on,
                progress=_reporter(batch_id),
            )
    except Exception as error:
        with transaction():
            batch = db.session.get(LetterBatch, batch_id)
            batch.status, batch.error = "failed", type(error).__name__
        log.exception("letter batch %s failed", batch_id)
        raise DeliveryFailed(f"rendering failed: {type(error).__name__}") from error
    with transaction():
        batch = db.session.get(LetterBatch, batch_id)
        batch.status, batch.page_count, batch.error = "produced", pages, None
        batch.rendered_count = batch.item_count
        batch.pdf_path, batch.manifest_path = str(pdf_path), str(manifest_path)
        batch.produced_at = utcnow()
        items = db.session.scalars(
            sa.select(MailItem).where(
                MailItem.batch_id == batch_id, MailItem.status == ItemStatus.ACCEPTED.value
            )
        )
        for item in items:
            record_event(item, EventCode.PRODUCED, actor_id=None, place="전자우편 제작센터")


def log_batch_download(principal: Principal, batch: LetterBatch, what: str) -> None:
    """A download of letters or manifest shows every addressee: log it per household."""
    household_ids = db.session.scalars(
        sa.select(MailItem.household_id).where(MailItem.batch_id == batch.id)
    ).all()
    municipality_id = db.session.scalar(
        sa.select(Mailing.municipality_id).where(Mailing.id == batch.mailing_id)
    )
    record_access(
        principal.account_id,
        "download",
        "household",
        household_ids,
        municipality_id,
        detail=f"batch {batch.id} {what}",
    )


#: A batch's downloads: the attribute holding its file, the media type and the file name.
BATCH_FILES = {
    "letters": ("pdf_path", "application/pdf", "letters-{}.pdf"),
    "manifest": ("manifest_path", "text/csv", "manifest-{}.csv"),
}


@dataclass(frozen=True)
class BatchDownload:
    """One of a batch's files as it is sent: where it is kept, its media type and its name."""

    stored: str | None
    mimetype: str
    name: str

    def path(self) -> str:
        """Where the file is kept; 404 while it is not produced yet."""
        if self.stored is None or not Path(self.stored).exists():
            raise NotFound("아직 인쇄 파일이 없습니다. (Not produced yet.)")
        return self.stored


def batch_download(principal: Principal, batch_id: int, kind: str) -> BatchDownload:
    """A visible batch's "letters" or "manifest" for download; the download is access-logged."""
    attribute, mimetype, name = BATCH_FILES[kind]
    batch = get_batch(principal, batch_id)
    log_batch_download(principal, batch, attribute)
    return BatchDownload(getattr(batch, attribute), mimetype, name.format(batch.id))
