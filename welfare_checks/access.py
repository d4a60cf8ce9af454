"""Who in a municipality may read and work the welfare team's records, and its staff lists."""

from __future__ import annotations

import sqlalchemy as sa

from core.auth.models import Account
from core.auth.principal import Principal
from core.auth.roles import Role
from core.db import db
from municipalities.services import READERS, WRITERS

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
    """The ids of the municipality's active accounts in a role."""
    return list(
        db.session.scalars(
            sa.select(Account.id).where(
                Account.municipality_id == municipality_id,
                Account.role == role.value,
                Account.is_active.is_(True),
            )
        )
    )


def colleagues(principal: Principal) -> list[Account]:
    """The active accounts of the principal's municipality that may own its cases, by name."""
    if not reads_here(principal):
        return []
    return list(
        db.session.scalars(
            sa.select(Account)
            .where(
                Account.municipality_id == principal.municipality_id,
                Account.role.in_([role.value for role in WRITERS]),
                Account.is_active.is_(True),
            )
            .order_by(Account.display_name, Account.id)
        )
    )


def account_names(account_ids: set[int]) -> dict[int, str]:
    """Display names by account id (for a case's history: owners and actors)."""
    rows = db.session.execute(
        sa.select(Account.id, Account.display_name).where(Account.id.in_(account_ids))
    )
    return {account_id: name for account_id, name in rows}
