"""The carrier app's API: phones (enrol, refresh, revoke), today's route, scanning items."""

from __future__ import annotations

from flask import Response, current_app, request
from flask.views import MethodView

from carrier_api import devices, route
from carrier_api.schemas import (
    CarrierRouteSchema,
    CredentialsSchema,
    DayQuerySchema,
    DeviceSchema,
    EnrolmentCodeSchema,
    EnrolSchema,
    FcmTokenSchema,
    RefreshSchema,
    RouteStopSchema,
)
from core.api import Blueprint
from core.auth.principal import current_principal, require_login, require_role
from core.auth.roles import Role
from core.db import transaction
from core.extensions import limiter
from municipalities.mail import seoul_today

blp = Blueprint("carrier", __name__, "", description="집배원 앱 (Carrier app)")


def _device_auth_limit() -> str:
    return current_app.config["RATELIMIT_DEVICE_AUTH"]


@blp.route("/carriers/<int:carrier_id>/enrolment-codes")
class EnrolmentCodes(MethodView):
    @blp.response(201, EnrolmentCodeSchema)
    @require_login
    def post(self, carrier_id: int):
        """Issue a one-time code (15 minutes) to enrol one phone of the carrier (dispatchers)."""
        with transaction():
            code, row = devices.issue_enrolment_code(current_principal(), carrier_id)
        return {"code": code, "carrier_id": carrier_id, "expires_at": row.expires_at}


@blp.route("/carriers/<int:carrier_id>/devices")
class CarrierDevices(MethodView):
    @blp.response(200, DeviceSchema(many=True))
    @require_login
    def get(self, carrier_id: int):
        """The carrier's phones, revoked ones included."""
        return devices.devices_of(current_principal(), carrier_id)


@blp.route("/devices/<int:device_id>/revoke")
class DeviceRevoke(MethodView):
    @blp.response(200, DeviceSchema)
    @require_login
    def post(self, device_id: int):
        """Cut a phone off at once (lost or replaced)."""
        with transaction():
            return devices.revoke(current_principal(), device_id)


@blp.route("/devices/enrol")
class DeviceEnrol(MethodView):
    decorators = [limiter.limit(_device_auth_limit)]

    @blp.arguments(EnrolSchema)
    @blp.response(201, CredentialsSchema)
    def post(self, data: dict):
        """Exchange an enrolment code for device credentials (no sign-in: the code is it)."""
        with transaction():
            return devices.enrol(data["code"], data["label"], data["platform"])


@blp.route("/devices/refresh")
class DeviceRefresh(MethodView):
    decorators = [limiter.limit(_device_auth_limit)]

    @blp.arguments(RefreshSchema)
    @blp.response(200, CredentialsSchema)
    def post(self, data: dict):
        """A new access and refresh token for the old refresh token, which is spent."""
        with transaction():
            credentials = devices.refresh(data["refresh_token"])
        if credentials is None:  # a replayed token: the device is cut off (committed)
            raise devices.RefreshFailed()
        return credentials


@blp.route("/devices/me/fcm-token")
class DeviceFcmToken(MethodView):
    @blp.arguments(FcmTokenSchema)
    @blp.response(200, DeviceSchema)
    @require_login
    def put(self, data: dict):
        """Register the calling phone's FCM token for pushes (null: stop pushes)."""
        with transaction():
            return devices.set_fcm_token(current_principal(), data["token"])


@blp.route("/carrier/route")
class CarrierRouteView(MethodView):
    @blp.arguments(DayQuerySchema, location="query")
    @blp.response(200, CarrierRouteSchema)
    @require_role(Role.CARRIER)
    def get(self, query: dict):
        """Today's (or the day's) published route: ordered stops with what the door needs.

        Send the last ETag in If-None-Match: an unchanged route answers 304 with no body.
        """
        body = route.route_body(current_principal(), query.get("day") or seoul_today())
        tag = route.etag_of(body)
        if request.if_none_match.contains(tag):
            return Response(status=304, headers={"ETag": f'"{tag}"'})
        return body, 200, {"ETag": f'"{tag}"'}


@blp.route("/carrier/items/<string:registered_number>")
class CarrierScan(MethodView):
    @blp.arguments(DayQuerySchema, location="query")
    @blp.response(200, RouteStopSchema)
    @require_login
    def get(self, query: dict, registered_number: str):
        """Look an item up by registered number: only items on the caller's route are found."""
        day = query.get("day") or seoul_today()
        return route.scan(current_principal(), registered_number, day)
