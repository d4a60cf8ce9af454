"""Push notifications to staff and carriers' devices, queued in the outbox.

A push names an account and an event; the worker sends it to that account's devices. Device
registration and the FCM transport arrive with the carrier app's backend (issue 5); until an
account has a registered device its pushes are delivered to no one and logged as such.
"""

from __future__ import annotations

import logging
from typing import Any

from core.outbox import Message, enqueue

log = logging.getLogger(__name__)

KIND = "push"


def enqueue_push(account_id: int, event: str, data: dict[str, Any]) -> None:
    """Queue a push of `event` with `data` to the account's devices (sent after commit)."""
    enqueue(KIND, {"account_id": account_id, "event": event, "data": data}, target_id=account_id)


def deliver(message: Message) -> None:
    """Outbox handler: send the push to the account's registered devices."""
    log.info(
        "push %s for account %s: no registered device",
        message.payload["event"],
        message.payload["account_id"],
    )
