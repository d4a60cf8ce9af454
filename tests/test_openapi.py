"""The OpenAPI document, and schemathesis over every operation in-process (no 5xx, schema kept)."""

from __future__ import annotations

import contextlib
import re
import uuid
from contextvars import ContextVar

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.core.failures import FailureGroup

from app import create_app
from carrier_api import devices
from core.api import BODY_REQUIRED
from core.auth.roles import Role
from core.auth.services import principal_for
from core.db import db
from core.schemas import MAX_ID
from tests.conftest import TEST_KEYS
from tests.support.factories import PASSWORD, World, auth, make_carrier
from tests.support.schemathesis_counts import CALLERS, CARRIER_DEVICE, COUNTS, NO_ONE

API = "/api/v1"
# The document only: schemathesis reads the operations at import time, before the `app`
# fixture exists. Every call below is sent to the test app (`app=`), inside the test's
# rolled-back transaction.
_document_app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", **TEST_KEYS})
schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", _document_app)
# Each call sends a real token (headers=...): schemathesis must not generate or drop one, or a
# "negative" case without Authorization would be answered as the valid request it becomes.
schema.config.generation.update(with_security_parameters=False)


def _served_operations(app):
    """(documented path, METHOD, view function) of every API operation the app serves."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(f"{API}/") or rule.endpoint == "api-docs.openapi_json":
            continue
        view = app.view_functions[rule.endpoint]
        path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            cls = getattr(view, "view_class", None)
            yield path, method, getattr(cls, method.lower()) if cls else view


#: The roles each operation's view admits (core.auth.principal.require_role); None: anyone.
ADMITS = {
    (path, method): getattr(view, "allowed_roles", None)
    for path, method, view in _served_operations(_document_app)
}
#: Who calls each operation in the thorough run (longest matching path prefix): a caller
#: allowed to do it, so generated data reaches the services instead of stopping at a 403.
ACTORS = {
    "/offices": Role.SYSTEM_ADMIN,
    "/districts": Role.SYSTEM_ADMIN,
    "/carriers": Role.SYSTEM_ADMIN,
    "/municipalities": Role.SYSTEM_ADMIN,
    "/accounts": Role.SYSTEM_ADMIN,
    "/accounts/{account_id}/enrolment-codes": Role.MUNICIPAL_ADMIN,
    "/webhooks": Role.MUNICIPAL_ADMIN,
    "/case-policy": Role.MUNICIPAL_ADMIN,
    "/on-duty": Role.MUNICIPAL_ADMIN,
    "/letter-batches/{batch_id}/receive": Role.DISPATCHER,
    "/mail-items/{item_id}/events": Role.DISPATCHER,
    "/plans": Role.DISPATCHER,
    "/devices/{device_id}/revoke": Role.DISPATCHER,
    "/access-reviews": Role.MUNICIPAL_ADMIN,
    "/carrier/": CARRIER_DEVICE,
    "/devices/me": CARRIER_DEVICE,
}
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
    checks.ignored_auth,
]


def actor(path: str) -> str:
    """Who calls an operation in the thorough run (a social worker unless ACTORS says so)."""
    path = path.removeprefix(API)
    matches = [prefix for prefix in ACTORS if path.startswith(prefix)]
    return str(ACTORS[max(matches, key=len)] if matches else Role.SOCIAL_WORKER)


def token(world: World, role: Role) -> str:
    return world.admin_token if role == Role.SYSTEM_ADMIN else world.a.tokens[role]


class Callers:
    """The Authorization header of each caller, in one test's world (no header for no one)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._device_token: str | None = None

    def headers(self, caller: str) -> dict[str, str]:
        if caller == NO_ONE:
            return {}
        if caller == CARRIER_DEVICE:
            return auth(self.device_token())
        return auth(token(self.world, Role(caller)))

    def device_token(self) -> str:
        """The access token of a phone enrolled for a carrier of tenant a's office."""
        if self._device_token is None:
            carrier = make_carrier(self.world.a.office)
            dispatcher = principal_for(self.world.a.accounts[Role.DISPATCHER])
            code, _ = devices.issue_enrolment_code(dispatcher, carrier.id)
            self._device_token = devices.enrol(code, "schemathesis", "android").access_token
            db.session.commit()  # the test's SAVEPOINT only: requests end their session
        return self._device_token


@pytest.fixture
def callers(world: World) -> Callers:
    return Callers(world)


def role_of(caller: str) -> Role | None:
    """The role a caller acts in (None for no one)."""
    if caller == NO_ONE:
        return None
    return Role.CARRIER if caller == CARRIER_DEVICE else Role(caller)


#: The caller of the request being validated (the checks and after_validate read it).
_calling: ContextVar[str | None] = ContextVar("calling", default=None)


def refused_whatever_it_sent(ctx, response, case) -> bool | None:
    """A caller the operation's view does not admit gets 401 (no token) or 403/404 (the plain
    404 of an object out of sight, or of a path naming no route), whatever it sent: never a
    422 about input it may not send, nor any 2xx."""
    caller = _calling.get()
    if caller is None or case.method.upper() != case.operation.method.upper():
        return True  # not a generated call, or the coverage phase's unexpected method (405)
    admits = ADMITS[(case.operation.path, case.operation.method.upper())]
    role = role_of(caller)
    if admits is None or role in admits:
        return None
    # A role's own token may have been revoked by an earlier call (DELETE /auth/token).
    expected = (401, 404) if role is None else (401, 403, 404)
    assert response.status_code in expected, (
        f"{caller} may not call {case.operation.label}: expected {expected},"
        f" got {response.status_code}"
    )
    return None


@schema.hook
def after_validate(context, case, response, results) -> None:
    """Count the answer to a generated request and its failed checks, by its caller."""
    caller = _calling.get()
    if caller is None:  # a test calling validate_response itself
        return
    # The coverage phase also sends methods the operation does not have (405, or OPTIONS' 200).
    same = case.method.upper() == case.operation.method.upper()
    status = str(response.status_code) if same else f"{case.method.upper()} {response.status_code}"
    COUNTS.answer(caller, _label(case), status)
    for result in results:
        COUNTS.check(caller, result.name, failed=result.failure is not None)


def _label(case) -> str:
    return f"{case.operation.method.upper()} {case.operation.path}"


def as_the_app_sends_it(case) -> None:
    """The carrier app sends a visit's client_uuid as its Idempotency-Key too: a generated valid
    visit gets the key that matches, so it reaches the service instead of the ≠-key 422."""
    body, headers = case.body, case.headers
    if (
        case.operation.path == f"{API}/carrier/visits"
        and case.meta is not None
        and case.meta.generation.mode.is_positive
        and isinstance(body, dict)
        and isinstance(body.get("client_uuid"), str)
        and headers
        and "Idempotency-Key" in headers
    ):
        with contextlib.suppress(ValueError):
            headers["Idempotency-Key"] = str(uuid.UUID(body["client_uuid"]))


def call_counted(case, app, caller: str, headers: dict[str, str]) -> None:
    """Call and validate one generated request, counted by caller with its failed checks
    (printed at the end of the session: tests/conftest.py); a failure still fails the test."""
    as_the_app_sends_it(case)
    COUNTS.request(caller, _label(case))
    reset = _calling.set(caller)
    try:
        case.call_and_validate(app=app, headers=headers, checks=[*CHECKS, refused_whatever_it_sent])
    except FailureGroup:
        raise  # its checks were counted by after_validate
    except Exception:
        COUNTS.failure(caller, "exception")
        raise
    finally:
        _calling.reset(reset)


SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, **SETTINGS)
def test_every_operation_conforms(case, app, callers):
    """Generated valid and invalid requests: no 5xx, answers as documented, bad data refused."""
    caller = actor(case.operation.path)
    call_counted(case, app, caller, callers.headers(caller))


@pytest.mark.slow
@pytest.mark.parametrize("caller", CALLERS)
@schema.parametrize()
@settings(max_examples=6, **SETTINGS)
def test_every_caller_is_answered_as_documented(case, app, callers, caller):
    """Every operation called by no one, by every role and by a carrier's phone: no 5xx, and
    those without the right get a documented 401/403/404 in the error shape."""
    call_counted(case, app, caller, callers.headers(caller))


def test_generated_requests_stay_in_the_test_transaction(app, client, world):
    """A write through schemathesis' call path is visible to the test but never committed."""
    operation = schema[f"{API}/households"]["POST"]
    case = operation.Case(body={"name": "롤백 확인", "road_address": "서울특별시 시험구 롤백로 1"})
    response = case.call(app=app, headers=auth(world.a.tokens[Role.SOCIAL_WORKER]))
    assert response.status_code == 201, response.text
    household_id = response.json()["id"]
    headers = world.a.headers(Role.SOCIAL_WORKER)
    assert client.get(f"{API}/households/{household_id}", headers=headers).status_code == 200
    # Another connection sees only committed data: the row must not be there.
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"SELECT count(*) FROM households WHERE id = {int(household_id)}")
        assert cursor.fetchone()[0] == 0
    finally:
        raw.close()


def test_openapi_document(client, app):
    """The document is OpenAPI 3, lists every API route and method, and declares bearerAuth."""
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200 and response.is_json
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    assert spec["security"] == [{"bearerAuth": []}]
    assert spec["paths"][f"{API}/auth/token"]["post"]["security"] == []
    documented = {
        (path, method.upper())
        for path, operations in spec["paths"].items()
        for method in operations
        if method != "parameters"
    }
    served = {
        (re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(f"{API}/") and rule.endpoint != "api-docs.openapi_json"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert all(path.startswith(f"{API}/") for path, _ in documented)
    assert documented == served
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert set(spec["components"]["schemas"]["_ErrorDetail"]["required"]) == {
        "code",
        "message",
        "fields",
    }
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method != "parameters":
                assert "default" in operation["responses"], (method, path)


def test_the_document_says_which_operations_need_a_token(client, app):
    """Found running schemathesis without a token: the document asked for a bearer
    token on the phone's enrolment and refresh, which take none (their code or refresh token is
    the credential). An operation needs bearerAuth exactly when its view requires a principal."""
    spec = client.get(f"{API}/openapi.json").get_json()
    wrong = []
    for path, method, view in _served_operations(app):
        documented = spec["paths"][path][method.lower()].get("security", spec["security"])
        needs_token = hasattr(view, "allowed_roles")  # core.auth.principal.require_role
        if documented != ([{"bearerAuth": []}] if needs_token else []):
            wrong.append((method, path, documented))
    assert wrong == []
    assert spec["paths"][f"{API}/devices/enrol"]["post"]["security"] == []


def test_the_carrier_apps_headers_are_in_the_document(client):
    """Found running schemathesis as a carrier's phone: a visit upload needs an Idempotency-Key
    header the document did not name (every generated visit was refused with a 400), and the
    route's If-None-Match, ETag and 304 were in its prose only."""
    paths = client.get(f"{API}/openapi.json").get_json()["paths"]
    (key,) = paths[f"{API}/carrier/visits"]["parameters"]
    assert (key["in"], key["name"], key["required"]) == ("header", "Idempotency-Key", True)
    route = paths[f"{API}/carrier/route"]
    assert [(p["in"], p["name"]) for p in route["parameters"]] == [("header", "If-None-Match")]
    for status in ("200", "304"):
        assert route["get"]["responses"][status]["headers"]["ETag"]["required"] is True
    assert "content" not in route["get"]["responses"]["304"]


@pytest.mark.parametrize(
    ("method", "path", "caller", "status"),
    [
        ("POST", "/households/search", NO_ONE, 401),
        ("PUT", "/devices/me/fcm-token", NO_ONE, 401),
        ("PUT", "/case-policy", Role.AUDITOR, 403),
        ("POST", "/carrier/visits", Role.SOCIAL_WORKER, 403),
        ("POST", "/households", Role.CARRIER, 403),
        ("PATCH", "/households/1", CARRIER_DEVICE, 404),
    ],
)
def test_a_caller_without_the_right_is_refused_before_its_input_is_read(
    client, callers, method, path, caller, status
):
    """Found by schemathesis with every caller: the role check ran under the arguments'
    parsing, so a caller without a token, or without the role, got a 400 or a 422 naming the
    fields of an operation it may not use. core.api.Blueprint now admits the caller first."""
    headers = callers.headers(str(caller))
    for data in ('{"no_such_field": [1]}', "{not json"):
        response = client.open(
            f"{API}{path}",
            method=method,
            data=data,
            content_type="application/json",
            headers=headers,
        )
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found"}[status]
        assert assert_error(response, status, code) == {}


def test_path_ids_are_bounded_in_the_document(client):
    """Path ids are documented as 0..MAX_ID: larger ones are a 404, never a database error."""
    spec = client.get(f"{API}/openapi.json").get_json()
    parameters = spec["paths"][f"{API}/households/{{household_id}}"]["parameters"]
    assert parameters[0]["schema"] == {"type": "integer", "minimum": 0, "maximum": MAX_ID}


def assert_error(response, status: int, code: str) -> dict:
    """The one error shape, with this status and code; returns its fields."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    return body["error"]["fields"]


def test_method_not_allowed_says_which_are(client, world):
    """405 keeps werkzeug's Allow header and uses the error shape."""
    response = client.delete(f"{API}/households", headers=world.a.headers(Role.SOCIAL_WORKER))
    assert_error(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


@pytest.mark.parametrize("household_id", [MAX_ID + 1, 2**63, 10**30])
def test_an_id_too_large_for_the_database_is_a_404(client, world, household_id):
    """Found by schemathesis: a huge path id overflowed SQLite's INTEGER and answered 500."""
    headers = world.a.headers(Role.SOCIAL_WORKER)
    response = client.post(
        f"{API}/households/{household_id}/close", json={"reason": "moved"}, headers=headers
    )
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/households/search", Role.SOCIAL_WORKER),
        ("/municipalities/{municipality_id}", Role.SYSTEM_ADMIN),
        ("/offices/{office_id}", Role.SYSTEM_ADMIN),
    ],
)
def test_a_json_body_is_required_where_documented(client, world, path, role):
    """Found by schemathesis: a missing body was taken for {} though the document requires one."""
    path = path.format(municipality_id=world.a.municipality.id, office_id=world.a.office.id)
    headers = auth(token(world, role))
    method = client.post if path.endswith("search") else client.patch
    fields = assert_error(method(f"{API}{path}", headers=headers), 422, "invalid")
    assert fields == {"_schema": [BODY_REQUIRED]}
    text = method(f"{API}{path}", data="{}", content_type="text/plain", headers=headers)
    assert_error(text, 422, "invalid")
    assert method(f"{API}{path}", json={}, headers=headers).status_code == 200


def test_a_reference_to_a_missing_municipality_names_the_field(client, world):
    """Found by schemathesis (a 500 then); DESIGN §5: a 4xx naming the field at fault."""
    body = {
        "username": "ghost.worker",
        "display_name": "없는 시 담당자",
        "password": PASSWORD,
        "role": "social_worker",
        "municipality_id": 2**31 - 1,
    }
    response = client.post(f"{API}/accounts", json=body, headers=world.admin_headers())
    assert "municipality_id" in assert_error(response, 422, "invalid")
