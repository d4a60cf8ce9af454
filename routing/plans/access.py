"""Who may see and change which plan: a dispatcher, the plans of their own office."""

from __future__ import annotations

import sqlalchemy as sa

from core.auth.principal import Principal
from core.auth.roles import Role
from core.db import db
from core.errors import Conflict, NotFound
from routing.models import RoutePlan
from routing.plans.states import BUSY, EDITABLE


class StalePlan(Conflict):
    code = "stale_plan"
    message = "계획이 그사이 바뀌었습니다. 새로 불러오세요. (The plan changed; reload it.)"


class PlanBusy(Conflict):
    code = "plan_busy"
    message = "계획을 계산하는 중입니다. (The plan is being solved.)"


def plans_visible_to(principal: Principal) -> sa.Select:
    """Dispatchers see their office's plans; others none (carriers read /carrier/route)."""
    query = sa.select(RoutePlan).order_by(RoutePlan.day.desc(), RoutePlan.id.desc())
    if principal.role == Role.DISPATCHER:
        return query.where(RoutePlan.office_id == principal.office_id)
    return query.where(sa.false())


def get_plan(principal: Principal, plan_id: int, *, for_update: bool = False) -> RoutePlan:
    """One visible plan, or 404; dispatchers only when for_update."""
    if for_update and principal.role != Role.DISPATCHER:
        raise NotFound()
    plan = db.session.scalar(plans_visible_to(principal).where(RoutePlan.id == plan_id))
    if plan is None:
        raise NotFound()
    return plan


def editable_plan(principal: Principal, plan_id: int, version: int) -> RoutePlan:
    """The plan to change, if no search runs on it and it is still at the version read."""
    plan = get_plan(principal, plan_id, for_update=True)
    if plan.status in BUSY or plan.job_status is not None:
        raise PlanBusy()
    if plan.status not in EDITABLE:
        raise Conflict(
            f"{plan.status} 상태의 계획은 바꿀 수 없습니다. (A {plan.status} plan is final.)"
        )
    if plan.version != version:
        raise StalePlan()
    return plan
