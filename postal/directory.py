"""Offices and carriers as the packages above look them up: by id, an office's districts and
carriers on duty, the carrier behind an account, and the lock that serialises an office's day."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from core.auth.directory import accounts_by_id, accounts_of_offices
from core.db import db
from postal.models import Carrier, CarrierDistrict, DeliveryOffice

if TYPE_CHECKING:
    from core.auth.directory import Account


def office_by_id(office_id: int) -> DeliveryOffice:
    """One office, for work already scoped to it (a plan, an item, a job of the office)."""
    return db.session.get(DeliveryOffice, office_id)


def lock_office(office_id: int) -> None:
    """Hold the office's row until the transaction ends: whoever plans its day waits its turn."""
    db.session.execute(
        sa.select(DeliveryOffice.id).where(DeliveryOffice.id == office_id).with_for_update()
    )


def districts_of_office(office_id: int) -> list[CarrierDistrict]:
    """The office's districts, by code (set-up scripts; pages use districts_of)."""
    return list(
        db.session.scalars(
            sa.select(CarrierDistrict)
            .where(CarrierDistrict.office_id == office_id)
            .order_by(CarrierDistrict.code)
        )
    )


def carriers_with_accounts(office_ids: list[int]) -> list[tuple[Carrier, Account]]:
    """The carriers whose accounts are bound to these offices, by employee number."""
    # An account's office is the carrier's: carriers carry no office of their own.
    accounts = {account.id: account for account in accounts_of_offices(office_ids)}
    carriers = db.session.scalars(
        sa.select(Carrier)
        .where(Carrier.account_id.in_(list(accounts)))
        .order_by(Carrier.employee_no)
    )
    return [(carrier, accounts[carrier.account_id]) for carrier in carriers]


def carriers_on_duty(office_id: int) -> list[Carrier]:
    """The office's carriers whose accounts are active, by employee number."""
    pairs = carriers_with_accounts([office_id])
    return [carrier for carrier, account in pairs if account.is_active]


def home_districts(carrier_ids: Iterable[int]) -> dict[int, int | None]:
    """Each of these carriers' home district (None: none), in the order given."""
    ids = list(carrier_ids)
    homes = dict(
        db.session.execute(
            sa.select(Carrier.id, Carrier.home_district_id).where(Carrier.id.in_(ids))
        ).all()
    )
    return {carrier_id: homes[carrier_id] for carrier_id in ids if carrier_id in homes}


def carrier_names(carrier_ids: Iterable[int]) -> dict[int, str]:
    """Each of these carriers' display name (unknown ids left out)."""
    accounts = dict(
        db.session.execute(
            sa.select(Carrier.id, Carrier.account_id).where(Carrier.id.in_(list(carrier_ids)))
        ).all()
    )
    names = accounts_by_id(accounts.values())
    return {
        carrier_id: names[account_id].display_name
        for carrier_id, account_id in accounts.items()
        if account_id in names
    }


def account_of_carrier(carrier_id: int) -> int | None:
    """The account a carrier signs in with (None: no such carrier)."""
    return db.session.scalar(sa.select(Carrier.account_id).where(Carrier.id == carrier_id))


def carrier_of_account(account_id: sa.ColumnElement[int] | int) -> sa.Select[tuple[int]]:
    """The id of the account's carrier (no row: not a carrier), as a select to build into a
    query: the carrier app's reads stay one statement each."""
    return sa.select(Carrier.id).where(Carrier.account_id == account_id)
