"""Who in a municipality may read and work the welfare team's records, and its staff lists."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from core.auth.directory import accounts_by_id, active_staff
from core.auth.principal import Principal
from core.auth.roles import Role
from municipalities.services import READERS, WRITERS

if TYPE_CHECKING:
    from core.auth.directory import Account

__all__ = [
    "READERS",
    "WRITERS",
    "account_names",
    "active_accounts",
    "colleagues",
    "in_own_municipality",
    "reads_here",
]


def reads_here(principal: Principal) -> bool:
    """Whether the principal reads its municipality's welfare records."""
    return principal.role in READERS and principal.municipality_id is not None


def in_own_municipality(principal: Principal, column: sa.ColumnElement) -> sa.ColumnElement:
    """The tenant filter on `column` (a municipality id): nothing for anyone else."""
    return column == principal.municipality_id if reads_here(principal) else sa.false()


def active_accounts(municipality_id: int, role: Role) -> list[int]:
    """The ids of the municipality's active accounts in a role, in order."""
    return sorted(account.id for account in active_staff(municipality_id, [role]))


def colleagues(principal: Principal) -> list[Account]:
    """The active accounts of the principal's municipality that may own its cases, by name."""
    if not reads_here(principal):
        return []
    return active_staff(principal.municipality_id, WRITERS)


def account_names(account_ids: set[int]) -> dict[int, str]:
    """Display names by account id (for a case's history: owners and actors)."""
    return {account_id: a.display_name for account_id, a in accounts_by_id(account_ids).items()}
