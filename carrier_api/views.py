"""The carrier app's API: enrolling phones, refreshing their tokens, revoking them."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView

from carrier_api import devices
from carrier_api.schemas import (
    CredentialsSchema,
    DeviceSchema,
    EnrolmentCodeSchema,
    EnrolSchema,
    FcmTokenSchema,
    RefreshSchema,
)
from core.api import Blueprint
from core.auth.principal import current_principal, require_login
from core.db import transaction
from core.extensions import limiter

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
