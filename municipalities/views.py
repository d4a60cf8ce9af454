"""Municipality and household-registry API (thin: parse -> service -> dump)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import jsonify
from flask.views import MethodView

from core.api import Blueprint, paginate
from core.auth.principal import current_principal, require_login, require_role
from core.auth.roles import Role
from core.db import db, transaction
from core.errors import NotFound
from core.job_views import LOCATION, JobSchema, accepted
from core.schemas import PageArgsSchema, page_of
from municipalities import household_import, services
from municipalities.models import Municipality
from municipalities.schemas import (
    HouseholdCloseSchema,
    HouseholdCreateSchema,
    HouseholdQuerySchema,
    HouseholdSchema,
    HouseholdSearchSchema,
    HouseholdUpdateSchema,
    ImportArgsSchema,
    ImportFileSchema,
    ImportReportSchema,
    MunicipalityCreateSchema,
    MunicipalitySchema,
    MunicipalityUpdateSchema,
    SenderSchema,
    SenderUpdateSchema,
    UnassignedHouseholdSchema,
)

blp = Blueprint(
    "municipalities", __name__, "", description="지자체와 가구 (Municipalities, households)"
)


def _municipalities_visible() -> sa.Select:
    principal = current_principal()
    query = sa.select(Municipality).order_by(Municipality.id)
    if principal.role == Role.SYSTEM_ADMIN:
        return query
    return query.where(Municipality.id == principal.municipality_id)


@blp.route("/municipalities")
class Municipalities(MethodView):
    @blp.arguments(PageArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(MunicipalitySchema))
    @require_login
    def get(self, page: int, per_page: int):
        """Municipalities: all for system admins, one's own for everyone else."""
        return paginate(_municipalities_visible(), page, per_page)

    @blp.arguments(MunicipalityCreateSchema)
    @blp.response(201, MunicipalitySchema)
    @require_role(Role.SYSTEM_ADMIN)
    def post(self, new: services.NewMunicipality):
        """Register a municipality (tenant) and its agreement state."""
        with transaction():
            return services.create_municipality(current_principal(), new)


@blp.route("/municipalities/<int:municipality_id>")
class MunicipalityItem(MethodView):
    @blp.response(200, MunicipalitySchema)
    @require_login
    def get(self, municipality_id: int):
        """One municipality."""
        return _visible_municipality(municipality_id)

    @blp.arguments(MunicipalityUpdateSchema)
    @blp.response(200, MunicipalitySchema)
    @require_login
    def patch(self, changes: services.MunicipalityChanges, municipality_id: int):
        """Change the name, the agreement (협약) state or the urgent visits' due time."""
        with transaction():
            municipality = _visible_municipality(municipality_id)
            return services.update_municipality(current_principal(), municipality, changes)


@blp.route("/municipalities/<int:municipality_id>/sender")
class MunicipalitySender(MethodView):
    @blp.response(200, SenderSchema)
    @require_login
    def get(self, municipality_id: int):
        """The sender identity printed on the municipality's letters, and what is missing."""
        return services.get_sender(current_principal(), _visible_municipality(municipality_id))

    @blp.arguments(SenderUpdateSchema)
    @blp.response(200, SenderSchema)
    @require_login
    def patch(self, changes: services.SenderChanges, municipality_id: int):
        """Set department, postal code, address, phone or contact person (its municipal admin)."""
        with transaction():
            municipality = _visible_municipality(municipality_id)
            return services.update_sender(current_principal(), municipality, changes)


def _visible_municipality(municipality_id: int) -> Municipality:
    municipality = db.session.scalar(
        _municipalities_visible().where(Municipality.id == municipality_id)
    )
    if municipality is None:
        raise NotFound()
    return municipality


def _page_of_households(query: sa.Select, page: int, per_page: int) -> dict:
    result = paginate(query, page, per_page)
    services.log_listed(current_principal(), result["items"])
    return result


@blp.route("/households")
class Households(MethodView):
    @blp.arguments(HouseholdQuerySchema, location="query")
    @blp.response(200, page_of(HouseholdSchema))
    @require_login
    def get(self, filters: dict):
        """List the municipality's households (every listed household is access-logged)."""
        page, per_page = filters.pop("page"), filters.pop("per_page")
        with transaction():
            query = services.search_households(
                current_principal(), services.HouseholdFilters(**filters)
            )
            return _page_of_households(query, page, per_page)

    @blp.arguments(HouseholdCreateSchema)
    @blp.response(201, HouseholdSchema)
    @require_login
    def post(self, new: services.NewHousehold):
        """Register one household."""
        with transaction():
            return services.create_household(current_principal(), new)


@blp.route("/households/search")
class HouseholdSearch(MethodView):
    @blp.arguments(HouseholdSearchSchema)
    @blp.response(200, page_of(HouseholdSchema))
    @require_login
    def post(self, filters: dict):
        """Search by exact name and other filters (a POST, so names never appear in URLs)."""
        page, per_page = filters.pop("page"), filters.pop("per_page")
        with transaction():
            query = services.search_households(
                current_principal(), services.HouseholdFilters(**filters)
            )
            return _page_of_households(query, page, per_page)


@blp.route("/households/unassigned")
class UnassignedHouseholds(MethodView):
    @blp.arguments(PageArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(UnassignedHouseholdSchema))
    @require_login
    def get(self, page: int, per_page: int):
        """Households outside every district or without coordinates, with the reason (logged)."""
        with transaction():
            query = services.unassigned_households(current_principal())
            return _page_of_households(query, page, per_page)


@blp.route("/households/<int:household_id>")
class HouseholdItem(MethodView):
    @blp.response(200, HouseholdSchema)
    @require_login
    def get(self, household_id: int):
        """One household (the read is access-logged)."""
        with transaction():
            return services.get_household(current_principal(), household_id)

    @blp.arguments(HouseholdUpdateSchema)
    @blp.response(200, HouseholdSchema)
    @require_login
    def patch(self, changes: services.HouseholdChanges, household_id: int):
        """Change a household; send the version you read (a stale one is a 409)."""
        with transaction():
            return services.update_household(current_principal(), household_id, changes)


@blp.route("/households/<int:household_id>/close")
class HouseholdClose(MethodView):
    @blp.arguments(HouseholdCloseSchema)
    @blp.response(200, HouseholdSchema)
    @require_login
    def post(self, data: dict, household_id: int):
        """Close a household with a reason."""
        with transaction():
            return services.close_household(current_principal(), household_id, data["reason"])


@blp.route("/households/imports")
class HouseholdImports(MethodView):
    @require_role(*services.WRITERS)  # first: nobody else gets the body read
    @blp.arguments(ImportArgsSchema, location="query", as_kwargs=True)
    @blp.arguments(ImportFileSchema, location="files", as_kwargs=True)
    @blp.response(202, JobSchema, headers=LOCATION, description="a job imports (or checks) it")
    @blp.alt_response(
        200,
        schema=ImportReportSchema,
        success=True,
        description="the row report of a dry run of a small file",
    )
    def post(self, dry_run: bool, file):
        """Import a CSV (UTF-8/CP949) or XLSX file: a job (202, follow Location) that imports
        all or nothing; a dry run reports every bad row, at once (200) for a file up to 4 MB
        (CSV) or 512 KB (XLSX), else as a job's result. A file that is not CSV/XLSX, is empty
        or is too large is refused at once."""
        principal = current_principal()
        with transaction():
            outcome = household_import.submit_file(
                principal, file.read(), file.filename or "", dry_run=dry_run
            )
        if isinstance(outcome, household_import.ImportReport):
            return jsonify(ImportReportSchema().dump(outcome))
        return accepted(outcome)
