"""Erasing closed households' personal data when their retention ends.

Name, phone, note, address and position are overwritten; the rows stay, so the counts and
statistics that refer to them stay correct.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from core.db import db
from municipalities.models import Household

PURGED = "(파기됨)"
# The name is ciphertext in SQL: the plain dedup key is what marks an erased household.
_ERASED = "purged-"


def closed_households(closed_by: datetime) -> list[int]:
    """The households closed at or before `closed_by` whose data is not erased yet, by id."""
    return list(
        db.session.scalars(
            sa.select(Household.id)
            .where(
                Household.status == "closed",
                Household.closed_at <= closed_by,
                ~Household.dedup_key.startswith(_ERASED),
            )
            .order_by(Household.id)
        )
    )


def erase_households(household_ids: list[int]) -> None:
    """Overwrite the households' personal data (in the caller's transaction)."""
    for household in db.session.scalars(
        sa.select(Household).where(Household.id.in_(household_ids))
    ):
        household.name = PURGED
        household.name_index = household.dedup_key = f"{_ERASED}{household.id}"
        household.phone = household.note = household.address_detail = household.postal_code = None
        household.road_address = PURGED
        household.lon = household.lat = None
        household.preferred_hours = []
        household.risk_sources = []
