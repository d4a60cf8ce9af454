"""The carrier app's API: phones, today's route, scanning, visits with surveys, offline sync."""

from __future__ import annotations

from flask import Response, current_app, request
from flask.views import MethodView

from carrier_api import devices, route, sync, visits
from carrier_api.schemas import (
    BatchAnswerSchema,
    CarrierRouteSchema,
    CredentialsSchema,
    DayQuerySchema,
    DeviceSchema,
    EnrolmentCodeSchema,
    EnrolSchema,
    FcmTokenSchema,
    RefreshSchema,
    RouteStopSchema,
    VisitBatchInSchema,
    VisitInSchema,
    VisitResultSchema,
)
from core.api import Blueprint
from core.auth.principal import (
    current_principal,
    require_any_role,
    require_login,
    require_role,
)
from core.auth.roles import Role
from core.clock import seoul_today
from core.db import transaction
from core.errors import ApiError, Invalid, NotFound
from core.extensions import limiter
from welfare_checks import survey

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


@blp.route("/accounts/<int:account_id>/enrolment-codes")
class StaffEnrolmentCodes(MethodView):
    @blp.response(201, EnrolmentCodeSchema)
    @require_login
    def post(self, account_id: int):
        """A one-time code for a social worker's phone, for alerts (municipal admins)."""
        with transaction():
            code, row = devices.issue_staff_enrolment_code(current_principal(), account_id)
        return {"code": code, "account_id": account_id, "expires_at": row.expires_at}


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
    @blp.doc(security=[])
    def post(self, data: dict):
        """Exchange an enrolment code for device credentials (no sign-in: the code is it)."""
        with transaction():
            return devices.enrol(data["code"], data["label"], data["platform"])


@blp.route("/devices/refresh")
class DeviceRefresh(MethodView):
    decorators = [limiter.limit(_device_auth_limit)]

    @blp.arguments(RefreshSchema)
    @blp.response(200, CredentialsSchema)
    @blp.doc(security=[])
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
    @require_any_role
    def put(self, data: dict):
        """Register the calling phone's FCM token for pushes (null: stop pushes)."""
        with transaction():
            return devices.set_fcm_token(current_principal(), data["token"])


#: The headers the carrier app sends and gets, in the document as the code reads and sets them.
ETAG = {
    "ETag": {
        "description": "the route's version, for If-None-Match",
        "required": True,
        "schema": {"type": "string"},
    }
}
IF_NONE_MATCH = {
    "in": "header",
    "name": "If-None-Match",
    "required": False,
    "description": "the ETag of the route the app holds: unchanged, the answer is 304",
    "schema": {"type": "string"},
}
IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": True,
    "description": "the record's client_uuid: a resend gets the stored answer",
    "schema": {"type": "string", "format": "uuid"},
}


@blp.route("/carrier/route", parameters=[IF_NONE_MATCH])
class CarrierRouteView(MethodView):
    @blp.arguments(DayQuerySchema, location="query")
    @blp.response(200, CarrierRouteSchema, headers=ETAG)
    @blp.alt_response(304, description="unchanged since If-None-Match (no body)", headers=ETAG)
    @require_role(Role.CARRIER)
    def get(self, query: dict):
        """Today's (or the day's) published route: ordered stops with what the door needs.

        Send the last ETag in If-None-Match: an unchanged route answers 304 with no body.
        """
        with transaction():  # reading addressees' names is logged, and the log must commit
            body = route.route_body(current_principal(), query.get("day") or seoul_today())
        # Encoded once, for the ETag and as the answer (the body has the schema's shape).
        payload, tag = route.encoded(body)
        headers = {"ETag": f'"{tag}"'}
        if request.if_none_match.contains(tag):
            return Response(status=304, headers=headers)
        return Response(payload, status=200, headers=headers, mimetype="application/json")


@blp.route("/carrier/items/<string:registered_number>")
class CarrierScan(MethodView):
    @blp.arguments(DayQuerySchema, location="query")
    @blp.response(200, RouteStopSchema)
    @require_role(Role.CARRIER)
    def get(self, query: dict, registered_number: str):
        """Look an item up by registered number: only items on the caller's route are found."""
        day = query.get("day") or seoul_today()
        with transaction():
            return route.scan(current_principal(), registered_number, day)


class IdempotencyKeyMissing(ApiError):
    code = "idempotency_key_missing"
    message = "Idempotency-Key 헤더가 필요합니다. (The Idempotency-Key header is required.)"


@blp.route("/carrier/visits", parameters=[IDEMPOTENCY_KEY])
class Visits(MethodView):
    @blp.arguments(VisitInSchema)
    @blp.response(201, VisitResultSchema)
    @blp.alt_response(200, schema=VisitResultSchema, description="the stored answer of a replay")
    @require_role(Role.CARRIER)
    def post(self, record: visits.NewVisit):
        """Record a visit: outcome, position, survey (welfare items), signature; safe to resend.

        The Idempotency-Key header must equal the record's client_uuid.
        """
        key = request.headers.get("Idempotency-Key")
        if not key:
            raise IdempotencyKeyMissing()
        if key != str(record.client_uuid):
            raise Invalid(fields={"client_uuid": ["Idempotency-Key와 같아야 합니다. (≠ key)"]})
        with transaction():
            answer = visits.record_visit(current_principal(), request.get_json(), record)
        return answer.body, answer.status


@blp.route("/carrier/visits/<string:client_uuid>")
class VisitItem(MethodView):
    @blp.response(200, VisitResultSchema)
    @require_role(Role.CARRIER)
    def get(self, client_uuid: str):
        """Whether a record arrived: the answer it got, for the caller's own records only."""
        return visits.stored_answer(current_principal(), client_uuid)


@blp.route("/carrier/visits/batch")
class VisitBatch(MethodView):
    @blp.arguments(VisitBatchInSchema)
    @blp.response(200, BatchAnswerSchema)
    @require_role(Role.CARRIER)
    def post(self, data: dict):
        """Upload many visits at once (offline sync): each record gets its own result."""
        records, limit = data["records"], current_app.config["VISIT_BATCH_MAX"]
        if len(records) > limit:
            raise Invalid(fields={"records": [f"최대 {limit}건 (at most {limit} records)"]})
        principal = current_principal()
        with transaction():
            results = [sync.record_in_batch(principal, raw) for raw in records]
        return {"results": results}


@blp.route("/carrier/forms/<string:form_id>/<int:version>")
class SurveyForm(MethodView):
    @blp.response(200)
    @require_any_role
    def get(self, form_id: str, version: int):
        """A survey form definition (questions, choices, relevance) as the app renders it."""
        try:
            return survey.form(form_id, version).definition()
        except survey.UnknownForm as unknown:
            raise NotFound() from unknown


@blp.route("/carrier/forms/<string:form_id>")
class LatestSurveyForm(MethodView):
    @blp.response(200)
    @require_any_role
    def get(self, form_id: str):
        """The newest version of a survey form."""
        try:
            return survey.latest(form_id).definition()
        except survey.UnknownForm as unknown:
            raise NotFound() from unknown
