"""What input may be: hostile payloads of every class are a 4xx naming the field, never a 500;
and every input schema builds its fields from core.schemas' types."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from marshmallow import Schema, fields

from core.auth.roles import Role
from core.json_input import MAX_DEPTH
from core.schemas import Day, Instant, Number, StrictSchema, Text
from municipalities.mail.services import merge_letter
from tests.support.factories import square

DEEP = "[" * 10_000 + "]" * 10_000
TEMPLATE = {"name": "안내", "body": "{addressee}님께", "contact": "복지팀 02-123-4567"}
HOUSEHOLD = {
    "name": "김순자",
    "road_address": "서울특별시 시험구 희망로 12",
    "location": [127, 37.5],
}
OFFICE = {
    "code": "X-1",
    "name": "시험우체국",
    "road_address": "서울 시험구 1",
    "depot": [127, 37.5],
}


def _raw(client, path: str, text: str, headers: dict | None = None):
    return client.post(path, data=text, content_type="application/json", headers=headers)


def _json(method: str, path: str, role: Role | None, body: Any) -> Callable:
    def send(client, world):
        headers = world.admin_headers() if role is None else world.a.headers(role)
        return client.open(
            path.format(office=world.a.office.id), method=method, json=body, headers=headers
        )

    return send


def _districts(name: str) -> dict:
    feature = {
        "type": "Feature",
        "properties": {"code": "N1", "name": name},
        "geometry": square(127.30, 37.60),
    }
    return {"type": "FeatureCollection", "features": [feature]}


SW = Role.SOCIAL_WORKER
# (case, request, statuses allowed, the field the error names or None)
HOSTILE: list[tuple[str, Callable, tuple[int, ...], str | None]] = [
    ("deep JSON, no login", lambda c, w: _raw(c, "/api/v1/auth/token", DEEP), (400,), None),
    (
        "deep object, no login",
        lambda c, w: _raw(c, "/api/v1/auth/token", '{"a":' * 5_000 + "1" + "}" * 5_000),
        (400,),
        None,
    ),
    (
        "deep JSON, logged in",
        lambda c, w: _raw(c, "/api/v1/households", DEEP, w.a.headers(SW)),
        (400,),
        None,
    ),
    (
        "just too deep",
        lambda c, w: _raw(
            c, "/api/v1/households", "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), w.a.headers(SW)
        ),
        (400,),
        None,
    ),
    (
        "NaN is not JSON",
        lambda c, w: _raw(c, "/api/v1/auth/token", '{"username": NaN}'),
        (400,),
        None,
    ),
    (
        "a 5,000-digit number",
        lambda c, w: _raw(c, "/api/v1/auth/token", '{"username": ' + "9" * 5_000 + "}"),
        (400,),
        None,
    ),
    (
        "lone surrogate in a name",
        _json("POST", "/api/v1/households", SW, HOUSEHOLD | {"name": "김\ud800"}),
        (422,),
        "name",
    ),
    (
        "lone surrogate in a password",
        lambda c, w: c.post("/api/v1/auth/token", json={"username": "x", "password": "\udfff"}),
        (422,),
        "password",
    ),
    (
        "control character in a name",
        _json("POST", "/api/v1/households", SW, HOUSEHOLD | {"name": "김\x1b[2J"}),
        (422,),
        "name",
    ),
    (
        "line break in a one-line field",
        _json("POST", "/api/v1/households", SW, HOUSEHOLD | {"road_address": "희망로\n12"}),
        (422,),
        "road_address",
    ),
    (
        "0 is not a boolean",
        _json(
            "PUT",
            "/api/v1/case-policy",
            Role.MUNICIPAL_ADMIN,
            {"due_hours": {}, "open_on_watch": 0},
        ),
        (422,),
        "open_on_watch",
    ),
    (
        '"true" is not a boolean',
        _json(
            "POST",
            "/api/v1/mailings",
            SW,
            {"title": "t", "template_id": 1, "selection": {"all_active": "true"}},
        ),
        (422,),
        "selection",
    ),
    (
        "latitude 95 of a household",
        _json("POST", "/api/v1/households", SW, HOUSEHOLD | {"location": [127, 95]}),
        (422,),
        "location",
    ),
    (
        "format spec in a template",
        _json("POST", "/api/v1/letter-templates", SW, TEMPLATE | {"body": "{addressee:d}님께"}),
        (422,),
        "body",
    ),
    (
        "a 60 MB padding spec",
        _json("POST", "/api/v1/letter-templates", SW, TEMPLATE | {"body": "{addressee:>60000000}"}),
        (422,),
        "body",
    ),
    (
        "a conversion",
        _json("POST", "/api/v1/letter-templates", SW, TEMPLATE | {"body": "{addressee!r}"}),
        (422,),
        "body",
    ),
    (
        "an attribute",
        _json("POST", "/api/v1/letter-templates", SW, TEMPLATE | {"body": "{addressee.__class__}"}),
        (422,),
        "body",
    ),
    (
        "send date in 2100",
        _json(
            "POST",
            "/api/v1/mailings",
            SW,
            {
                "title": "t",
                "template_id": 1,
                "send_date": "2100-01-04",
                "selection": {"all_active": True},
            },
        ),
        (422,),
        "send_date",
    ),
    (
        "statistics from year 1",
        _json("GET", "/api/v1/statistics?from=0001-01-01", SW, None),
        (422,),
        "query",  # query arguments are named under "query"
    ),
    (
        "office depot at 1e308",
        _json("POST", "/api/v1/offices", None, OFFICE | {"depot": [1e308, 1e308]}),
        (422,),
        "depot",
    ),
    (
        "office depot at latitude -91",
        _json("POST", "/api/v1/offices", None, OFFICE | {"depot": [127, -91]}),
        (422,),
        "depot",
    ),
    (
        "plan for 2100",
        _json("POST", "/api/v1/offices/{office}/plans", Role.DISPATCHER, {"day": "2100-01-04"}),
        (422,),
        "day",
    ),
    (
        "an integer past any column",
        _json(
            "POST",
            "/api/v1/offices/{office}/plans",
            Role.DISPATCHER,
            {"day": "2026-01-05", "time_limit_s": 10**30},
        ),
        (422,),
        "time_limit_s",
    ),
    (
        "NUL in a district name",
        _json("PUT", "/api/v1/offices/{office}/districts", None, _districts("북부\x00구")),
        (422,),
        "features",
    ),
    (
        "lone surrogate in a district name",
        _json("PUT", "/api/v1/offices/{office}/districts", None, _districts("북부\ud800")),
        (422,),
        "features",
    ),
    (
        "newline in next=, login page",
        lambda c, w: c.get("/login?next=/%0d%0aSet-Cookie:x=1"),
        tuple(range(200, 500)),
        None,
    ),
    (
        "newline in next=, login post",
        lambda c, w: c.post("/login?next=/%0aevil", data={"username": "x", "password": "y"}),
        tuple(range(200, 500)),
        None,
    ),
]


@pytest.mark.parametrize(
    ("case", "send", "statuses", "field"), HOSTILE, ids=[h[0] for h in HOSTILE]
)
def test_hostile_input_is_refused_in_the_error_shape(client, world, case, send, statuses, field):
    response = send(client, world)
    assert response.status_code in statuses, (case, response.status_code, response.data[:300])
    if response.status_code >= 400 and response.is_json:
        error = response.json["error"]
        assert error["code"] and error["message"]
        if field is not None:
            assert field in error["fields"], error
    if field == "features":
        (problem,) = response.json["error"]["fields"]["features"]
        assert (problem["feature"], problem["problem"]) == (0, "name_invalid")


def test_a_stored_template_with_a_spec_is_never_run():
    """A template saved before specs were refused is refused when merged, not formatted."""
    from core.errors import Invalid

    class Row:
        name, road_address, address_detail, contact, programmes = "김", "희망로", None, "팀", ""

    with pytest.raises(Invalid) as refused:
        merge_letter("{addressee:>60000000}", Row, Row, Row)
    assert "body" in refused.value.fields
    assert merge_letter("{addressee}님, {address} {{괄호}}", Row, Row, Row) == "김님, 희망로 {괄호}"


def _schemas(base: type) -> list[type]:
    found = []
    for sub in base.__subclasses__():
        found += [sub, *_schemas(sub)]
    return found


def _untyped(field: fields.Field) -> str | None:
    """Why a field of an input schema is not built from core.schemas' types, or None."""
    if isinstance(
        field, Text | Number | Day | Instant | fields.Boolean | fields.Enum | fields.UUID
    ):
        return None
    if isinstance(field, fields.Integer):
        ranges = [v for v in field.validators if getattr(v, "min", None) is not None]
        bounded = any(v.max is not None for v in ranges)
        return None if bounded else "an integer without both bounds"
    if isinstance(field, fields.List):
        return _untyped(field.inner)
    if isinstance(field, fields.Dict):
        # A free-form dict is checked by StrictSchema's walk for NUL and lone surrogates.
        parts = [f for f in (field.key_field, field.value_field) if f is not None]
        return next(filter(None, map(_untyped, parts)), None)
    if isinstance(field, fields.Nested):
        nested = field.nested if isinstance(field.nested, type) else type(field.nested)
        return None if issubclass(nested, StrictSchema) else "a nested schema that is not strict"
    return f"a plain {type(field).__name__}"


def test_every_input_schema_uses_the_core_field_types(app):
    problems = [
        f"{schema.__module__}.{schema.__name__}.{name}: {why}"
        for schema in _schemas(StrictSchema)
        for name, field in schema._declared_fields.items()
        if (why := _untyped(field))
    ]
    assert problems == []
    assert issubclass(StrictSchema, Schema)
