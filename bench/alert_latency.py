"""From a carrier's visit upload to the welfare team's phone and system (issue 6, must show).

    .venv/bin/python bench/alert_latency.py [--visits 50] [--database-url URL]

Builds a fresh database (a SQLite file by default), a published route of welfare items and a
municipality with a webhook endpoint and an on-duty social worker with a registered phone. Then
for each of --visits urgent or emergency visits: the time from posting the visit (real HTTP
through the app) until its alert is in the outbox (the same transaction, so: the upload's own
latency), and the time from the outbox to a local fake FCM server and a local webhook receiver
(the real pyfcm client and the real webhook sender, run by the outbox worker). Prints p50, p95
and max of each. Target: upload to alert in the outbox under 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.surveys import EMERGENCY  # noqa: E402

KEYS = {
    "SECRET_KEY": "alert-bench-secret",
    "ENCRYPTION_KEYS": "d2VsZmFyZS1wb3N0IGFsZXJ0IGtleTogMzIgYnl0ZXM=",
    "BLIND_INDEX_KEY": "alert-bench-blind-index",
}


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    p50, top = statistics.median(ordered), ordered[-1]
    return f"p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  max {top * 1000:7.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    from flask_migrate import upgrade

    from app import create_app
    from carrier_api.models import Device
    from core.auth.models import Account
    from core.auth.roles import Role
    from core.auth.services import issue_token
    from core.db import db, utcnow
    from core.outbox import OutboxMessage, deliver_due
    from municipalities.mail.models import WebhookEndpoint
    from tests.support.factories import (
        Tenant,
        make_account,
        make_carrier,
        make_district,
        make_due_item,
        make_municipality,
        make_office,
        publish_routes,
        square,
    )
    from tests.support.fakes.fcm import FakeFcm
    from tests.support.fakes.receiver import WebhookReceiver

    scratch = Path(tempfile.mkdtemp(prefix="alert-bench-"))
    url = args.database_url or f"sqlite:///{scratch / 'alerts.db'}"
    with FakeFcm(busy_for=0) as fcm, WebhookReceiver() as receiver:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "FCM_SERVICE_ACCOUNT_FILE": str(fcm.write_service_account(scratch)),
                "FCM_ENDPOINT": fcm.endpoint,
                "WEBHOOK_ALLOW_HTTP_LOOPBACK": True,
                **KEYS,
            },
            instance_path=str(scratch / "instance"),
        )
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            tenant = Tenant(make_municipality(), make_office(depot_lon=127.0, depot_lat=37.5))
            district = make_district(tenant.office, square(126.99, 37.49, 0.02))
            worker = make_account(Role.SOCIAL_WORKER, municipality_id=tenant.municipality.id)
            db.session.add(
                Device(account_id=worker.id, label="주무관 휴대폰", fcm_token="good-worker")  # noqa: S106
            )
            db.session.add(
                WebhookEndpoint(
                    municipality_id=tenant.municipality.id,
                    url=receiver.url,
                    secret="bench",  # noqa: S106
                )
            )
            carrier = make_carrier(tenant.office, district)
            today = utcnow().date()
            items = [
                make_due_item(tenant, (127.0, 37.5), today, district, status="out_for_delivery")
                for _ in range(args.visits)
            ]
            publish_routes(tenant.office, today, {carrier: items}, priority=60)
            numbers = [item.registered_number for item in items]
            token = issue_token(db.session.get(Account, carrier.account_id))
            db.session.commit()
        client = app.test_client()
        to_outbox, to_receivers = [], []
        for number in numbers:
            key = str(uuid.uuid4())
            record = {
                "client_uuid": key,
                "registered_number": number,
                "outcome": "absent",
                "recorded_at": utcnow().isoformat(),
                "location": [127.0, 37.5],
                "accuracy_m": 5.0,
                "survey": {"form": "wellbeing", "version": 1, "answers": EMERGENCY},
            }
            began = time.perf_counter()
            response = client.post(
                "/api/v1/carrier/visits",
                json=record,
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
            )
            assert response.status_code == 201, response.get_json()
            with app.app_context():
                queued = db.session.scalar(
                    sa.select(sa.func.count(OutboxMessage.id)).where(
                        OutboxMessage.status == "pending"
                    )
                )
            to_outbox.append(time.perf_counter() - began)
            assert queued >= 2, "the alert's push and webhook should be in the outbox"
            sent_before, received_before = len(fcm.sent), len(receiver.received)
            with app.app_context():
                deliver_due()
            delivered = time.perf_counter() - began
            assert len(fcm.sent) > sent_before and len(receiver.received) > received_before
            to_receivers.append(delivered - to_outbox[-1])
    print(f"database: {url.split(':')[0]}; {args.visits} emergency visits, one at a time")
    print(f"upload -> alert in the outbox:      {_ms(to_outbox)}")
    print(f"outbox -> fake FCM and webhook:     {_ms(to_receivers)} (one worker pass: both)")
    print(
        "target: upload to alert in the outbox under 1 s:",
        "MET" if max(to_outbox) < 1 else "NOT MET",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
