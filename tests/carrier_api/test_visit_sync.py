"""Offline sync under load: 10,000 visits sent three times each, shuffled, in parallel.

Runs against its own freshly migrated database (a SQLite file, or a PostgreSQL database made
for it), because parallel requests commit for real.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
import sqlalchemy as sa

from carrier_api.models import Visit
from core.auth.models import Account
from core.auth.services import issue_token
from core.db import db, utcnow
from municipalities.mail.registered_numbers import make_number
from routing.models import OfficeItem
from tests.support.factories import (
    auth,
    make_carrier,
    make_municipality,
    make_office,
    publish_routes,
)

RECORDS, COPIES, BATCH, THREADS = 10_000, 3, 100, 6
DAY = date(2031, 3, 4)


def _route_of_records(n: int) -> tuple[str, list[str]]:
    """A carrier with n registered items on a published route; its token and the numbers."""
    make_municipality()
    office = make_office()
    carrier = make_carrier(office)
    numbers = [make_number(2031, serial, "6") for serial in range(1, n + 1)]
    items = [
        OfficeItem(
            office_id=office.id,
            day=DAY,
            registered_number=number,
            addressee="수취인",
            road_address="서울특별시 시험구 우정로 1",
            lon=127.0,
            lat=37.5,
        )
        for number in numbers
    ]
    db.session.add_all(items)
    db.session.flush()
    publish_routes(office, DAY, {carrier: items}, service_s=60, priority=30)
    token = issue_token(db.session.get(Account, carrier.account_id))
    db.session.commit()
    return token, numbers


@pytest.mark.slow
@pytest.mark.no_db_rollback
def test_ten_thousand_visits_sent_three_times_in_parallel_are_stored_once(fresh_app):
    sync_app, _ = fresh_app
    with sync_app.app_context():
        token, numbers = _route_of_records(RECORDS)
    now = utcnow().isoformat()
    records = [
        {
            "client_uuid": str(uuid.uuid4()),
            "registered_number": number,
            "outcome": "delivered",
            "recorded_at": now,
            "location": [127.0, 37.5],
            "accuracy_m": 8.0,
        }
        for number in numbers
    ]
    copies = [record for record in records for _ in range(COPIES)]
    random.Random(2026).shuffle(copies)
    batches = [copies[i : i + BATCH] for i in range(0, len(copies), BATCH)]
    client = sync_app.test_client()
    headers = auth(token)

    def upload(batch: list[dict]) -> tuple[list[dict], list[dict]]:
        """The batch's results, and the records to send again (busy server, record in flight)."""
        response = client.post(
            "/api/v1/carrier/visits/batch", json={"records": batch}, headers=headers
        )
        if response.status_code == 503:  # SQLite's write lock stayed taken: the phone retries
            return [], batch
        assert response.status_code == 200, response.get_json()
        results = response.get_json()["results"]
        again = [by_key[r["client_uuid"]] for r in results if r["status"] == 409]
        return [r for r in results if r["status"] != 409], again

    by_key = {record["client_uuid"]: record for record in records}
    answers: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    pending, rounds = batches, 0
    while pending and rounds < 20:
        rounds += 1
        with ThreadPoolExecutor(THREADS) as pool:
            outcomes = list(pool.map(upload, pending))
        for results, _ in outcomes:
            for result in results:
                answers[result["client_uuid"]].append((result["status"], result["body"]))
        retry = [record for _, again in outcomes for record in again]
        pending = [retry[i : i + BATCH] for i in range(0, len(retry), BATCH)]
    assert not pending, f"{sum(map(len, pending))} records still refused after {rounds} rounds"
    assert len(answers) == RECORDS
    for key, got in answers.items():
        assert len(got) == COPIES, key
        assert sorted(status for status, _ in got) == [200] * (COPIES - 1) + [201], key
        assert all(body == got[0][1] for _, body in got), key  # replays answer identically
    with sync_app.app_context():
        stored = db.session.scalar(sa.select(sa.func.count(Visit.id)))
        distinct = db.session.scalar(sa.select(sa.func.count(sa.distinct(Visit.client_uuid))))
        delivered = db.session.scalar(
            sa.select(sa.func.count(OfficeItem.id)).where(OfficeItem.status == "delivered")
        )
    assert stored == distinct == delivered == RECORDS
