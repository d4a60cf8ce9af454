"""The household registry pages: list and search, add, edit, close, and the file import (a job
the page follows, which then lists the new households) with its template files.

Thin like the API views (municipalities/views.py), over the same services: tenancy, roles,
versions and the access log come from them. Names are searched through a form POST, so a name
never appears in a URL. Refusals a person can fix (Invalid, a stale version) are shown next to
the field on the page they came from; the rest (404, 403) get the error page.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields
from werkzeug.datastructures import FileStorage, MultiDict

from core import jobs
from core.auth.pages import staff_page, staff_poll
from core.auth.principal import Principal, current_principal
from core.db import db, transaction
from core.errors import ApiError, Invalid
from core.forms import (
    REQUIRED,
    Answer,
    PageForm,
    choice,
    latitude,
    load_form,
    load_page_number,
    longitude,
    number,
    submit,
    text,
)
from core.nav import add_nav_link
from core.schemas import Text
from core.uploads import UploadTooLarge
from municipalities import household_import, import_template, services
from municipalities.forms import ASSIGNMENTS, STATUSES, FilterForm, SearchForm
from municipalities.household_file import MAX_ADDRESS_DETAIL, MAX_NAME, MAX_NOTE, MAX_ROAD_ADDRESS
from municipalities.models import Household
from municipalities.schemas import check_hours_range
from municipalities.vocabulary import HOUSEHOLD_TYPES, RISK_SOURCES

bp = Blueprint(
    "registry_pages",
    __name__,
    url_prefix="/registry",
    template_folder="templates",
    static_folder="static",
)
PER_PAGE = 50
CLOSE_REASONS = {
    "moved": _l("전출"),
    "deceased": _l("사망"),
    "support_linked": _l("지원 연계"),
    "no_longer_at_risk": _l("위기 해소"),
    "duplicate": _l("중복 등록"),
    "other": _l("기타"),
}
#: The import report names each column as the file's Korean header does ("" is the whole row).
COLUMNS = {
    "": _l("행 전체"),
    "name": _l("성명"),
    "road_address": _l("도로명주소"),
    "address_detail": _l("상세주소"),
    "postal_code": _l("우편번호"),
    "phone": _l("전화번호"),
    "household_type": _l("가구유형"),
    "risk_sources": _l("위기요인"),
    "lon": _l("경도"),
    "lat": _l("위도"),
    "location": _l("좌표"),
    "note": _l("메모"),
}
OPTIONAL = ("address_detail", "postal_code", "phone", "note")
BOTH_COORDINATES = "경도와 위도를 함께 적어 주세요. (Give both longitude and latitude.)"
#: Preferred visiting hours: as many from/to rows as the API takes (hours_1_from, hours_1_to, ...).
HOURS_ROWS = 4
ENDS = ("from", "to")
BOTH_ENDS = "시작과 끝을 함께 적어 주세요. (Give both the start and the end.)"
#: An import job's state in words; while it runs, the phase says more.
JOB_STATUSES = {
    jobs.QUEUED: _l("대기 중"),
    jobs.RUNNING: _l("진행 중"),
    jobs.DONE: _l("완료"),
    jobs.FAILED: _l("실패"),
}
JOB_PHASES = {
    jobs.PARSE: _l("파일 읽는 중"),
    jobs.VALIDATE: _l("행 검사 중"),
    jobs.WRITE: _l("명부에 저장하는 중"),
    jobs.RETRY: _l("잠시 후 다시 시도합니다"),
}


#: The time fields of the preferred hours; checked as pairs by `preferred_hours`.
_HoursForm = PageForm.from_dict(
    {f"hours_{row}_{end}": Text(8) for row in range(1, HOURS_ROWS + 1) for end in ENDS},
    name="HoursForm",
)


class HouseholdForm(_HoursForm):
    name = text(MAX_NAME, required=True)
    road_address = text(MAX_ROAD_ADDRESS, required=True)
    address_detail = text(MAX_ADDRESS_DETAIL)
    postal_code = text(10)
    phone = text(30)
    household_type = choice(HOUSEHOLD_TYPES, required=True)
    risk_sources = fields.List(choice(RISK_SOURCES))
    lon = longitude()
    lat = latitude()
    note = text(MAX_NOTE, multiline=True)


class EditForm(HouseholdForm):
    version = number(required=True)


class CloseForm(PageForm):
    reason = choice(CLOSE_REASONS, required=True)


class ImportForm(PageForm):
    mode = choice(("check", "import"), required=True)


def register_pages(app: Flask) -> None:
    """Mount the registry pages and put them in the municipal team's navigation."""
    app.register_blueprint(bp)
    add_nav_link(app, "registry_pages.households", _l("가구 명부"), services.READERS)
    add_nav_link(app, "registry_pages.import_page", _l("가구 파일 가져오기"), services.WRITERS)


@bp.context_processor
def _words() -> dict:
    return {
        "statuses": STATUSES,
        "assignments": ASSIGNMENTS,
        "close_reasons": CLOSE_REASONS,
        "household_types": HOUSEHOLD_TYPES,
        "risk_sources": RISK_SOURCES,
        "columns": COLUMNS,
        "hours_rows": HOURS_ROWS,
        "writer": getattr(g.get("principal"), "role", None) in services.WRITERS,
    }


# --- The list and the name search ---------------------------------------------------------------


@bp.get("/")
@staff_page(*services.READERS)
def households() -> tuple[str, int]:
    """The municipality's households with filters in the query (never a name or address)."""
    return _list_page(FilterForm, request.args, load_page_number(request.args))


@bp.post("/search")
@staff_page(*services.READERS)
def search() -> tuple[str, int]:
    """Find households by exact name (through its blind index) and the same filters."""
    return _list_page(SearchForm, request.form, load_page_number(request.form), searching=True)


def _list_page(
    form: type[PageForm], given: Mapping[str, str], page_number: int, searching: bool = False
) -> tuple[str, int]:
    principal = current_principal()
    error = None
    try:
        filters = load_form(form, given)
    except Invalid as refused:
        error, filters = refused, {}
    filters.pop("page", None)
    # What the pager carries to the next page: the filters as typed (by POST when a name is in).
    kept = {
        key: given[key] for key in form().fields if key != "page" and given.get(key, "").strip()
    }
    with transaction():  # every household listed is access-logged
        query = services.search_households(principal, services.HouseholdFilters(**filters))
        page = db.paginate(query, page=page_number, per_page=PER_PAGE, error_out=False)
        services.log_listed(principal, page.items)
        html = render_template(
            "municipalities/households.html",
            page=page,
            form=given,
            kept={} if error else kept,
            searching=searching,
            error=error,
            errors=error.fields if error else {},
        )
    return html, error.status if error else 200


# --- One household: add, read, edit, close -------------------------------------------------------


@bp.get("/new")
@staff_page(*services.WRITERS)
def new_page() -> str:
    """The form to register one household."""
    return render_template("municipalities/new.html", form=MultiDict(), errors={}, error=None)


@bp.post("/new")
@staff_page(*services.WRITERS)
def create() -> Answer:
    """Register one household in the signed-in worker's municipality."""
    principal = current_principal()

    def refused(error: ApiError) -> tuple[str, int]:
        html = render_template(
            "municipalities/new.html", form=request.form, errors=error.fields, error=error
        )
        return html, error.status

    return submit(
        HouseholdForm,
        lambda data: services.create_household(
            principal, services.NewHousehold(**household_values(data))
        ),
        refused,
        gettext("가구를 등록했습니다."),
        lambda household: url_for(".household", household_id=household.id),
    )


def household_values(data: dict[str, Any]) -> dict[str, Any]:
    """The form's household fields: blank fields clear, longitude and latitude go together."""
    values = {key: data.get(key) for key in ("name", "road_address", "household_type", *OPTIONAL)}
    values["risk_sources"] = data.get("risk_sources", [])
    lon, lat = data.get("lon"), data.get("lat")
    if (lon is None) != (lat is None):
        raise Invalid(fields={"lat" if lat is None else "lon": [BOTH_COORDINATES]})
    values["location"] = None if lon is None else [lon, lat]
    values["preferred_hours"] = preferred_hours(data)
    return values


def preferred_hours(data: dict[str, Any]) -> list[str]:
    """The filled from/to rows as the API's "HH:MM-HH:MM" texts; a bad row is named (hours_N)."""
    hours, problems = [], {}
    for row in range(1, HOURS_ROWS + 1):
        start, end = (data.get(f"hours_{row}_{side}", "").strip() for side in ENDS)
        if not start and not end:
            continue
        span = f"{start}-{end}"
        try:
            check_hours_range(span)  # the API's rule: HH:MM-HH:MM, the end after the start
        except ValidationError as error:
            problems[f"hours_{row}"] = error.messages if start and end else [BOTH_ENDS]
        hours.append(span)
    if problems:
        raise Invalid(fields=problems)
    return hours


def hours_fields(hours: list[list[str]] | None) -> dict[str, str]:
    """Stored preferred hours as the edit form's from/to fields."""
    return {
        f"hours_{row}_{side}": value
        for row, span in enumerate(hours or [], start=1)
        for side, value in zip(ENDS, span, strict=True)
    }


def changed_values(household: Household, values: dict[str, Any]) -> dict[str, Any]:
    """Only what the person changed: the access log names it, untouched coordinates stay."""
    stored = {key: getattr(household, key) for key in values if key != "location"}
    stored["location"] = None if household.lon is None else [household.lon, household.lat]
    stored["risk_sources"] = sorted(household.risk_sources or [])
    stored["preferred_hours"] = [f"{start}-{end}" for start, end in household.preferred_hours or []]
    values["risk_sources"] = sorted(values["risk_sources"])
    return {key: value for key, value in values.items() if value != stored[key]}


@bp.get("/<int:household_id>")
@staff_page(*services.READERS)
def household(household_id: int) -> tuple[str, int]:
    """One household with its edit and close forms (the read is access-logged)."""
    return _household_page(current_principal(), household_id)


def _household_page(
    principal: Principal,
    household_id: int,
    error: ApiError | None = None,
    form: Mapping[str, str] | None = None,
) -> tuple[str, int]:
    with transaction():
        shown = services.get_household(principal, household_id)
        html = render_template(
            "municipalities/household.html",
            household=shown,
            error=error,
            errors=error.fields if error else {},
            form=form,
            stored_hours=hours_fields(shown.preferred_hours),
        )
    return html, error.status if error else 200


def _act(household_id: int, form: type[PageForm], action, done: str) -> Answer:
    principal = current_principal()
    return submit(
        form,
        lambda data: action(principal, household_id, data),
        lambda error: _household_page(principal, household_id, error, request.form),
        done,
        lambda _: url_for(".household", household_id=household_id),
    )


@bp.post("/<int:household_id>/edit")
@staff_page(*services.WRITERS)
def edit(household_id: int) -> Answer:
    """Change a household; the version read with the form must still be the stored one."""

    def update(principal: Principal, household_id: int, data: dict) -> Household:
        current = services.get_household(principal, household_id, log_as="")
        changes = changed_values(current, household_values(data))
        return services.update_household(
            principal,
            household_id,
            services.HouseholdChanges(version=data["version"], **changes),
        )

    return _act(household_id, EditForm, update, gettext("가구 정보를 저장했습니다."))


@bp.post("/<int:household_id>/close")
@staff_page(*services.WRITERS)
def close(household_id: int) -> Answer:
    """Close a household with a reason; it stays on record until its retention ends."""

    def close_with(principal: Principal, household_id: int, data: dict) -> Household:
        return services.close_household(principal, household_id, data["reason"])

    return _act(household_id, CloseForm, close_with, gettext("가구를 종결했습니다."))


# --- The file import ---------------------------------------------------------------------------


@bp.get("/import")
@staff_page(*services.WRITERS)
def import_page() -> tuple[str, int]:
    """Upload a household file: check it first, then import it (all or nothing)."""
    return _import_page(None)


#: The template's download name and media type per format.
TEMPLATES = {
    "csv": ("가구명부_양식.csv", "text/csv; charset=utf-8", import_template.template_csv),
    "xlsx": (
        "가구명부_양식.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        import_template.template_xlsx,
    ),
}


@bp.get("/import/template.csv", defaults={"file_format": "csv"})
@bp.get("/import/template.xlsx", defaults={"file_format": "xlsx"})
@staff_page(*services.WRITERS)
def import_template_file(file_format: str) -> Response:
    """The household file template: header, an example row and (XLSX) the accepted values."""
    filename, mimetype, build = TEMPLATES[file_format]
    # send_file writes the Korean name as RFC 6266's filename* with an ASCII fallback.
    return send_file(
        io.BytesIO(build()), mimetype=mimetype, as_attachment=True, download_name=filename
    )


@bp.post("/import")
@staff_page(*services.WRITERS)
def import_file() -> Answer:
    """Check a small file row by row at once; a real import (or a big file's check) is a job,
    followed on its own page."""
    principal = current_principal()
    try:
        dry_run = load_form(ImportForm, request.form)["mode"] == "check"
        upload = _uploaded(request.files.get("file"))
        with transaction():
            outcome = household_import.submit_file(
                principal, upload.read(), upload.filename, dry_run=dry_run
            )
    except (Invalid, UploadTooLarge) as error:
        return _import_page(None, error)
    if isinstance(outcome, household_import.ImportReport):
        return _import_page(outcome)
    return redirect(url_for(".import_job", job_id=outcome.id))


@bp.get("/import/jobs/<int:job_id>")
@staff_page(*services.WRITERS)
def import_job(job_id: int) -> str:
    """An import job: a progress bar while it runs (the page follows it), then its report."""
    principal = current_principal()
    job = jobs.get_job(principal, job_id, household_import.KIND)
    created_ids = (job.result or {}).get("created_ids", [])
    return render_template(
        "municipalities/import_job.html",
        job=job,
        state=_job_state(job),
        report=job.result,
        error=job.error,
        created=_created_page(principal, created_ids, load_page_number(request.args)),
    )


@bp.get("/import/jobs/<int:job_id>/progress")
@staff_poll(*services.WRITERS)
def import_job_progress(job_id: int) -> dict[str, Any]:
    """The job's state for its page to poll while it runs."""
    return _job_state(jobs.get_job(current_principal(), job_id, household_import.KIND))


def _job_state(job: jobs.Job) -> dict[str, Any]:
    """Status, what is happening in words, and the counts of the progress bar."""
    progress = job.progress
    label = JOB_STATUSES[job.status]
    if not job.finished and progress["phase"] in JOB_PHASES:
        label = JOB_PHASES[progress["phase"]]
    done, total = progress["done"], progress["total"]
    done_rows, total_rows = f"{done:,}", f"{total or 0:,}"
    if total:
        count = gettext("%(done)s / %(total)s행", done=done_rows, total=total_rows)
    else:
        count = gettext("%(done)s행", done=done_rows) if done else ""
    return {
        "status": job.status,
        "finished": job.finished,
        "label": str(label),
        "count": count,
        "done": done,
        "total": total,
    }


@dataclass
class CreatedPage:
    """One page of the households an import created, with what _pager.html reads."""

    items: list[Household]
    page: int
    pages: int

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def _created_page(principal: Principal, ids: list[int], page_number: int) -> CreatedPage:
    """The page's share of the created households, still visible (closed ones too), logged."""
    pages = max(1, math.ceil(len(ids) / PER_PAGE))
    page_number = min(page_number, pages)
    # The ids are ascending: slice them first, so a 200,000-row import reads 50 rows.
    wanted = ids[(page_number - 1) * PER_PAGE : page_number * PER_PAGE]
    households = list(
        db.session.scalars(
            services.households_visible_to(principal)
            .where(Household.id.in_(wanted))
            .order_by(Household.id)
        )
    )
    services.log_listed(principal, households)
    return CreatedPage(households, page_number, pages)


def _uploaded(upload: FileStorage | None) -> FileStorage:
    if upload is None or not upload.filename:
        raise Invalid(fields={"file": [REQUIRED]})
    return upload


def _import_page(
    report: household_import.ImportReport | None, error: ApiError | None = None
) -> tuple[str, int]:
    html = render_template(
        "municipalities/import.html",
        report=report,
        error=error,
        errors=error.fields if error else {},
        coded_columns=import_template.coded_columns(),
    )
    return html, error.status if error else 200
