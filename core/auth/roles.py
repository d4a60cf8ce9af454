"""The roles and which tenant each is bound to."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    SYSTEM_ADMIN = "system_admin"
    MUNICIPAL_ADMIN = "municipal_admin"
    SOCIAL_WORKER = "social_worker"
    DISPATCHER = "dispatcher"
    CARRIER = "carrier"
    AUDITOR = "auditor"


#: Roles that belong to one municipality (the tenant of households and mail).
MUNICIPAL_ROLES = frozenset({Role.MUNICIPAL_ADMIN, Role.SOCIAL_WORKER, Role.AUDITOR})
#: Roles that belong to one delivery office.
OFFICE_ROLES = frozenset({Role.DISPATCHER, Role.CARRIER})
#: Roles of the staff API and pages; carriers use the carrier app's endpoints (carrier_api).
STAFF_ROLES = frozenset(Role) - {Role.CARRIER}

ROLE_LABELS = {
    Role.SYSTEM_ADMIN: "시스템 관리자",
    Role.MUNICIPAL_ADMIN: "지자체 관리자",
    Role.SOCIAL_WORKER: "사회복지 담당자",
    Role.DISPATCHER: "집배 관리자",
    Role.CARRIER: "집배원",
    Role.AUDITOR: "감사 (읽기 전용)",
}
