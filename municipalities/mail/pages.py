"""The social worker's mailing wizard and the mailings: choose households, a letter and a send
date, preview, submit; then the mailing with its status and letter batches. And tracking a mail
item by its registered number.

Thin like the mail API (municipalities/mail/views.py), over the same services: tenancy, roles,
working days and the access log come from municipalities/mail/services.py, the PDF preview and
the batch downloads from the very code the API answers with. Nothing is written until step 2
saves a draft: step 1's choice travels in the query as household ids or filter codes, never a
name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, g, render_template, request, send_file, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from core.auth.pages import staff_page
from core.auth.principal import Principal, current_principal
from core.clock import next_working_day, seoul_today
from core.db import db, transaction
from core.errors import ApiError, Invalid
from core.forms import (
    NOT_A_NUMBER,
    Answer,
    PageForm,
    choice,
    day,
    load_form,
    load_page_number,
    number,
    numbers,
    submit,
    text,
)
from core.nav import add_nav_link
from municipalities import services
from municipalities.forms import ASSIGNMENTS, STATUSES, FilterForm, SearchForm
from municipalities.mail import production
from municipalities.mail import services as mail
from municipalities.mail.models import LetterBatch, Mailing
from municipalities.mail.tracking import EVENT_LABELS, STATUS_LABELS
from municipalities.models import Household
from municipalities.vocabulary import HOUSEHOLD_TYPES, RISK_SOURCES

# Under the registry: the mailings at /registry/mailings/, an item's tracking at /registry/items.
bp = Blueprint("mail_pages", __name__, url_prefix="/registry", template_folder="templates")
PER_PAGE = 50
#: Households listed to tick at once; a bigger mailing is chosen by a saved filter.
TICKABLE = 100
MAILING_STATUSES = {
    "draft": _l("작성 중"),
    "submitted": _l("발송 요청됨"),
    "cancelled": _l("취소됨"),
}
BATCH_STATUSES = {
    "queued": _l("제작 대기"),
    "producing": _l("제작 중"),
    "produced": _l("제작 완료"),
    "failed": _l("제작 실패"),
}
#: Why a chosen household is left out (the codes of mail.select_households).
EXCLUSIONS = {
    "not_found": _l("명부에 없거나 다른 지자체의 가구입니다."),
    "closed": _l("종결된 가구입니다."),
    "no_district": _l("집배구가 정해지지 않았습니다."),
    "open_item": _l("배달 중인 복지등기가 있습니다."),
}
NOTHING_TICKED = "가구를 하나 이상 고르세요. (Tick at least one household.)"
DAYS = "1~3650일로 적어 주세요. (1 to 3650 days.)"
CONFIRM = "발송하려면 확인란을 선택하세요. (Tick the box to submit.)"


class SelectionForm(PageForm):
    """Step 1's choice: ticked households, a saved filter or all active households."""

    kind = choice(("list", "filter"), required=True)
    household_ids = numbers()
    household_type = choice(HOUSEHOLD_TYPES)
    district_id = number()
    risk_source = choice(RISK_SOURCES)
    not_mailed_days = fields.Integer(
        validate=validate.Range(min=1, max=3650, error=DAYS),
        error_messages={"invalid": NOT_A_NUMBER},
    )
    all_active = fields.Boolean()


class DraftForm(SelectionForm):
    title = text(200, required=True)
    template_id = number(required=True)
    send_date = day(required=True)


class TemplateForm(SelectionForm):
    name = text(100, required=True)
    body = text(5000, required=True, multiline=True)
    contact = text(200, required=True, multiline=True)
    programmes = text(2000, multiline=True)


class ConfirmForm(PageForm):
    confirm = fields.Boolean(
        required=True,
        error_messages={"required": CONFIRM},
        validate=validate.Equal(True, error=CONFIRM),
    )


def register_pages(app: Flask) -> None:
    """Mount the pages and put the tracking and the mailings in the municipal team's navigation."""
    app.register_blueprint(bp)
    add_nav_link(app, "mail_pages.tracking", _l("등기 조회"), services.READERS)
    add_nav_link(app, "mail_pages.mailings", _l("복지등기 발송"), mail.READERS)


@bp.context_processor
def _words() -> dict:
    return {
        "mailing_statuses": MAILING_STATUSES,
        "batch_statuses": BATCH_STATUSES,
        "exclusions": EXCLUSIONS,
        "statuses": STATUSES,
        "writer": getattr(g.get("principal"), "role", None) in mail.WRITERS,
        "assignments": ASSIGNMENTS,
        "household_types": HOUSEHOLD_TYPES,
        "risk_sources": RISK_SOURCES,
    }


# --- The mailings ------------------------------------------------------------------------------


@bp.get("/mailings/")
@staff_page(*mail.READERS)
def mailings() -> str:
    """The municipality's mailings, newest first: status, letters and send date."""
    query = mail.mailings_visible_to(current_principal())
    page = db.paginate(
        query, page=load_page_number(request.args), per_page=PER_PAGE, error_out=False
    )
    return render_template("mail/list.html", page=page)


# --- Step 1: choose households -------------------------------------------------------------------


@bp.get("/mailings/new")
@staff_page(*mail.WRITERS)
def choose() -> tuple[str, int]:
    """Step 1: tick households of the registry (its filters in the query), or give a filter."""
    return _choose_page(FilterForm, request.args)


@bp.post("/mailings/new/search")
@staff_page(*mail.WRITERS)
def choose_search() -> tuple[str, int]:
    """Step 1 with a name: found through its blind index, posted so it stays out of the URL."""
    return _choose_page(SearchForm, request.form, searching=True)


def _choose_page(
    form: type[PageForm],
    given: Mapping[str, str],
    searching: bool = False,
    error: ApiError | None = None,
) -> tuple[str, int]:
    principal = current_principal()
    try:
        filters = load_form(form, given)
    except Invalid as refused:
        error, filters = refused, {}
    filters.pop("page", None)
    with transaction():  # every household listed is access-logged
        page = db.paginate(
            services.search_households(principal, services.HouseholdFilters(**filters)),
            page=1,
            per_page=TICKABLE,
        )
        services.log_listed(principal, page.items)
        html = render_template(
            "mail/choose.html",
            page=page,
            form=given,
            searching=searching,
            districts=districts_in_use(principal),
            error=error,
            errors=error.fields if error else {},
        )
    return html, error.status if error else 200


def districts_in_use(principal: Principal) -> list[tuple[int, int]]:
    """The carrier districts of the municipality's active households, with how many each."""
    query = (
        services.households_visible_to(principal)
        .with_only_columns(Household.district_id, sa.func.count(Household.id))
        .where(Household.status == "active", Household.district_id.is_not(None))
        .group_by(Household.district_id)
        .order_by(Household.district_id)
    )
    return [(district, count) for district, count in db.session.execute(query)]


def selection_of(data: dict[str, Any]) -> dict[str, Any]:
    """The form's choice as the service takes it: ids, the filter's given keys, or all_active."""
    if data["kind"] == "list":
        if not data.get("household_ids"):
            raise Invalid(fields={"household_ids": [NOTHING_TICKED]})
        return {"household_ids": data["household_ids"]}
    selection = {key: data[key] for key in mail.FILTER_KEYS if key in data}
    if data.get("all_active"):
        selection["all_active"] = True
    mail.check_selection(selection)  # at step 1: an empty filter never reaches a draft
    return selection


def selection_args(selection: dict[str, Any]) -> MultiDict:
    """A selection as the query or hidden fields that carry it to the next step."""
    kind = "list" if "household_ids" in selection else "filter"
    args = MultiDict([("kind", kind)])
    for key, value in selection.items():
        for item in value if isinstance(value, list) else [value]:
            args.add(key, str(item))
    return args


# --- Step 2: the letter, the title and the send date -------------------------------------------


@bp.get("/mailings/new/letter")
@staff_page(*mail.WRITERS)
def letter() -> tuple[str, int]:
    """Step 2: choose (or add) a letter template, a title and a working day to send on."""
    return _letter_or_choose(request.args)


def _letter_or_choose(given: MultiDict, error: ApiError | None = None) -> tuple[str, int]:
    try:
        selection = selection_of(load_form(SelectionForm, given))
    except Invalid as refused:  # nothing ticked: back to step 1, the refusal at the list
        return _choose_page(FilterForm, given, error=refused)
    principal = current_principal()
    html = render_template(
        "mail/letter.html",
        selection=selection,
        kept=selection_args(selection),
        templates=list(db.session.scalars(mail.templates_visible_to(principal))),
        form=given,
        send_date=given.get("send_date") or next_working_day(seoul_today()).isoformat(),
        error=error,
        errors=error.fields if error else {},
    )
    return html, error.status if error else 200


@bp.post("/mailings/new")
@staff_page(*mail.WRITERS)
def create() -> Answer:
    """Save the draft mailing (the service checks the template and the working day)."""
    principal = current_principal()

    def create_draft(data: dict[str, Any]) -> Mailing:
        draft = mail.NewMailing(
            title=data["title"],
            template_id=data["template_id"],
            selection=selection_of(data),
            send_date=data["send_date"],
        )
        return mail.create_mailing(principal, draft, seoul_today())

    return submit(
        DraftForm,
        create_draft,
        lambda error: _letter_or_choose(request.form, error),
        gettext("우편을 저장했습니다. 미리보기를 확인한 뒤 발송을 요청하세요."),
        lambda mailing: url_for(".mailing", mailing_id=mailing.id),
    )


@bp.post("/mailings/templates")
@staff_page(*mail.WRITERS)
def create_template() -> Answer:
    """Add a letter template (merge fields checked), then back to step 2 with it chosen."""
    principal = current_principal()

    def save(data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        new = mail.NewTemplate(
            name=data["name"],
            body=data["body"],
            contact=data["contact"],
            programmes=data.get("programmes", ""),
        )
        return mail.create_template(principal, new).id, selection_of(data)

    return submit(
        TemplateForm,
        save,
        lambda error: _letter_or_choose(request.form, error),
        gettext("편지 양식을 추가했습니다."),
        lambda saved: url_for(
            ".letter", **selection_args(saved[1]).to_dict(flat=False), template_id=saved[0]
        ),
    )


# --- Steps 3 and 4: preview and submit; then the mailing -----------------------------------------


def _batches(principal: Principal, mailing_id: int) -> list[LetterBatch]:
    return list(
        db.session.scalars(
            mail.batches_visible_to(principal).where(LetterBatch.mailing_id == mailing_id)
        )
    )


def letters_state(batches: list[LetterBatch]) -> dict[str, Any]:
    """How far the letters of a mailing's batches are, for its progress bar."""
    busy = [batch for batch in batches if batch.status in ("queued", "producing")]
    done = sum(batch.rendered_count for batch in batches)
    total = sum(batch.item_count for batch in batches)
    if not busy:
        label = gettext("편지를 모두 만들었습니다.")
    elif all(batch.status == "queued" for batch in busy):
        label = gettext("편지 만들기를 기다리는 중")
    else:
        label = gettext("편지를 만드는 중")
    count = gettext("%(done)s / %(total)s통", done=f"{done:,}", total=f"{total:,}")
    return {"label": label, "count": count, "done": done, "total": total, "finished": not busy}


@bp.get("/mailings/<int:mailing_id>/letters-progress")
@staff_page(*mail.READERS)
def letters_progress(mailing_id: int) -> dict[str, Any]:
    """The mailing's letters, for its page to poll while the letters worker renders them."""
    principal = current_principal()
    with transaction():
        shown = mail.get_mailing(principal, mailing_id)
        return letters_state(_batches(principal, shown.id))


@bp.get("/mailings/<int:mailing_id>")
@staff_page(*mail.READERS)
def mailing(mailing_id: int) -> tuple[str, int]:
    """A draft's preview and submit form, or a submitted mailing's status and batches."""
    return _mailing_page(current_principal(), mailing_id)


def _mailing_page(
    principal: Principal, mailing_id: int, error: ApiError | None = None
) -> tuple[str, int]:
    preview = problem = None
    with transaction():  # the sample letter shows a household: the preview is access-logged
        shown = mail.get_mailing(principal, mailing_id)
        if shown.status == "draft":
            try:
                preview = mail.preview_mailing(principal, mailing_id, seoul_today())
            except Invalid as refused:  # too many households, or an old draft's empty filter
                problem = refused
        batches = _batches(principal, shown.id)
        html = render_template(
            "mail/mailing.html",
            mailing=shown,
            template=mail.get_template(principal, shown.template_id),
            preview=preview,
            batches=batches,
            letters=letters_state(batches),
            problem=problem,
            error=error,
            errors=error.fields if error else {},
        )
    return html, error.status if error else 200


@bp.post("/mailings/<int:mailing_id>/submit")
@staff_page(*mail.WRITERS)
def submit_page(mailing_id: int) -> Answer:
    """Submit a draft: one registered item per household, letters queued for printing."""
    principal = current_principal()
    return submit(
        ConfirmForm,
        lambda _: mail.submit_mailing(principal, mailing_id, seoul_today()),
        lambda error: _mailing_page(principal, mailing_id, error),
        gettext("발송을 요청했습니다. 편지는 우체국별로 제작됩니다."),
        lambda _: url_for(".mailing", mailing_id=mailing_id),
    )


@bp.get("/mailings/<int:mailing_id>/preview.pdf")
@staff_page(*mail.READERS)
def preview_pdf(mailing_id: int) -> Response:
    """The first letter of a draft as a PDF page, made as the API makes it."""
    with transaction():
        pdf = production.preview_pdf(current_principal(), mailing_id, seoul_today())
    return send_file(pdf, mimetype="application/pdf", download_name=f"preview-{mailing_id}.pdf")


@bp.get("/mailings/batches/<int:batch_id>/letters.pdf")
@staff_page(*mail.READERS)
def batch_letters(batch_id: int) -> Response:
    """A batch's print-ready letters (the download is access-logged, as in the API)."""
    return _batch_file(batch_id, "letters")


@bp.get("/mailings/batches/<int:batch_id>/manifest.csv")
@staff_page(*mail.READERS)
def batch_manifest(batch_id: int) -> Response:
    """A batch's CSV manifest for the printing office (access-logged, as in the API)."""
    return _batch_file(batch_id, "manifest")


def _batch_file(batch_id: int, kind: str) -> Response:
    with transaction():
        download = production.batch_download(current_principal(), batch_id, kind)
    return send_file(download.path(), mimetype=download.mimetype, download_name=download.name)


# --- Tracking an item ---------------------------------------------------------------------------


@bp.get("/items")
@staff_page(*services.READERS)
def tracking() -> tuple[str, int]:
    """A mail item's status and events by registered number (the read is access-logged)."""
    number = request.args.get("number", "").strip()
    item, events, error = None, [], None
    with transaction():
        if number:
            try:
                item = mail.item_by_number(current_principal(), number)
                events = mail.events_of(item)
            except ApiError as refused:  # a mistyped number, or none of this municipality's
                error = refused
        html = render_template(
            "mail/tracking.html",
            number=number,
            item=item,
            events=events,
            event_labels=EVENT_LABELS,
            status_labels=STATUS_LABELS,
            error=error,
            errors=error.fields if error else {},
        )
    return html, error.status if error else 200
