"""Pushes to carriers' phones through FCM (pyfcm), sent by the outbox worker after commit.

Every enrolled, unrevoked device of the account with a registration token gets the push. A
token FCM calls unregistered or invalid is removed. Retries are the outbox's (bounded, with
backoff); FCM's Retry-After becomes the wait before the next attempt instead of a sleep, so
other messages are not held up. A retried message skips the devices it already reached.
"""

from __future__ import annotations

import logging
import threading
from functools import cache

import requests
import sqlalchemy as sa
from flask import current_app
from pyfcm import FCMNotification
from pyfcm.errors import (
    AuthenticationError,
    FCMError,
    FCMNotRegisteredError,
    FCMSenderIdMismatchError,
    InvalidDataError,
)
from requests.adapters import HTTPAdapter

from carrier_api.models import Device, PushDelivery
from core.db import db, transaction
from core.outbox import DeliveryFailed, Message

log = logging.getLogger(__name__)

TITLES = {
    "route_published": ("오늘의 배달 경로가 나왔습니다", "Today's route is ready"),
    "route_changed": ("배달 경로가 바뀌었습니다", "Your route has changed"),
}
URGENT_TITLE = ("긴급 방문이 경로에 들어왔습니다", "An urgent visit was added to your route")


class _RetryLater(Exception):
    def __init__(self, seconds: int) -> None:
        super().__init__(seconds)
        self.seconds = seconds


class _Client(FCMNotification):
    """pyfcm's client at the configured endpoint; Retry-After is raised, never slept on."""

    def __init__(self, endpoint: str, **kwargs) -> None:
        # No transport-level retries: the outbox decides when to try again.
        super().__init__(adapter=HTTPAdapter(max_retries=0), **kwargs)
        self.FCM_END_POINT_BASE = endpoint.rstrip("/")
        self._credentials_lock = threading.Lock()

    def request_headers(self) -> dict:
        """The bearer token's headers, one thread at a time: pyfcm sets up and refreshes the
        client's one set of credentials without a lock, and a worker's threads share it."""
        with self._credentials_lock:
            return super().request_headers()

    def send_request(self, payload=None, timeout=None):
        """Post once; refresh an expired access token once; hand Retry-After to the caller."""
        response = self.requests_session.post(self.fcm_end_point, data=payload, timeout=timeout)
        if self._is_access_token_expired(response):
            self.thread_local.token_expiry = 0
            response = self.requests_session.post(self.fcm_end_point, data=payload, timeout=timeout)
        retry_after = response.headers.get("Retry-After", "")
        if response.status_code in (429, 503) or (retry_after.isdigit() and int(retry_after)):
            raise _RetryLater(int(retry_after) if retry_after.isdigit() else 0)
        return response


@cache
def _client(service_account_file: str, project_id: str | None, endpoint: str) -> _Client:
    return _Client(endpoint, service_account_file=service_account_file, project_id=project_id)


def _configured_client() -> _Client:
    config = current_app.config
    if not config["FCM_SERVICE_ACCOUNT_FILE"]:
        raise DeliveryFailed("FCM is not configured (FCM_SERVICE_ACCOUNT_FILE)", permanent=True)
    return _client(
        config["FCM_SERVICE_ACCOUNT_FILE"], config["FCM_PROJECT_ID"], config["FCM_ENDPOINT"]
    )


def _targets(message: Message) -> list[tuple[int, str]]:
    done = sa.select(PushDelivery.device_id).where(PushDelivery.message_id == message.id)
    with transaction():
        rows = db.session.execute(
            sa.select(Device.id, Device.fcm_token).where(
                Device.account_id == message.payload["account_id"],
                Device.revoked_at.is_(None),
                Device.fcm_token.is_not(None),
                Device.id.not_in(done),
            )
        )
        return [(device_id, token) for device_id, token in rows]


def deliver(message: Message) -> None:
    """Outbox handler for core.push messages: send to each of the account's phones."""
    targets = _targets(message)
    if not targets:
        return  # no phone registered for pushes: nothing to send
    client = _configured_client()
    event, data = message.payload["event"], message.payload["data"]
    title = URGENT_TITLE if data.get("urgent") else TITLES.get(event, (event, event))
    payload = {"event": event, "message_id": str(message.id)}
    payload.update({key: str(value) for key, value in data.items()})
    sent, stale, retry_after, failures = [], [], None, []
    timeout = current_app.config["FCM_TIMEOUT_S"]
    for device_id, token in targets:
        try:
            client.notify(
                fcm_token=token,
                notification_title=title[0],
                notification_body=title[1],
                data_payload=payload,
                timeout=timeout,
            )
            sent.append(device_id)
        except _RetryLater as later:
            retry_after = max(retry_after or 0, later.seconds)
        except (FCMNotRegisteredError, FCMSenderIdMismatchError):
            stale.append(device_id)
        except InvalidDataError as error:
            if "registration token" in str(error).lower():
                stale.append(device_id)
            else:
                failures.append(f"device {device_id}: invalid request")
        except (AuthenticationError, FCMError, requests.RequestException) as error:
            failures.append(f"device {device_id}: {type(error).__name__}")
    _record(message.id, sent, stale)
    if retry_after is not None or failures:
        reason = "; ".join(failures) or f"FCM asked to retry after {retry_after} s"
        raise DeliveryFailed(reason, retry_after_s=retry_after)


def _record(message_id: int, sent: list[int], stale: list[int]) -> None:
    with transaction():
        for device_id in sent:
            db.session.add(PushDelivery(message_id=message_id, device_id=device_id))
        if stale:
            log.info("push: removing %d invalid registration token(s)", len(stale))
            db.session.execute(sa.update(Device).where(Device.id.in_(stale)).values(fcm_token=None))
