"""Schemas of the route-planning API: plans, their routes and stops, and edits to them."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.schemas import Day, Flag, Id, InputSchema, StrictSchema, Version
from routing.plans.edits import Reoptimisation, StopEdit, UrgentVisit
from routing.plans.start import NewPlan
from routing.plans.states import IN_USE, SearchStatus

# --- Route plans ------------------------------------------------------------------------------


class PlanCreateSchema(InputSchema):
    into = NewPlan

    day = Day(required=True, metadata={"description": "the delivery day (Seoul)"})
    carrier_ids = fields.List(
        Id(), validate=validate.Length(min=1, max=500), metadata={"description": "default: all"}
    )
    time_limit_s = fields.Integer(strict=True, validate=validate.Range(min=1, max=3600))


class PlanVersionSchema(StrictSchema):
    version = Version(required=True, metadata={"description": "as read"})


class PlanOptimiseSchema(InputSchema, PlanVersionSchema):
    into = Reoptimisation

    time_limit_s = fields.Integer(strict=True, validate=validate.Range(min=1, max=3600))


class PlanUrgentSchema(InputSchema, PlanVersionSchema):
    into = UrgentVisit

    item_id = Id(required=True, metadata={"description": "a welfare mail item at the office"})


class StopEditSchema(InputSchema, PlanVersionSchema):
    into = StopEdit

    carrier_id = Id(allow_none=True, metadata={"description": "null: take it off every route"})
    position = fields.Integer(strict=True, validate=validate.Range(min=0, max=100_000))
    locked = Flag()


class PlanQuerySchema(StrictSchema):
    day = Day()


class PlanSummarySchema(Schema):
    id = fields.Integer()
    office_id = fields.Integer()
    day = fields.Date()
    status = fields.String(metadata={"description": " | ".join(IN_USE)})
    search = fields.String(
        allow_none=True,
        metadata={
            "description": f"{' | '.join(SearchStatus)} while a search runs (a published plan "
            "keeps serving its carriers meanwhile), else null"
        },
    )
    version = fields.Integer()
    progress = fields.Integer(allow_none=True, metadata={"description": "percent, while solving"})
    error = fields.String(allow_none=True)
    time_limit_s = fields.Integer()
    stops = fields.Integer()
    unassigned = fields.Integer()
    summary = fields.Dict(
        metadata={
            "description": "the solver's figures (VROOM summary) and `working`: each carrier's "
            "working time, the longest and shortest, and their ratio `spread` (null while a "
            "carrier has no work)"
        }
    )
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    published_at = fields.DateTime(allow_none=True)


class PlanStopSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "welfare | registered"})
    registered_number = fields.String()
    road_address = fields.String()
    address_detail = fields.String(allow_none=True)
    location = fields.List(fields.Float(), metadata={"description": "[lon, lat]"})
    district_id = fields.Integer(allow_none=True)
    service_s = fields.Integer()
    windows = fields.List(fields.String(), metadata={"description": "HH:MM-HH:MM"})
    priority = fields.Integer()
    urgent = fields.Boolean()
    locked = fields.Boolean()
    done = fields.Boolean()
    position = fields.Integer(allow_none=True)
    arrival = fields.String(allow_none=True, metadata={"description": "HH:MM"})
    arrival_s = fields.Integer(allow_none=True)
    waiting_s = fields.Integer(allow_none=True)
    late = fields.Boolean()
    due = fields.String(
        allow_none=True, metadata={"description": "HH:MM an urgent visit is due by"}
    )
    late_reason = fields.String(
        allow_none=True, metadata={"description": "why an urgent visit is past its due time"}
    )
    preferred_carriers = fields.List(fields.Integer())
    unassigned_reason = fields.String(allow_none=True)


class PlanRouteSchema(Schema):
    carrier_id = fields.Integer()
    carrier_name = fields.String()
    profile = fields.String()
    shift = fields.String(metadata={"description": "HH:MM-HH:MM"})
    start = fields.String(allow_none=True)
    end = fields.String(allow_none=True)
    lunch = fields.String(allow_none=True)
    distance_m = fields.Integer()
    travel_s = fields.Integer()
    service_s = fields.Integer()
    waiting_s = fields.Integer()
    working_s = fields.Integer(
        metadata={"description": "the round from departure to return, lunch left out (s)"}
    )
    stops = fields.List(fields.Nested(PlanStopSchema))


class PlanSchema(PlanSummarySchema):
    routes = fields.List(fields.Nested(PlanRouteSchema))
    unassigned_stops = fields.List(fields.Nested(PlanStopSchema))


class ItemDaySchema(StrictSchema):
    day = Day(required=True)
