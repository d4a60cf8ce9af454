"""The postal network's pages: delivery offices, their carrier districts (a GeoJSON upload, drawn
on a map) and their carriers.

Thin like the API views (postal/views.py), over the same services, which decide who sees and
changes what: a system admin sees every office, registers and edits offices and loads districts;
a dispatcher sees their own office and may edit its carriers. Offices have no version column, so
an edit applies to the office as it is then. A rejected districts file is reported feature by
feature and changes nothing; "check" runs the very same upload and rolls it back.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Mapping
from io import BytesIO
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields, validate
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.wrappers import Response

from core.auth.pages import staff_page
from core.auth.principal import Principal, current_principal
from core.auth.roles import Role
from core.clock import DEFAULT_WEEKDAYS, format_hhmm
from core.db import db, transaction
from core.errors import ApiError, Invalid
from core.forms import (
    NOT_A_NUMBER,
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
from core.geo import in_korea
from core.nav import add_nav_link
from core.schemas import Text
from postal.districts import to_geojson
from postal.models import Carrier, CarrierDistrict, DeliveryOffice
from postal.schemas import CODE, NO_WEEKDAY, CarrierUpdateSchema, WeekdaysField
from postal.services import (
    CarrierChanges,
    NewOffice,
    OfficeChanges,
    carriers_of,
    carriers_per_office,
    create_office,
    district_shapes,
    districts_of,
    get_carrier,
    get_office,
    load_districts,
    offices_visible_to,
    update_carrier,
    update_office,
)

bp = Blueprint(
    "office_pages",
    __name__,
    url_prefix="/admin/offices",
    template_folder="templates",
    static_folder="static",
)
#: Who may open the pages (the services narrow it to their own office) and who may change offices.
VIEWERS = (Role.SYSTEM_ADMIN, Role.DISPATCHER)
ADMINS = (Role.SYSTEM_ADMIN,)
PER_PAGE = 50
PROFILES = {"foot": _l("도보"), "motorbike": _l("이륜차"), "van": _l("차량")}
#: The check boxes of an office's delivery weekdays, Monday (0) to Sunday (6).
WEEKDAY_LABELS = (_l("월"), _l("화"), _l("수"), _l("목"), _l("금"), _l("토"), _l("일"))
#: What each problem of a districts file is (postal/districts.py and load_districts name them).
PROBLEMS = {
    "not_json": _l("JSON이 아님"),
    "not_geojson": _l("GeoJSON이 아님"),
    "no_features": _l("구역 없음"),
    "not_feature": _l("피처가 아님"),
    "code_missing": _l("코드 없음"),
    "code_invalid": _l("잘못된 코드"),
    "code_duplicate": _l("코드 중복"),
    "code_used_by_other_office": _l("다른 우체국의 코드"),
    "name_missing": _l("이름 없음"),
    "name_invalid": _l("잘못된 이름"),
    "geometry_missing": _l("경계 없음"),
    "geometry_type": _l("폴리곤이 아님"),
    "geometry_unparsable": _l("읽을 수 없는 좌표"),
    "geometry_empty": _l("빈 경계"),
    "geometry_invalid": _l("잘못된 폴리곤"),
    "out_of_bounds": _l("대한민국 밖"),
    "overlap": _l("구역 겹침"),
}
CODE_RULE = "영문자, 숫자, _, - 1~20자로 적어 주세요. (1-20 characters of A-Z a-z 0-9 _ -.)"
POSTAL_RULE = "우편번호는 숫자 5자리입니다. (A postal code is 5 digits.)"
OUTSIDE_KOREA = (
    "대한민국 범위 밖의 위치입니다. 경도와 위도가 뒤바뀌지 않았는지 보세요. "
    "(Outside South Korea: are longitude and latitude swapped?)"
)
SHIFT_RULE = (
    "시작과 끝을 HH:MM으로, 끝이 시작보다 늦게 적어 주세요. "
    "(Give the start and end as HH:MM, the end after the start.)"
)
LUNCH_RULE = "0~120분으로 적어 주세요. (0 to 120 minutes.)"
_REQUIRED = {"required": REQUIRED, "null": REQUIRED}


class OfficeForm(PageForm):
    """What the API's OfficeUpdateSchema takes; the depot as two fields."""

    name = text(100, required=True)
    road_address = text(200, required=True)
    postal_code = Text(
        5, validate=validate.Regexp(r"^\d{5}$", error=POSTAL_RULE), error_messages=_REQUIRED
    )
    lon = longitude(required=True)
    lat = latitude(required=True)
    delivery_weekdays = WeekdaysField(
        strict=False, required=True, error_messages={"required": NO_WEEKDAY, "null": NO_WEEKDAY}
    )


class NewOfficeForm(OfficeForm):
    """What the API's OfficeCreateSchema takes: the code too, which never changes afterwards."""

    code = Text(
        20,
        required=True,
        validate=validate.Regexp(CODE.regex, error=CODE_RULE),
        error_messages=_REQUIRED,
    )


class UploadForm(PageForm):
    mode = choice(("check", "load"), required=True)


class CarrierForm(PageForm):
    """What the API's CarrierUpdateSchema takes; the shift as two times of day."""

    home_district_id = number(minimum=0, required=True)  # 0: no home district
    profile = choice(PROFILES, required=True)
    shift_start = Text(8, required=True, error_messages=_REQUIRED)
    shift_end = Text(8, required=True, error_messages=_REQUIRED)
    lunch_minutes = fields.Integer(
        required=True,
        validate=validate.Range(min=0, max=120, error=LUNCH_RULE),
        error_messages=_REQUIRED | {"invalid": NOT_A_NUMBER},
    )


def register_pages(app: Flask) -> None:
    """Mount the pages and put the offices in the system admins' and dispatchers' navigation."""
    app.register_blueprint(bp)
    add_nav_link(app, "office_pages.offices", _l("우체국·집배구"), VIEWERS)


@bp.context_processor
def _words() -> dict:
    role = getattr(g.get("principal"), "role", None)
    return {
        "profiles": PROFILES,
        "problems": PROBLEMS,
        "weekday_labels": WEEKDAY_LABELS,
        "admin": role in ADMINS,
    }


@bp.app_template_filter("km2")
def km2(square_metres: float) -> str:
    """Square metres as square kilometres with two decimals."""
    return f"{square_metres / 1_000_000:,.2f} km²"


# --- Offices ------------------------------------------------------------------------------------


@bp.get("/")
@staff_page(*VIEWERS)
def offices() -> str:
    """The offices the principal sees with their depots and how many districts and carriers."""
    principal = current_principal()
    page = db.paginate(
        offices_visible_to(principal),
        page=load_page_number(request.args),
        per_page=PER_PAGE,
        error_out=False,
    )
    counts = office_counts(principal, [office.id for office in page.items])
    return render_template("postal/offices.html", page=page, counts=counts)


def office_counts(principal: Principal, office_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(districts, carriers) of each of the offices that the principal sees."""
    # A grouped count within the services' own scope, rather than loading every district's
    # polygon (districts_of) of a page of offices.
    visible = list(
        db.session.scalars(
            offices_visible_to(principal)
            .where(DeliveryOffice.id.in_(office_ids))
            .with_only_columns(DeliveryOffice.id)
        )
    )
    districts = dict(
        db.session.execute(
            sa.select(CarrierDistrict.office_id, sa.func.count(CarrierDistrict.id))
            .where(CarrierDistrict.office_id.in_(visible))
            .group_by(CarrierDistrict.office_id)
        ).all()
    )
    carriers = carriers_per_office(visible)
    return {
        office_id: (districts.get(office_id, 0), carriers.get(office_id, 0))
        for office_id in office_ids
    }


@bp.get("/new")
@staff_page(*ADMINS)
def new_office() -> str:
    """The form to register a delivery office."""
    return render_template(
        "postal/office_new.html",
        form={},
        ticked=ticked_weekdays(None, DEFAULT_WEEKDAYS),
        errors={},
        error=None,
    )


@bp.post("/new")
@staff_page(*ADMINS)
def create() -> Answer:
    """Register a delivery office with its depot position."""
    principal = current_principal()

    def refused(error: ApiError) -> tuple[str, int]:
        html = render_template(
            "postal/office_new.html",
            form=request.form,
            ticked=ticked_weekdays(request.form, ()),
            errors=error.fields,
            error=error,
        )
        return html, error.status

    return submit(
        NewOfficeForm,
        lambda data: create_office(principal, NewOffice(code=data["code"], **office_values(data))),
        refused,
        gettext("우체국을 등록했습니다."),
        lambda office: url_for(".office", office_id=office.id),
    )


def office_values(data: dict[str, Any]) -> dict[str, Any]:
    """The form's office fields: a blank postal code clears it, the depot is [lon, lat]."""
    lon, lat = data["lon"], data["lat"]
    if not in_korea(lon, lat):
        raise Invalid(fields={"depot": [OUTSIDE_KOREA]})
    values = {
        key: data.get(key) for key in ("name", "road_address", "postal_code", "delivery_weekdays")
    }
    return values | {"depot": [lon, lat]}


def ticked_weekdays(form: MultiDict | None, stored: Iterable[int]) -> list[str]:
    """The weekday boxes to tick: as posted when a refused form comes back, else `stored`."""
    if form is not None:
        return form.getlist("delivery_weekdays")
    return [str(day) for day in stored]


@bp.get("/<int:office_id>")
@staff_page(*VIEWERS)
def office(office_id: int) -> tuple[str, int]:
    """One office: its address and depot, links to its districts and carriers, the edit form."""
    return _office_page(current_principal(), office_id)


def _office_page(
    principal: Principal,
    office_id: int,
    error: ApiError | None = None,
    form: MultiDict | None = None,
) -> tuple[str, int]:
    shown = get_office(principal, office_id)
    html = render_template(
        "postal/office.html",
        office=shown,
        counts=office_counts(principal, [shown.id])[shown.id],
        form=form,
        ticked=ticked_weekdays(form, shown.delivery_weekdays),
        error=error,
        errors=error.fields if error else {},
    )
    return html, error.status if error else 200


@bp.post("/<int:office_id>/edit")
@staff_page(*ADMINS)
def edit(office_id: int) -> Answer:
    """Change an office's name, address, depot or delivery weekdays (its code stays)."""
    principal = current_principal()
    return submit(
        OfficeForm,
        lambda data: update_office(principal, office_id, OfficeChanges(**office_values(data))),
        lambda error: _office_page(principal, office_id, error, request.form),
        gettext("우체국 정보를 저장했습니다."),
        lambda _: url_for(".office", office_id=office_id),
    )


# --- Districts ----------------------------------------------------------------------------------


@bp.get("/<int:office_id>/districts")
@staff_page(*VIEWERS)
def districts(office_id: int) -> tuple[str, int]:
    """The office's districts on a map and in a table, and (admins) the GeoJSON upload."""
    return _districts_page(current_principal(), office_id)


def _districts_page(
    principal: Principal,
    office_id: int,
    error: ApiError | None = None,
    checked: list[dict[str, Any]] | None = None,
) -> tuple[str, int]:
    shown = get_office(principal, office_id)
    stored = districts_of(principal, office_id)
    homes: dict[int, list[str]] = {}
    for carrier, account in carriers_of(principal, office_id):
        homes.setdefault(carrier.home_district_id, []).append(account.display_name)
    config = current_app.config
    map_data = {
        "tiles": {"url": config["MAP_TILE_URL"], "attribution": config["MAP_TILE_ATTRIBUTION"]},
        "depot": [shown.depot_lon, shown.depot_lat],
        "districts": [_drawn(d.code, d.name, d.geometry) for d in stored],
        "checked": [_drawn(d["code"], d["name"], d["geometry"]) for d in checked or []],
    }
    html = render_template(
        "postal/districts.html",
        office=shown,
        districts=stored,
        homes=homes,
        map_data=map_data,
        checked=checked,
        max_mb=config["MAX_CONTENT_LENGTH"] // (1024 * 1024),
        error=error,
        errors=error.fields if error else {},
    )
    return html, error.status if error else 200


def _drawn(code: str, name: str, geometry: dict) -> dict[str, Any]:
    return {"label": f"{code} {name}", "geometry": geometry}


@bp.post("/<int:office_id>/districts")
@staff_page(*ADMINS)
def upload(office_id: int) -> Answer:
    """Check a GeoJSON file (nothing kept), or load it: districts added or replaced by code."""
    principal = current_principal()
    get_office(principal, office_id)  # an unknown office is a 404 before the file is read
    try:
        checking = load_form(UploadForm, request.form)["mode"] == "check"
        geojson = _file_of(request.files.get("file"))
        if checking:
            return _districts_page(
                principal, office_id, checked=_check(principal, office_id, geojson)
            )
        before = {district.code for district in districts_of(principal, office_id)}
        with transaction():
            loaded = load_districts(principal, get_office(principal, office_id), geojson)
            codes = [district.code for district in loaded]
    except Invalid as error:
        return _districts_page(principal, office_id, error)
    replaced = len(before.intersection(codes))
    flash(
        gettext(
            "구역 %(count)s개를 불러왔습니다: 새 구역 %(added)s, 바뀐 구역 %(replaced)s.",
            count=len(codes),
            added=len(codes) - replaced,
            replaced=replaced,
        ),
        "notice",
    )
    return redirect(url_for(".districts", office_id=office_id))


def _file_of(upload: FileStorage | None) -> bytes:
    """The uploaded file's bytes (the request size limit bounds them), without a UTF-8 BOM."""
    if upload is None or not upload.filename:
        raise Invalid(fields={"file": [REQUIRED]})
    # Some Windows tools write a BOM, which JSON does not allow; it is no problem of the data.
    return upload.read().removeprefix(codecs.BOM_UTF8)


def _check(principal: Principal, office_id: int, geojson: bytes) -> list[dict[str, Any]]:
    """Load the file exactly as for real, note what it would load, then roll everything back."""
    try:
        before = {district.code for district in districts_of(principal, office_id)}
        loaded = load_districts(principal, get_office(principal, office_id), geojson)
        return [
            {
                "code": district.code,
                "name": district.name,
                "area_m2": district.area_m2,
                "geometry": district.geometry,
                "replaces": district.code in before,
            }
            for district in loaded
        ]
    finally:
        db.session.rollback()


@bp.get("/<int:office_id>/districts.geojson")
@staff_page(*VIEWERS)
def districts_file(office_id: int) -> Response:
    """The office's districts as a GeoJSON file, in the format the upload reads."""
    principal = current_principal()
    shown = get_office(principal, office_id)
    collection = to_geojson(district_shapes(districts_of(principal, office_id)))
    return send_file(
        BytesIO(current_app.json.dumps(collection).encode()),
        mimetype="application/geo+json",
        as_attachment=True,
        download_name=f"{shown.code}-districts.geojson",
    )


# --- Carriers -----------------------------------------------------------------------------------


@bp.get("/<int:office_id>/carriers")
@staff_page(*VIEWERS)
def carriers(office_id: int) -> tuple[str, int]:
    """The office's carriers with their home district, travel profile, shift and lunch."""
    return _carriers_page(current_principal(), office_id)


def _carriers_page(
    principal: Principal,
    office_id: int,
    error: ApiError | None = None,
    form: Mapping[str, str] | None = None,
    edited: int | None = None,
) -> tuple[str, int]:
    html = render_template(
        "postal/carriers.html",
        office=get_office(principal, office_id),
        carriers=[
            (carrier, account, _shift_of(carrier))
            for carrier, account in carriers_of(principal, office_id)
        ],
        districts=districts_of(principal, office_id),
        form=form or {},
        edited=edited,
        error=error,
        errors=error.fields if error else {},
    )
    return html, error.status if error else 200


def _shift_of(carrier: Carrier) -> tuple[str, str]:
    return format_hhmm(carrier.shift_start_min * 60), format_hhmm(carrier.shift_end_min * 60)


@bp.post("/carriers/<int:carrier_id>")
@staff_page(*VIEWERS)
def edit_carrier(carrier_id: int) -> Answer:
    """Change a carrier's home district (of their office), profile, usual shift or lunch."""
    principal = current_principal()
    office_id = get_carrier(principal, carrier_id)[1].office_id
    return submit(
        CarrierForm,
        lambda data: update_carrier(principal, carrier_id, carrier_values(data)),
        lambda error: _carriers_page(principal, office_id, error, request.form, carrier_id),
        gettext("집배원 정보를 저장했습니다."),
        lambda _: url_for(".carriers", office_id=office_id),
    )


def carrier_values(data: dict[str, Any]) -> CarrierChanges:
    """The form as update_carrier takes it; the shift checked by the API's own field."""
    span = f"{data['shift_start']}-{data['shift_end']}"
    try:
        shift = CarrierUpdateSchema().load({"shift": span}).shift
    except ValidationError as error:
        raise Invalid(fields={"shift": [SHIFT_RULE]}) from error
    return CarrierChanges(
        home_district_id=data["home_district_id"] or None,
        profile=data["profile"],
        shift=shift,
        lunch_minutes=data["lunch_minutes"],
    )
