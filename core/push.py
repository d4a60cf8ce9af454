"""Push notifications, queued in the outbox: a push names an account and an event.

The worker sends it to the account's phones (carrier_api.push registers the handler).
"""

from __future__ import annotations

from typing import Any

from core.outbox import enqueue

KIND = "push"


def enqueue_push(account_id: int, event: str, data: dict[str, Any]) -> None:
    """Queue a push of `event` with `data` to the account's devices (sent after commit)."""
    enqueue(KIND, {"account_id": account_id, "event": event, "data": data}, target_id=account_id)
