"""The dispatcher's pages: a day's plans, starting one, the plan with its map, edits, publishing.

Thin like the API views (routing/views.py), over the same plan services: tenancy,
versions and the solver job come from them. Refusals a person can fix (Invalid, a stale
version, a plan being solved) are shown on the plan page, next to the field at fault where
there is one; the rest (404, 403) get the error page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, current_app, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate
from werkzeug.wrappers import Response

from core.auth.pages import staff_page
from core.auth.principal import Principal, current_principal
from core.auth.roles import Role
from core.clock import seoul_today
from core.db import db, transaction
from core.errors import ApiError
from core.forms import REQUIRED, Answer, PageForm, day, load_form, number, numbers, submit
from core.inputs import UNSET
from core.nav import add_nav_link
from postal.services import carriers_of, dispatchers_office, districts_of
from routing.models import RoutePlan
from routing.plans import edits
from routing.plans.access import get_plan, plans_visible_to
from routing.plans.presentation import describe, summarize
from routing.plans.start import NewPlan, start_plan
from routing.plans.states import BUSY, EDITABLE, PlanStatus, SearchStatus

if TYPE_CHECKING:
    from postal.directory import DeliveryOffice

bp = Blueprint(
    "routing_pages",
    __name__,
    url_prefix="/dispatch",
    template_folder="templates",
    static_folder="static",
)
PLANNERS = (Role.DISPATCHER,)
PLANS_SHOWN = 20
#: One colour per carrier's route, on the map and beside its list (cycled past ten).
ROUTE_COLOURS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#7f7f7f",
)
PLAN_STATUSES = {
    PlanStatus.QUEUED: _l("계산 대기"),
    PlanStatus.SOLVING: _l("계산 중"),
    PlanStatus.READY: _l("검토 중"),
    PlanStatus.FAILED: _l("계산 실패"),
    PlanStatus.PUBLISHED: _l("배포됨"),
    PlanStatus.SUPERSEDED: _l("새 계획으로 바뀜"),
    PlanStatus.DISCARDED: _l("새 계획으로 대체됨"),
}
SEARCH_STATES = {
    SearchStatus.QUEUED: _l("다시 계산 대기"),
    SearchStatus.SOLVING: _l("다시 계산 중"),
}
STOP_KINDS = {"welfare": _l("복지등기"), "registered": _l("일반 등기")}
CONFIRM = "배포하려면 확인란을 선택하세요. (Tick the box to publish.)"


class DayForm(PageForm):
    day = day(required=True)


class StartForm(DayForm):
    carrier_ids = numbers(required=True)
    time_limit_s = number()


class VersionForm(PageForm):
    version = number(required=True)


class MoveForm(VersionForm):
    carrier_id = number(minimum=0, required=True)  # 0: off every route
    position = number()  # 1 is the first stop


class LockForm(VersionForm):
    locked = fields.Boolean(required=True, error_messages={"required": REQUIRED})


class OptimiseForm(VersionForm):
    time_limit_s = number()


class PublishForm(VersionForm):
    confirm = fields.Boolean(
        required=True,
        error_messages={"required": CONFIRM},
        validate=validate.Equal(True, error=CONFIRM),
    )


def register_pages(app: Flask) -> None:
    """Mount the pages and put the plans in the dispatchers' navigation."""
    app.register_blueprint(bp)
    add_nav_link(app, "routing_pages.start_page", _l("배달 계획"), PLANNERS)


@bp.context_processor
def _words() -> dict:
    return {"plan_status": status_label, "kinds": STOP_KINDS, "PlanStatus": PlanStatus}


@bp.app_template_filter("km")
def km(metres: int | None) -> str:
    """Metres as kilometres with one decimal."""
    return f"{(metres or 0) / 1000:.1f} km"


@bp.app_template_filter("hours")
def hours(seconds: int | None) -> str:
    """Seconds as H:MM."""
    minutes = round((seconds or 0) / 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


# --- The day: its plans and starting one -------------------------------------------------------


@bp.get("/")
@staff_page(*PLANNERS)
def start_page() -> Response:
    """The dispatcher's own office, today."""
    return redirect(url_for(".office_day", office_id=current_principal().office_id))


@bp.get("/offices/<int:office_id>")
@staff_page(*PLANNERS)
def office_day(office_id: int) -> tuple[str, int]:
    """The day's plans of the office (`?day=`, default today) and the form to start one."""
    return _day_page(current_principal(), office_id, _day_of(request.args))


def _day_of(values: Mapping[str, str]) -> date:
    """The day a query or form names; today when it names none (or no date)."""
    try:
        return load_form(DayForm, {"day": values.get("day", "")})["day"]
    except ApiError:
        return seoul_today()


def _day_page(
    principal: Principal,
    office_id: int,
    chosen: date,
    error: ApiError | None = None,
    form: Mapping[str, Any] | None = None,
) -> tuple[str, int]:
    office = dispatchers_office(principal, office_id)
    plans = db.session.scalars(
        plans_visible_to(principal)
        .where(RoutePlan.office_id == office.id, RoutePlan.day == chosen)
        .limit(PLANS_SHOWN)
    )
    html = render_template(
        "routing/day.html",
        office=office,
        day=chosen,
        plans=[summarize(plan) for plan in plans],
        carriers=carriers_of(principal, office.id),
        chosen_carriers=_chosen_carriers(form),
        time_limit_s=current_app.config["ROUTING_PLAN_TIME_LIMIT_S"],
        error=error,
        errors=error.fields if error else {},
        form=form or {},
    )
    return html, error.status if error else 200


def _chosen_carriers(form: Mapping[str, Any] | None) -> set[str] | None:
    """The carriers ticked in a refused form (None: a fresh form, every carrier ticked)."""
    if form is None or not hasattr(form, "getlist"):
        return None
    return set(form.getlist("carrier_ids"))


@bp.post("/offices/<int:office_id>/plans")
@staff_page(*PLANNERS)
def start(office_id: int) -> Answer:
    """Plan a day: the due items and ticked carriers are taken now, the worker solves it."""
    principal = current_principal()

    def start_with(data: dict[str, Any]) -> RoutePlan:
        new = NewPlan(
            day=data["day"],
            carrier_ids=data["carrier_ids"],
            time_limit_s=data.get("time_limit_s"),
        )
        return start_plan(principal, office_id, new)

    return submit(
        StartForm,
        start_with,
        lambda error: _day_page(principal, office_id, _day_of(request.form), error, request.form),
        gettext("계획을 시작했습니다. 계산이 끝나면 경로가 나타납니다."),
        lambda plan: url_for(".plan_page", plan_id=plan.id),
    )


# --- One plan ---------------------------------------------------------------------------------


@bp.get("/plans/<int:plan_id>")
@staff_page(*PLANNERS)
def plan_page(plan_id: int) -> tuple[str, int]:
    """The plan: progress while solving, then each carrier's stops, the map and the actions."""
    return _plan_page(current_principal(), plan_id)


@bp.get("/plans/<int:plan_id>/progress")
@staff_page(*PLANNERS)
def plan_progress(plan_id: int) -> dict[str, Any]:
    """The plan's state for the page to poll while the worker solves it."""
    plan = get_plan(current_principal(), plan_id, for_update=True)
    summary = summarize(plan)
    state = {key: summary[key] for key in ("status", "search", "version", "progress", "error")}
    return state | {"label": status_label(summary)}


def status_label(summary: dict[str, Any]) -> str:
    """The plan's state in words: a published plan being searched again says both."""
    label = str(PLAN_STATUSES[summary["status"]])
    if summary["status"] == PlanStatus.PUBLISHED and summary["search"]:
        label += " · " + str(SEARCH_STATES[summary["search"]])
    return label


def _plan_page(
    principal: Principal,
    plan_id: int,
    error: ApiError | None = None,
    form: Mapping[str, str] | None = None,
    stop_id: int | None = None,
) -> tuple[str, int]:
    with transaction():  # reading the stops is access-logged
        plan = get_plan(principal, plan_id, for_update=True)
        office = dispatchers_office(principal, plan.office_id)
        described = describe(principal, plan)
    colours = {
        route["carrier_id"]: ROUTE_COLOURS[index % len(ROUTE_COLOURS)]
        for index, route in enumerate(described["routes"])
    }
    html = render_template(
        "routing/plan.html",
        plan=described,
        office=office,
        colours=colours,
        map_data=_map_data(principal, office, described, colours),
        editable=plan.status in EDITABLE and not described["search"],
        solving=plan.status in BUSY or bool(described["search"]),
        error=error,
        errors=error.fields if error else {},
        form=form or {},
        edited=stop_id,
    )
    return html, error.status if error else 200


def _map_data(
    principal: Principal, office: DeliveryOffice, described: dict, colours: dict[int, str]
) -> dict[str, Any]:
    """What the map draws: the office's districts, the depot, each route and the rest."""
    config = current_app.config
    return {
        "tiles": {"url": config["MAP_TILE_URL"], "attribution": config["MAP_TILE_ATTRIBUTION"]},
        "depot": [office.depot_lon, office.depot_lat],
        "districts": [
            {"name": district.name, "geometry": district.geometry}
            for district in districts_of(principal, office.id)
        ],
        "routes": [
            {
                "carrier": route["carrier_name"],
                "colour": colours[route["carrier_id"]],
                "stops": [_map_stop(stop) for stop in route["stops"]],
            }
            for route in described["routes"]
        ],
        "unassigned": [_map_stop(stop) for stop in described["unassigned_stops"]],
    }


def _map_stop(stop: dict) -> dict[str, Any]:
    return {
        "location": stop["location"],
        "label": " ".join(
            part for part in (stop["arrival"], stop["road_address"], stop["address_detail"]) if part
        ),
    }


def _plan_action(
    plan_id: int, form: type[PageForm], action: Callable, done: str, stop_id: int | None = None
) -> Answer:
    """A form post on the plan page; refusals come back on the page (next to the stop's fields)."""
    principal = current_principal()
    return submit(
        form,
        lambda data: action(principal, plan_id, data),
        lambda error: _plan_page(principal, plan_id, error, request.form, stop_id),
        done,
        lambda _: url_for(".plan_page", plan_id=plan_id),
    )


@bp.post("/plans/<int:plan_id>/stops/<int:stop_id>/move")
@staff_page(*PLANNERS)
def move_stop(plan_id: int, stop_id: int) -> Answer:
    """Move a stop to a carrier (at a position, else last) or off every route; re-timed now."""

    def move(principal: Principal, plan_id: int, data: dict[str, Any]) -> RoutePlan:
        edit = edits.StopEdit(
            version=data["version"],
            carrier_id=data["carrier_id"] or None,
            position=data["position"] - 1 if "position" in data else UNSET,
        )
        return edits.edit_stop(principal, plan_id, stop_id, edit)

    return _plan_action(plan_id, MoveForm, move, gettext("옮기고 다시 계산했습니다."), stop_id)


@bp.post("/plans/<int:plan_id>/stops/<int:stop_id>/lock")
@staff_page(*PLANNERS)
def lock_stop(plan_id: int, stop_id: int) -> Answer:
    """Lock a stop to its carrier and place (re-optimising keeps it), or unlock it."""

    def lock(principal: Principal, plan_id: int, data: dict[str, Any]) -> RoutePlan:
        edit = edits.StopEdit(version=data["version"], locked=data["locked"])
        return edits.edit_stop(principal, plan_id, stop_id, edit)

    return _plan_action(plan_id, LockForm, lock, gettext("고정 상태를 바꿨습니다."), stop_id)


@bp.post("/plans/<int:plan_id>/optimise")
@staff_page(*PLANNERS)
def optimise(plan_id: int) -> Answer:
    """Search again from the current routes; locked stops keep their carrier and order."""

    def search(principal: Principal, plan_id: int, data: dict[str, Any]) -> RoutePlan:
        again = edits.Reoptimisation(version=data["version"], time_limit_s=data.get("time_limit_s"))
        return edits.reoptimise(principal, plan_id, again)

    done = gettext("다시 계산합니다. 고정한 곳은 그대로 둡니다.")
    return _plan_action(plan_id, OptimiseForm, search, done)


@bp.post("/plans/<int:plan_id>/publish")
@staff_page(*PLANNERS)
def publish(plan_id: int) -> Answer:
    """Hand the plan to its carriers (each gets a push); what did not fit rolls over."""

    def hand_over(principal: Principal, plan_id: int, data: dict[str, Any]) -> RoutePlan:
        return edits.publish(principal, plan_id, data["version"])

    done = gettext("집배원에게 배포했습니다.")
    return _plan_action(plan_id, PublishForm, hand_over, done)
