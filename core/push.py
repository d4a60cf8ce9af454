"""Push notifications, queued in the outbox: a push names an account and an event.

The worker sends it to the account's phones (carrier_api.push registers the handler). Nothing
is queued while FCM is not configured (no WELFARE_FCM_SERVICE_ACCOUNT_FILE, as in the demo):
a push that cannot be sent would only pile up as a dead message. The worker says so once when
it starts (`state_push_off`); alerts still reach the staff pages, e-mail and webhooks.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app

from core.outbox import ALERTS, enqueue

log = logging.getLogger(__name__)

KIND = "push"
SETTING = "WELFARE_FCM_SERVICE_ACCOUNT_FILE"
PUSH_OFF = (
    f"푸시 꺼짐: 설정하려면 {SETTING}에 FCM 서비스 계정 파일을 지정하세요 "
    f"(push is off: set {SETTING} to an FCM service account file; "
    "alerts still reach the staff pages, e-mail and webhooks)"
)


def push_enabled() -> bool:
    """Whether pushes can be sent (an FCM service account is configured)."""
    return bool(current_app.config["FCM_SERVICE_ACCOUNT_FILE"])


def enqueue_push(account_id: int, event: str, data: dict[str, Any], *, queue: str = ALERTS) -> None:
    """Queue a push of `event` with `data` to the account's devices (sent after commit, if on)."""
    if push_enabled():
        payload = {"account_id": account_id, "event": event, "data": data}
        enqueue(KIND, payload, account_id, queue=queue)


def state_push_off(app: Flask) -> bool:
    """Say once per app, when a worker starts, that pushes are off; whether they are."""
    off = not app.config["FCM_SERVICE_ACCOUNT_FILE"]
    if off and not app.extensions.get("push_off_stated"):
        app.extensions["push_off_stated"] = True
        log.warning(PUSH_OFF)
    return off
