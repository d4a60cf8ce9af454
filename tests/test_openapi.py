"""The OpenAPI document, and schemathesis over every operation in-process (reliability.md S5)."""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from app import create_app
from core.api import BODY_REQUIRED
from core.auth.roles import Role
from core.db import db
from core.schemas import MAX_ID
from tests.conftest import TEST_KEYS
from tests.factories import PASSWORD, World, auth

API = "/api/v1"
# The document only: schemathesis reads the operations at import time, before the `app`
# fixture exists. Every call below is sent to the test app (`app=`), inside the test's
# rolled-back transaction.
_document_app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", **TEST_KEYS})
schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", _document_app)
# Each call sends a real token (headers=...): schemathesis must not generate or drop one, or a
# "negative" case without Authorization would be answered as the valid request it becomes.
schema.config.generation.update(with_security_parameters=False)

#: Who calls each operation (longest matching path prefix): a role allowed to do it, so
#: generated data reaches the services instead of stopping at a 403.
ACTORS = {
    "/offices": Role.SYSTEM_ADMIN,
    "/districts": Role.SYSTEM_ADMIN,
    "/carriers": Role.SYSTEM_ADMIN,
    "/municipalities": Role.SYSTEM_ADMIN,
    "/accounts": Role.SYSTEM_ADMIN,
    "/webhooks": Role.MUNICIPAL_ADMIN,
    "/letter-batches/{batch_id}/receive": Role.DISPATCHER,
    "/mail-items/{item_id}/events": Role.DISPATCHER,
    "/access-reviews": Role.MUNICIPAL_ADMIN,
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


def actor(path: str) -> Role:
    """The role that calls an operation (a social worker unless ACTORS says otherwise)."""
    path = path.removeprefix(API)
    matches = [prefix for prefix in ACTORS if path.startswith(prefix)]
    return ACTORS[max(matches, key=len)] if matches else Role.SOCIAL_WORKER


def token(world: World, role: Role) -> str:
    return world.admin_token if role == Role.SYSTEM_ADMIN else world.a.tokens[role]


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms(case, app, world):
    """Generated valid and invalid requests: no 5xx, answers as documented, bad data refused."""
    role = actor(case.operation.path)
    case.call_and_validate(app=app, headers=auth(token(world, role)), checks=CHECKS)


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
