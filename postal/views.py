"""Postal-network API: offices, carrier districts, carriers."""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from core.api import Blueprint, paginate
from core.auth.principal import Principal, current_principal, require_login, require_role
from core.auth.roles import Role
from core.clock import format_hhmm
from core.db import transaction
from core.errors import Forbidden
from core.schemas import PageArgsSchema, page_of
from core.uploads import checked_first
from postal import services
from postal.districts import to_geojson
from postal.schemas import (
    CarrierCreateSchema,
    CarrierSchema,
    CarrierUpdateSchema,
    DistrictSchema,
    DistrictUploadSchema,
    OfficeCreateSchema,
    OfficeSchema,
    OfficeUpdateSchema,
)

blp = Blueprint("routing", __name__, "", description="우체국·집배구·집배원 (Postal network)")


def _system_admin(principal: Principal, office_id: int, **_: object) -> None:
    """Only system admins load districts (as load_districts says): an office out of the
    caller's sight is a 404 like every foreign object, the caller's own a 403."""
    services.get_office(principal, office_id)
    if principal.role != Role.SYSTEM_ADMIN:
        raise Forbidden()


def _carrier_out(carrier, account) -> dict:
    return {
        "id": carrier.id,
        "account_id": account.id,
        "username": account.username,
        "display_name": account.display_name,
        "employee_no": carrier.employee_no,
        "office_id": account.office_id,
        "home_district_id": carrier.home_district_id,
        "is_active": account.is_active,
        "profile": carrier.profile,
        "shift": "-".join(
            format_hhmm(m * 60) for m in (carrier.shift_start_min, carrier.shift_end_min)
        ),
        "lunch_minutes": carrier.lunch_minutes,
    }


@blp.route("/offices")
class Offices(MethodView):
    @blp.arguments(PageArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(OfficeSchema))
    @require_role(Role.SYSTEM_ADMIN, Role.DISPATCHER)
    def get(self, page: int, per_page: int):
        """Delivery offices visible to the caller."""
        return paginate(services.offices_visible_to(current_principal()), page, per_page)

    @blp.arguments(OfficeCreateSchema)
    @blp.response(201, OfficeSchema)
    @require_role(Role.SYSTEM_ADMIN)
    def post(self, new: services.NewOffice):
        """Register a delivery office with its depot position."""
        with transaction():
            return services.create_office(current_principal(), new)


@blp.route("/offices/<int:office_id>")
class OfficeItem(MethodView):
    @blp.response(200, OfficeSchema)
    @require_login
    def get(self, office_id: int):
        """One delivery office."""
        return services.get_office(current_principal(), office_id)

    @blp.arguments(OfficeUpdateSchema)
    @blp.response(200, OfficeSchema)
    @require_login
    def patch(self, changes: services.OfficeChanges, office_id: int):
        """Change an office's name, address or depot."""
        with transaction():
            return services.update_office(current_principal(), office_id, changes)


@blp.route("/offices/<int:office_id>/districts")
class OfficeDistricts(MethodView):
    @blp.response(200, DistrictSchema(many=True))
    @require_login
    def get(self, office_id: int):
        """The office's carrier districts with their polygons."""
        return services.districts_of(current_principal(), office_id)

    @require_login
    @checked_first(_system_admin)
    @blp.arguments(DistrictUploadSchema)
    @blp.response(200, DistrictSchema(many=True))
    def put(self, data: dict, office_id: int):
        """Add or replace (by code) districts from GeoJSON; every problem is named."""
        with transaction():
            office = services.get_office(current_principal(), office_id)
            return services.load_districts(current_principal(), office, request.get_json())


@blp.route("/offices/<int:office_id>/districts.geojson")
class OfficeDistrictsGeoJSON(MethodView):
    @blp.response(200)
    @require_login
    def get(self, office_id: int):
        """The office's districts as one GeoJSON FeatureCollection."""
        districts = services.districts_of(current_principal(), office_id)
        return to_geojson(services.district_shapes(districts))


@blp.route("/districts/<int:district_id>")
class DistrictItem(MethodView):
    @blp.response(200, DistrictSchema)
    @require_login
    def get(self, district_id: int):
        """One carrier district."""
        return services.get_district(current_principal(), district_id)


@blp.route("/offices/<int:office_id>/carriers")
class OfficeCarriers(MethodView):
    @blp.response(200, CarrierSchema(many=True))
    @require_login
    def get(self, office_id: int):
        """The office's carriers."""
        return [_carrier_out(*row) for row in services.carriers_of(current_principal(), office_id)]

    @blp.arguments(CarrierCreateSchema)
    @blp.response(201, CarrierSchema)
    @require_login
    def post(self, new: services.NewCarrier, office_id: int):
        """Create a carrier's account, attached to this office and a home district."""
        with transaction():
            office = services.get_office(current_principal(), office_id)
            carrier = services.create_carrier(current_principal(), office, new)
            return _carrier_out(*services.get_carrier(current_principal(), carrier.id))


@blp.route("/carriers/<int:carrier_id>")
class CarrierItem(MethodView):
    @blp.response(200, CarrierSchema)
    @require_login
    def get(self, carrier_id: int):
        """One carrier."""
        return _carrier_out(*services.get_carrier(current_principal(), carrier_id))

    @blp.arguments(CarrierUpdateSchema)
    @blp.response(200, CarrierSchema)
    @require_login
    def patch(self, changes: services.CarrierChanges, carrier_id: int):
        """Change a carrier's home district, travel profile, usual shift or lunch length."""
        with transaction():
            services.update_carrier(current_principal(), carrier_id, changes)
            return _carrier_out(*services.get_carrier(current_principal(), carrier_id))
