"""Handing a published plan to its carriers: who has which item, and telling them by push."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from core.db import db
from core.outbox import ALERTS, NOTICES
from core.push import enqueue_push
from municipalities.mail.stops import send_out
from postal.directory import account_of_carrier, office_by_id
from routing.models import RouteHandout, RoutePlan
from routing.plans.stops import mail_item_ids, plan_stops, route_orders


def hand_out(plan: RoutePlan, actor_id: int | None) -> None:
    """Record which carrier has which item in this published version (theirs to visit); mail
    newly on a route goes out for delivery."""
    known = {
        (stop_id, carrier_id)
        for stop_id, carrier_id in db.session.execute(
            sa.select(RouteHandout.stop_id, RouteHandout.carrier_id).where(
                RouteHandout.plan_id == plan.id
            )
        )
    }
    stops = [s for s in plan_stops(plan.id) if s.carrier_id is not None]
    send_out(mail_item_ids(stops), actor_id, office_by_id(plan.office_id).name)
    for stop in stops:
        if (stop.id, stop.carrier_id) not in known:
            db.session.add(
                RouteHandout(
                    plan_id=plan.id,
                    stop_id=stop.id,
                    carrier_id=stop.carrier_id,
                    mail_item_id=stop.mail_item_id,
                    office_item_id=stop.office_item_id,
                    version=plan.version,
                )
            )


def notify_changes(plan: RoutePlan, before: dict[int, list[int]], *, urgent: bool) -> None:
    """Push route_changed to each carrier of a published plan whose route changed."""
    after = route_orders(plan.id)
    for carrier_id, order in after.items():
        if order != before.get(carrier_id):
            push_to_carrier(plan, carrier_id, "route_changed", urgent=urgent)


def push_to_carrier(plan: RoutePlan, carrier_id: int, event: str, **data: Any) -> None:
    """Queue a push about the plan to the carrier's phones."""
    account_id = account_of_carrier(carrier_id)
    data = {"plan_id": plan.id, "day": plan.day.isoformat(), **data}
    # An urgent visit sends a carrier to an emergency: that push goes with the alerts.
    enqueue_push(account_id, event, data, queue=ALERTS if data.get("urgent") else NOTICES)
