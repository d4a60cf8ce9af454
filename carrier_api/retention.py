"""What retention erases of the carrier app's records about a household (the visits stay)."""

from __future__ import annotations

import sqlalchemy as sa

from carrier_api.models import Visit
from core.db import db


def erase_visit_details(household_ids: list[int]) -> None:
    """Erase the households' visits' free text, relation and signature (caller's transaction)."""
    db.session.execute(
        sa.update(Visit)
        .where(Visit.household_id.in_(household_ids))
        .values(other_text=None, signature=None, signature_type=None, relation=None)
    )
