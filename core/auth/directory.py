"""Accounts as the domain packages look them up: by id, a tenant's staff, a credential's owner."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from core.auth.models import Account
from core.auth.principal import Principal
from core.auth.roles import Role
from core.auth.services import principal_for
from core.db import db


def account_by_id(account_id: int) -> Account | None:
    """One account, or None."""
    return db.session.get(Account, account_id)


def accounts_by_id(account_ids: Iterable[int]) -> dict[int, Account]:
    """The accounts with these ids (unknown ids left out), in one query."""
    ids = set(account_ids)
    if not ids:
        return {}
    return {a.id: a for a in db.session.scalars(sa.select(Account).where(Account.id.in_(ids)))}


def active_staff(municipality_id: int, roles: Iterable[Role]) -> list[Account]:
    """The municipality's active accounts in one of the roles, by name."""
    return list(
        db.session.scalars(
            sa.select(Account)
            .where(
                Account.municipality_id == municipality_id,
                Account.role.in_([role.value for role in roles]),
                Account.is_active.is_(True),
            )
            .order_by(Account.display_name, Account.id)
        )
    )


def accounts_of_offices(office_ids: Iterable[int]) -> list[Account]:
    """The accounts bound to these delivery offices (any role, active or not)."""
    return list(
        db.session.scalars(sa.select(Account).where(Account.office_id.in_(list(office_ids))))
    )


# A carrier's phone asks this on every request: built once, and only the columns it checks.
_CREDENTIAL_OWNER = sa.select(
    Account.id,
    Account.username,
    Account.role,
    Account.municipality_id,
    Account.office_id,
    Account.is_active,
    Account.sessions_valid_after,
).where(Account.id == sa.bindparam("account_id"))


def principal_of_credential(account_id: int, issued_at: datetime) -> Principal | None:
    """The principal behind a credential issued at `issued_at`, or None: its account is gone,
    disabled, or was signed out everywhere since."""
    row = db.session.execute(_CREDENTIAL_OWNER, {"account_id": account_id}).first()
    if row is None or not row.is_active or issued_at < row.sessions_valid_after:
        return None
    return principal_for(row)


def locked_out(municipality_id: int, start: datetime, end: datetime) -> list[tuple[int, datetime]]:
    """Accounts of the municipality locked in [start, end), with when the lock began.

    Only an account's latest lockout is kept (accounts.locked_until), so an earlier one in the
    same period is not seen.
    """
    lockout = timedelta(minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"])
    rows = db.session.execute(
        sa.select(Account.id, Account.locked_until).where(
            Account.municipality_id == municipality_id,
            Account.locked_until >= start + lockout,
            Account.locked_until < end + lockout,
        )
    )
    return [(account_id, until - lockout) for account_id, until in rows]
