"""The dispatcher's planning API: start a plan (a job), read, edit, re-optimise, publish."""

from __future__ import annotations

from flask.views import MethodView

from core.api import Blueprint
from core.audit import record_access
from core.auth.principal import current_principal, require_login
from core.clock import seoul_today
from core.db import db, transaction
from core.job_views import LOCATION, JobSchema, accepted
from core.uploads import checked_first
from municipalities.schemas import ImportFileSchema
from postal.services import dispatchers_office, get_office
from routing import office_items
from routing.models import RoutePlan
from routing.office_items import DayItems, OfficeItemOutSchema, OfficeItemsInSchema
from routing.plans.access import get_plan, plans_visible_to
from routing.plans.edits import (
    Reoptimisation,
    StopEdit,
    UrgentVisit,
    edit_stop,
    insert_urgent,
    publish,
    reoptimise,
)
from routing.plans.presentation import describe, summarize
from routing.plans.start import NewPlan, start_plan
from routing.plans.states import search_status
from routing.schemas import (
    ItemDaySchema,
    PlanCreateSchema,
    PlanOptimiseSchema,
    PlanQuerySchema,
    PlanSchema,
    PlanSummarySchema,
    PlanUrgentSchema,
    PlanVersionSchema,
    StopEditSchema,
)

blp = Blueprint("plans", __name__, "", description="배달 경로 계획 (Route planning)")


def _accepted(plan) -> tuple[dict, int, dict]:
    """202 with the plan's summary: poll its Location until the status is ready."""
    return summarize(plan), 202, {"Location": f"/api/v1/plans/{plan.id}"}


@blp.route("/offices/<int:office_id>/plans")
class OfficePlans(MethodView):
    @blp.arguments(PlanQuerySchema, location="query")
    @blp.response(200, PlanSummarySchema(many=True))
    @require_login
    def get(self, query: dict, office_id: int):
        """The office's plans, newest day first (optionally of one day)."""
        principal = current_principal()
        office = get_office(principal, office_id)
        select = plans_visible_to(principal).where(RoutePlan.office_id == office.id)
        if "day" in query:
            select = select.where(RoutePlan.day == query["day"])
        return [summarize(plan) for plan in db.session.scalars(select.limit(100))]

    @blp.arguments(PlanCreateSchema)
    @blp.response(202, PlanSummarySchema)
    @require_login
    def post(self, new: NewPlan, office_id: int):
        """Plan a day: the due items and carriers on shift are taken now, solved by the worker."""
        with transaction():
            plan = start_plan(current_principal(), office_id, new)
        return _accepted(plan)


@blp.route("/plans/<int:plan_id>")
class PlanItem(MethodView):
    @blp.response(200, PlanSchema)
    @require_login
    def get(self, plan_id: int):
        """A plan with its routes (ordered stops, times, distance) and unassigned stops."""
        principal = current_principal()
        with transaction():  # reading the stops is access-logged
            return describe(principal, get_plan(principal, plan_id))


@blp.route("/plans/<int:plan_id>/stops/<int:stop_id>")
class PlanStopItem(MethodView):
    @blp.arguments(StopEditSchema)
    @blp.response(200, PlanSchema)
    @require_login
    def patch(self, edit: StopEdit, plan_id: int, stop_id: int):
        """Move a stop (carrier, position, or null to unassign) and/or lock it; re-timed now."""
        principal = current_principal()
        with transaction():
            plan = edit_stop(principal, plan_id, stop_id, edit)
        return describe(principal, plan)


@blp.route("/plans/<int:plan_id>/optimise")
class PlanOptimise(MethodView):
    @blp.arguments(PlanOptimiseSchema)
    @blp.response(202, PlanSummarySchema)
    @require_login
    def post(self, search: Reoptimisation, plan_id: int):
        """Search again from the current routes; locked stops keep their carrier and order."""
        with transaction():
            plan = reoptimise(current_principal(), plan_id, search)
        return _accepted(plan)


@blp.route("/plans/<int:plan_id>/urgent")
class PlanUrgent(MethodView):
    @blp.arguments(PlanUrgentSchema)
    @blp.response(200, PlanSchema, description="on a route now (late with the reason if so)")
    @blp.alt_response(202, schema=PlanSummarySchema, description="a search fits it in")
    @require_login
    def post(self, urgent: UrgentVisit, plan_id: int):
        """Insert an urgent welfare visit into the routes as they stand, at once; a search
        (202, poll Location) only when no route can take it without making a stop late."""
        principal = current_principal()
        with transaction():
            plan = insert_urgent(principal, plan_id, urgent)
            if search_status(plan) is None:
                return describe(principal, plan)
        return _accepted(plan)


@blp.route("/plans/<int:plan_id>/publish")
class PlanPublish(MethodView):
    @blp.arguments(PlanVersionSchema)
    @blp.response(200, PlanSummarySchema)
    @require_login
    def post(self, data: dict, plan_id: int):
        """Hand the plan to its carriers (push each); what did not fit rolls to the next day."""
        with transaction():
            plan = publish(current_principal(), plan_id, data["version"])
        return summarize(plan)


@blp.route("/offices/<int:office_id>/items")
class OfficeItems(MethodView):
    @blp.arguments(PlanQuerySchema, location="query")
    @blp.response(200, OfficeItemOutSchema(many=True))
    @require_login
    def get(self, query: dict, office_id: int):
        """The office's other registered items of a day (imported; default today)."""
        day = query.get("day") or seoul_today()
        principal = current_principal()
        with transaction():
            items = office_items.items_of(principal, office_id, day)
            record_access(
                principal.account_id,
                "read",
                "office_item",
                [item.id for item in items],
                None,
                f"office={office_id} day={day.isoformat()}",
            )
            return items

    @require_login
    @checked_first(dispatchers_office)  # the office's own dispatchers, else 404
    @blp.arguments(OfficeItemsInSchema)
    @blp.response(201, OfficeItemOutSchema(many=True))
    def post(self, new: DayItems, office_id: int):
        """Add a day's registered items (all or none), so routes are the carriers' real rounds."""
        with transaction():
            return office_items.add_items(current_principal(), office_id, new)


@blp.route("/offices/<int:office_id>/items/imports")
class OfficeItemImports(MethodView):
    @require_login
    @checked_first(dispatchers_office)  # the office's own dispatchers, else 404
    @blp.arguments(ItemDaySchema, location="query")
    @blp.arguments(ImportFileSchema, location="files", as_kwargs=True)
    @blp.response(202, JobSchema, headers=LOCATION, description="a job imports the file")
    def post(self, query: dict, file, office_id: int):
        """Import a day's items from CSV (UTF-8/CP949) or XLSX as a job (202, follow Location):
        every row or none; a refusal names every bad row in the job's error."""
        with transaction():
            job = office_items.start_import(
                current_principal(), office_id, file.read(), file.filename or "", query["day"]
            )
        return accepted(job)
