"""`flask demo load` and `flask demo day` in any order, as often as asked: numbers never clash."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from core.clock import seoul_today
from core.db import db
from demo.world import OFFICE_CODE
from municipalities.mail.registered_numbers import is_valid
from municipalities.mail.services import next_working_day
from postal.models import DeliveryOffice
from routing.models import OfficeItem


def numbers_of(day: date) -> list[str]:
    """The demo office's registered numbers of `day`."""
    return list(
        db.session.scalars(
            sa.select(OfficeItem.registered_number)
            .join(DeliveryOffice, DeliveryOffice.id == OfficeItem.office_id)
            .where(DeliveryOffice.code == OFFICE_CODE, OfficeItem.day == day)
        )
    )


def test_demo_day_adds_to_a_day_that_has_items_with_numbers_of_its_own(runner):
    loaded = runner.invoke(args=["demo", "load", "--households", "20"])
    assert loaded.exit_code == 0, loaded.output
    default_day = next_working_day(seoul_today() + timedelta(days=1))
    assert len(numbers_of(default_day)) == 300

    # `demo day` defaults to the day `demo load` filled; then once more.
    for expected in (600, 900):
        added = runner.invoke(args=["demo", "day"])
        assert added.exit_code == 0, added.output
        assert f"300 registered items for {default_day.isoformat()}" in added.output
        numbers = numbers_of(default_day)
        assert len(numbers) == len(set(numbers)) == expected
        assert all(is_valid(number) and number.startswith("6") for number in numbers)

    # A given day, twice: the second batch brings other numbers and other people.
    for expected in (7, 14):
        added = runner.invoke(args=["demo", "day", "--day", "2031-03-04", "--items", "7"])
        assert added.exit_code == 0, added.output
        numbers = numbers_of(date(2031, 3, 4))
        assert len(set(numbers)) == expected
    addressees = db.session.scalars(
        sa.select(OfficeItem.road_address).where(OfficeItem.day == date(2031, 3, 4))
    ).all()
    assert len(set(addressees)) > 7
