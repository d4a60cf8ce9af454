"""Webhooks to a municipality's own systems: registration, signing, delivery from the outbox."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import time
from urllib.parse import urlsplit

import sqlalchemy as sa
import urllib3
from flask import current_app

from core import outbound
from core.auth.principal import Principal
from core.auth.roles import Role
from core.db import db, transaction, utcnow
from core.errors import Forbidden, Invalid, NotFound
from core.outbox import ALERTS, DeliveryFailed, Message, enqueue
from municipalities.mail.models import WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

KIND = "webhook"
SIGNATURE_HEADER = "X-Welfare-Signature"
EVENT_HEADER = "X-Welfare-Event-Id"
TIMEOUT_S = 10
#: Receivers should refuse signatures older than this (replay protection).
SIGNATURE_TOLERANCE_S = 300
_PERMANENT = {400, 401, 403, 404, 405, 410, 413, 422}
#: What the delivery log says for every failure short of an HTTP status: a refused address,
#: no DNS answer, a refused or timed-out connection and a TLS failure look alike, so the log
#: cannot tell open ports from closed ones on any network.
CONNECTION_FAILED = "연결 실패 (connection failed)"
_HTTPS_ONLY = "HTTPS 주소여야 합니다. (Must be an HTTPS URL.)"
_NOT_PUBLIC = (
    "내부망·사설·예약 주소로는 보낼 수 없습니다. "
    "(Internal, private and reserved addresses are not allowed.)"
)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(secret: str, header: str, body: bytes, now: float | None = None) -> bool:
    """What a receiver does: recompute the HMAC and check the timestamp is fresh."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > SIGNATURE_TOLERANCE_S:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _loopback_allowed() -> bool:
    # Test-only: the tests' fake receivers listen on 127.0.0.1. core.config refuses to start in
    # production with the setting on; checked here too so that no later override can enable it.
    config = current_app.config
    return bool(config["WEBHOOK_ALLOW_HTTP_LOOPBACK"]) and config["ENV"] != "production"


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    try:
        target = outbound.Target.parse(url)
    except ValueError:
        target = None
    problem = None
    if parts.username or parts.password:
        problem = "주소에 계정 정보를 넣을 수 없습니다. (No credentials in the URL.)"
    elif target is None or not (target.scheme == "https" or _plain_http_allowed(target.host)):
        problem = _HTTPS_ONLY
    else:
        try:
            outbound.checked_addresses(target, allow_loopback=_loopback_allowed())
        except outbound.ForbiddenTarget:
            problem = _NOT_PUBLIC
        except outbound.Unresolved:
            pass  # no address yet: every delivery resolves and checks again
    if problem:
        raise Invalid(fields={"url": [problem]})


def _plain_http_allowed(host: str) -> bool:
    try:
        return _loopback_allowed() and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _require_admin(principal: Principal) -> None:
    if principal.role != Role.MUNICIPAL_ADMIN:
        raise Forbidden()


def endpoints_visible_to(principal: Principal) -> sa.Select:
    """The webhook endpoints of the principal's municipality (admins and auditors)."""
    query = sa.select(WebhookEndpoint).order_by(WebhookEndpoint.id)
    if principal.role in (Role.MUNICIPAL_ADMIN, Role.AUDITOR):
        return query.where(WebhookEndpoint.municipality_id == principal.municipality_id)
    return query.where(sa.false())


def get_endpoint(principal: Principal, endpoint_id: int) -> WebhookEndpoint:
    """One endpoint of the principal's municipality, or 404."""
    endpoint = db.session.scalar(
        endpoints_visible_to(principal).where(WebhookEndpoint.id == endpoint_id)
    )
    if endpoint is None:
        raise NotFound()
    return endpoint


def register_endpoint(principal: Principal, url: str, secret: str) -> WebhookEndpoint:
    """Register an HTTPS endpoint and its signing secret (stored encrypted)."""
    _require_admin(principal)
    _check_url(url)
    endpoint = WebhookEndpoint(
        municipality_id=principal.municipality_id,
        url=url,
        secret=secret,
        created_by=principal.account_id,
    )
    db.session.add(endpoint)
    db.session.flush()
    return endpoint


def set_endpoint_active(principal: Principal, endpoint_id: int, active: bool) -> WebhookEndpoint:
    """Pause or resume deliveries to an endpoint."""
    endpoint = get_endpoint(principal, endpoint_id)
    _require_admin(principal)
    endpoint.is_active = active
    db.session.flush()
    return endpoint


def deliveries_of(principal: Principal, endpoint_id: int) -> sa.Select:
    """The delivery log of one endpoint, newest first."""
    endpoint = get_endpoint(principal, endpoint_id)
    return (
        sa.select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.id.desc())
    )


# Run for every tracking event: built once.
_ACTIVE_ENDPOINTS = sa.select(WebhookEndpoint.id).where(
    WebhookEndpoint.municipality_id == sa.bindparam("municipality_id"), WebhookEndpoint.is_active
)


def notify(municipality_id: int, event_type: str, data: dict, *, queue: str = ALERTS) -> int:
    """Queue an event for every active endpoint of the municipality (sent after commit)."""
    endpoints = db.session.scalars(_ACTIVE_ENDPOINTS, {"municipality_id": municipality_id}).all()
    for endpoint_id in endpoints:
        enqueue(
            KIND,
            {"type": event_type, "created": utcnow().isoformat(), "data": data},
            target_id=endpoint_id,
            queue=queue,
        )
    return len(endpoints)


def deliver(message: Message) -> None:
    """POST one event, signed; log the attempt; raise DeliveryFailed to retry."""
    with transaction():
        endpoint = db.session.get(WebhookEndpoint, message.target_id)
        url, secret, active = endpoint.url, endpoint.secret, endpoint.is_active
    if not active:
        raise DeliveryFailed("endpoint paused", permanent=True)
    event_id = f"evt_{message.id}"
    body = json.dumps({"id": event_id, **message.payload}, ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        EVENT_HEADER: event_id,
        SIGNATURE_HEADER: sign(secret, body, int(time.time())),
        "User-Agent": "welfare-post-webhooks",
    }
    started = time.monotonic()
    status, error, retry_after = None, None, None
    try:
        response = outbound.post(url, body, headers, TIMEOUT_S, _loopback_allowed())
        status = response.status
        if not 200 <= status < 300:
            error = f"HTTP {status}"
            retry_after = _retry_after(response.headers.get("Retry-After"))
    except (outbound.Unreachable, ValueError, urllib3.exceptions.HTTPError, OSError) as exc:
        # The reason is for the operators' log only (see CONNECTION_FAILED).
        log.warning("Webhook endpoint %s: %s", message.target_id, type(exc).__name__)
        error = CONNECTION_FAILED
    duration_ms = int((time.monotonic() - started) * 1000)
    with transaction():
        db.session.add(
            WebhookDelivery(
                endpoint_id=message.target_id,
                message_id=message.id,
                event_id=event_id,
                attempt=message.attempt,
                status_code=status,
                error=error,
                duration_ms=duration_ms,
            )
        )
    if error:
        raise DeliveryFailed(error, retry_after_s=retry_after, permanent=status in _PERMANENT)


def _retry_after(value: str | None) -> float | None:
    try:
        return min(float(value), 3600.0) if value else None
    except ValueError:
        return None
