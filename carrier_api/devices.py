"""Carriers' phones: one-time enrolment codes, device tokens that rotate, revocation at once.

A dispatcher issues a short-lived, single-use code for one carrier; the app exchanges it for a
short-lived access token and a refresh token, both bound to the new device. Each refresh
returns a new pair and spends the old refresh token; presenting a spent one again means it was
copied, so the device is cut off (OAuth 2.0 Security BCP, refresh token rotation). Only hashes
of codes and tokens are stored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask import current_app

from carrier_api.models import Device, DeviceToken, EnrolmentCode
from core.auth.directory import account_by_id, principal_of_credential
from core.auth.principal import Principal
from core.auth.roles import Role
from core.auth.services import hash_token, record_permission, touch
from core.db import db, utcnow
from core.errors import ApiError, Forbidden, NotFound
from postal.services import get_carrier

if TYPE_CHECKING:
    from core.auth.directory import Account

ACCESS_PREFIX = "wpd_"  # noqa: S105 - public markers, not secrets
REFRESH_PREFIX = "wpr_"  # noqa: S105
# No 0/O, 1/I/L: a code is read off a dispatcher's screen and typed on a phone.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10  # 31^10: about 2^50, with a rate-limited, single-use, 15-minute code
MANAGERS = (Role.DISPATCHER, Role.SYSTEM_ADMIN)
# Staff whose phones get the welfare team's alerts; carriers enrol through their dispatcher.
STAFF_WITH_PHONES = (Role.SOCIAL_WORKER.value, Role.MUNICIPAL_ADMIN.value)
PHONE_ROLES = (Role.CARRIER.value, *STAFF_WITH_PHONES)


class EnrolmentFailed(ApiError):
    status = 401
    code = "enrolment_failed"
    # One message for unknown, expired and used codes: nothing to probe.
    message = (
        "등록 코드가 올바르지 않거나 만료되었습니다. 담당자에게 새 코드를 받으세요. "
        "(The enrolment code is invalid or expired; ask for a new one.)"
    )


class RefreshFailed(ApiError):
    status = 401
    code = "refresh_failed"
    message = "다시 등록해야 합니다. (The device must enrol again.)"


@dataclass(frozen=True)
class DeviceCredentials:
    """What the app keeps after enrolling or refreshing."""

    device_id: int
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


def _minutes(key: str) -> timedelta:
    return timedelta(minutes=current_app.config[key])


def normalise_code(text: str) -> str:
    """A code as typed: case, spaces and hyphens do not matter."""
    return "".join(text.split()).replace("-", "").upper()


def issue_enrolment_code(principal: Principal, carrier_id: int) -> tuple[str, EnrolmentCode]:
    """A new one-time code for the carrier's next phone (shown once, e.g. ABCDE-FGHJK)."""
    _, account = get_carrier(principal, carrier_id)
    if principal.role not in MANAGERS:
        raise Forbidden()
    return _new_code(principal, account)


def issue_staff_enrolment_code(principal: Principal, account_id: int) -> tuple[str, EnrolmentCode]:
    """A code for a social worker's or municipal admin's phone (alerts), from their admin."""
    account = account_by_id(account_id)
    if (
        account is None
        or principal.role != Role.MUNICIPAL_ADMIN
        or account.municipality_id != principal.municipality_id
        or account.role not in STAFF_WITH_PHONES
    ):
        raise NotFound()
    return _new_code(principal, account)


def _new_code(principal: Principal, account: Account) -> tuple[str, EnrolmentCode]:
    if not account.is_active:
        raise Forbidden("비활성 계정입니다. (The account is disabled.)")
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    now = utcnow()
    row = EnrolmentCode(
        account_id=account.id,
        code_hash=hash_token(code),
        created_by=principal.account_id,
        created_at=now,
        expires_at=now + _minutes("DEVICE_ENROLMENT_CODE_MINUTES"),
    )
    db.session.add(row)
    db.session.flush()
    return f"{code[:5]}-{code[5:]}", row


def enrol(code: str, label: str, platform: str | None) -> DeviceCredentials:
    """Exchange an enrolment code for a new device and its first tokens."""
    now = utcnow()
    row = db.session.scalar(
        sa.select(EnrolmentCode)
        .where(EnrolmentCode.code_hash == hash_token(normalise_code(code)))
        .with_for_update()
    )
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise EnrolmentFailed()
    account = account_by_id(row.account_id)
    if not account.is_active or account.role not in PHONE_ROLES:
        raise EnrolmentFailed()
    row.used_at = now
    device = Device(account_id=account.id, label=label, platform=platform, enrolled_at=now)
    db.session.add(device)
    db.session.flush()
    record_permission(None, account, "device_enrol", new=(account.role, f"device:{device.id}"))
    return _issue(device, now)


def _issue(device: Device, now: datetime) -> DeviceCredentials:
    access = ACCESS_PREFIX + secrets.token_urlsafe(32)
    refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
    access_expires = now + _minutes("DEVICE_ACCESS_TOKEN_MINUTES")
    refresh_expires = now + timedelta(days=current_app.config["DEVICE_REFRESH_TOKEN_DAYS"])
    for kind, token, expires in (
        ("access", access, access_expires),
        ("refresh", refresh, refresh_expires),
    ):
        db.session.add(
            DeviceToken(
                device_id=device.id,
                kind=kind,
                token_hash=hash_token(token),
                created_at=now,
                expires_at=expires,
            )
        )
    db.session.flush()
    return DeviceCredentials(device.id, access, access_expires, refresh, refresh_expires)


def refresh(token: str) -> DeviceCredentials | None:
    """Spend a refresh token for a new pair; a spent token presented again cuts the device off.

    Returns None after cutting a device off: the caller commits that, then refuses.
    """
    now = utcnow()
    row = db.session.execute(
        sa.select(DeviceToken, Device)
        .join(Device, Device.id == DeviceToken.device_id)
        .where(DeviceToken.token_hash == hash_token(token), DeviceToken.kind == "refresh")
        .with_for_update(of=DeviceToken)
    ).first()
    if row is None:
        raise RefreshFailed()
    stored, device = row
    account = account_by_id(device.account_id)
    if stored.used_at is not None:
        if device.revoked_at is None:
            _cut_off(device, None, now, "device_token_reuse")
        return None
    if (
        stored.expires_at <= now
        or device.revoked_at is not None
        or not account.is_active
        or stored.created_at < account.sessions_valid_after
    ):
        raise RefreshFailed()
    stored.used_at = now
    return _issue(device, now)


# Every request of a phone runs this: built once (composing it costs more than running it),
# and only the columns it checks (no ORM objects, no phone's FCM token decrypted).
_ACCESS_TOKEN = (
    sa.select(
        DeviceToken.expires_at,
        DeviceToken.created_at,
        Device.id.label("device_id"),
        Device.account_id,
        Device.revoked_at,
        Device.last_seen_at,
    )
    .join(Device, Device.id == DeviceToken.device_id)
    .where(DeviceToken.token_hash == sa.bindparam("hash"), DeviceToken.kind == "access")
)


def principal_from_device_token(token: str) -> Principal | None:
    """The carrier behind a device's access token, or None (unknown, expired or revoked)."""
    row = db.session.execute(_ACCESS_TOKEN, {"hash": hash_token(token)}).first()
    now = utcnow()
    if row is None or row.expires_at <= now or row.revoked_at is not None:
        return None
    principal = principal_of_credential(row.account_id, row.created_at)
    if principal is None:
        return None
    touch(Device, row.device_id, "last_seen_at", row.last_seen_at, now)
    return replace(principal, device_id=row.device_id)


def _managed_device(principal: Principal, device_id: int) -> tuple[Device, Account]:
    """A device of a carrier the principal manages (its office's dispatchers, admins), or 404."""
    device = db.session.get(Device, device_id)
    if device is None:
        raise NotFound()
    account = account_by_id(device.account_id)
    if principal.role == Role.SYSTEM_ADMIN:
        return device, account
    if principal.role == Role.DISPATCHER and account.office_id == principal.office_id:
        return device, account
    raise NotFound()


def devices_of(principal: Principal, carrier_id: int) -> list[Device]:
    """A carrier's devices, newest first (dispatchers of its office, system admins)."""
    _, account = get_carrier(principal, carrier_id)
    if principal.role not in MANAGERS:
        raise Forbidden()
    return list(
        db.session.scalars(
            sa.select(Device)
            .where(Device.account_id == account.id)
            .order_by(Device.enrolled_at.desc(), Device.id.desc())
        )
    )


def revoke(principal: Principal, device_id: int) -> Device:
    """Cut a device off at once (a lost phone): its tokens stop working on the next request."""
    device, _ = _managed_device(principal, device_id)
    if device.revoked_at is None:
        _cut_off(device, principal, utcnow(), "device_revoke")
    return device


def _cut_off(device: Device, actor: Principal | None, now: datetime, action: str) -> None:
    device.revoked_at = now
    device.revoked_by = actor.account_id if actor else None
    device.fcm_token = None
    account = account_by_id(device.account_id)
    record_permission(actor, account, action, old=(account.role, f"device:{device.id}"))
    db.session.flush()


def set_fcm_token(principal: Principal, token: str | None) -> Device:
    """Register (or clear) the FCM registration token of the calling device."""
    if principal.device_id is None:  # an account token, not an enrolled phone
        raise Forbidden()
    device = db.session.get(Device, principal.device_id)
    device.fcm_token, device.fcm_token_at = token, utcnow()
    db.session.flush()
    return device
