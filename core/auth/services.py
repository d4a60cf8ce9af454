"""Account services: sign-in with lockout, tokens, sessions, and role changes with their record."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from core.audit import client_ip, record_access
from core.auth.models import Account, ApiToken, PermissionEvent, StaffSession
from core.auth.passwords import hash_password, needs_rehash, password_problems, verify_password
from core.auth.principal import Principal
from core.auth.roles import MUNICIPAL_ROLES, OFFICE_ROLES, Role
from core.auth.tenants import tenant_exists
from core.db import db, utcnow
from core.errors import ApiError, Conflict, Forbidden, Invalid, NotFound
from core.inputs import UNSET, Unset

TOKEN_PREFIX = "wpt_"  # noqa: S105 - a public marker, not a secret
# A credential's last use is written at most this often: reads should not write on every call.
TOUCH_EVERY = timedelta(minutes=1)


class LoginFailed(ApiError):
    status = 401
    code = "login_failed"
    # One message for unknown user, wrong password, locked and disabled: nothing to enumerate.
    message = (
        "아이디 또는 비밀번호가 올바르지 않거나 계정이 잠겨 있습니다. "
        "(Wrong username or password, or the account is locked.)"
    )


class WeakPassword(Invalid):
    code = "weak_password"


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a sign-in attempt; the caller commits before acting on it."""

    account: Account | None

    @property
    def ok(self) -> bool:
        return self.account is not None


def principal_for(account: Account | sa.Row) -> Principal:
    """The principal an account (or a row of its columns) acts as."""
    return Principal(
        account_id=account.id,
        username=account.username,
        role=Role(account.role),
        municipality_id=account.municipality_id,
        office_id=account.office_id,
    )


def attempt_login(username: str, password: str) -> LoginResult:
    """Check a password, counting failures and locking the account after too many."""
    config = current_app.config
    account = db.session.scalar(
        sa.select(Account).where(Account.username == username.strip().casefold())
    )
    now = utcnow()
    valid = verify_password(account.password_hash if account else None, password)
    if account is None:
        return LoginResult(None)
    if not account.is_active or (account.locked_until and account.locked_until > now):
        return LoginResult(None)
    if not valid:
        account.failed_logins += 1
        if account.failed_logins >= config["LOGIN_MAX_FAILURES"]:
            account.locked_until = now + timedelta(minutes=config["LOGIN_LOCKOUT_MINUTES"])
            account.failed_logins = 0
        db.session.flush()
        return LoginResult(None)
    account.failed_logins = 0
    account.locked_until = None
    account.last_login_at = now
    if needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    db.session.flush()
    return LoginResult(account)


def hash_token(token: str) -> str:
    """The stored form of a bearer token (SHA-256: tokens are long random strings)."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def issue_token(account: Account) -> str:
    """Create a bearer token for the account; only its hash is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    lifetime = timedelta(hours=current_app.config["API_TOKEN_LIFETIME_HOURS"])
    db.session.add(
        ApiToken(
            account_id=account.id,
            token_hash=hash_token(token),
            created_at=now,
            last_used_at=now,
            expires_at=now + lifetime,
        )
    )
    db.session.flush()
    return token


def principal_from_token(token: str) -> Principal | None:
    """The principal a bearer token stands for, or None if it is unknown, revoked or stale."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = db.session.execute(
        sa.select(ApiToken, Account)
        .join(Account, Account.id == ApiToken.account_id)
        .where(ApiToken.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    api_token, account = row
    now = utcnow()
    idle = timedelta(minutes=current_app.config["API_TOKEN_IDLE_MINUTES"])
    if (
        api_token.revoked_at is not None
        or api_token.expires_at <= now
        or api_token.last_used_at + idle <= now
        or not account.is_active
        or api_token.created_at < account.sessions_valid_after
    ):
        return None
    touch(ApiToken, api_token.id, "last_used_at", api_token.last_used_at, now)
    return principal_for(account)


def touch(model: Any, row_id: int, column: str, last: datetime | None, now: datetime) -> None:
    """Record a credential's use (at most every TOUCH_EVERY, so most reads write nothing)."""
    if last is None or now - last > TOUCH_EVERY:
        db.session.execute(sa.update(model).where(model.id == row_id).values({column: now}))


def revoke_token(token: str) -> None:
    """Revoke one bearer token (logout)."""
    db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def open_page_session(account: Account) -> str:
    """Start a staff page session for the account; the caller puts the id in the cookie."""
    token = secrets.token_urlsafe(32)  # 256 bits
    now = utcnow()
    absolute = timedelta(hours=current_app.config["SESSION_ABSOLUTE_HOURS"])
    # The account's finished sessions are of no further use; clearing them here keeps the
    # table as small as the number of people signed in.
    db.session.execute(
        sa.delete(StaffSession).where(
            StaffSession.account_id == account.id,
            sa.or_(StaffSession.revoked_at.is_not(None), StaffSession.created_at < now - absolute),
        )
    )
    db.session.add(
        StaffSession(
            token_hash=hash_token(token), account_id=account.id, created_at=now, last_seen_at=now
        )
    )
    db.session.flush()
    return token


def principal_from_page_session(token: str, *, touch_session: bool = True) -> Principal | None:
    """The principal of a staff page session, or None if it is unknown, revoked, idle or old.

    touch_session=False checks the session without counting the request as its use: a page's
    own timer (the alert poll) must not keep an unattended session from idling out.
    """
    row = db.session.execute(
        sa.select(StaffSession, Account)
        .join(Account, Account.id == StaffSession.account_id)
        .where(StaffSession.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    staff_session, account = row
    config = current_app.config
    now = utcnow()
    if (
        staff_session.revoked_at is not None
        or not account.is_active
        or now - staff_session.last_seen_at > timedelta(minutes=config["SESSION_IDLE_MINUTES"])
        or now - staff_session.created_at > timedelta(hours=config["SESSION_ABSOLUTE_HOURS"])
    ):
        return None
    if touch_session:
        touch(StaffSession, staff_session.id, "last_seen_at", staff_session.last_seen_at, now)
    return principal_for(account)


def end_page_session(token: str) -> None:
    """Revoke one staff page session (logout): its cookie, even a copy, no longer signs in."""
    db.session.execute(
        sa.update(StaffSession)
        .where(StaffSession.token_hash == hash_token(token), StaffSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def _end_sessions(account: Account) -> None:
    """Kill every page session and API token of the account at once."""
    now = utcnow()
    account.sessions_valid_after = now
    for model in (ApiToken, StaffSession):
        db.session.execute(
            sa.update(model)
            .where(model.account_id == account.id, model.revoked_at.is_(None))
            .values(revoked_at=now)
        )


# --- account management -------------------------------------------------------------------


def _scope(role: str, municipality_id: int | None, office_id: int | None) -> str | None:
    if role in MUNICIPAL_ROLES:
        return f"municipality:{municipality_id}"
    if role in OFFICE_ROLES:
        return f"office:{office_id}"
    return None


def record_permission(
    actor: Principal | None,
    account: Account,
    action: str,
    old: tuple[str | None, str | None] = (None, None),
    new: tuple[str | None, str | None] = (None, None),
) -> None:
    """Append a grant, change or revocation of the account's access to permission_events."""
    db.session.add(
        PermissionEvent(
            actor_id=actor.actor_id if actor else None,
            account_id=account.id,
            action=action,
            old_role=old[0],
            old_scope=old[1],
            new_role=new[0],
            new_scope=new[1],
            ip=client_ip(),
        )
    )


def permission_changes(
    municipality_id: int,
    start: datetime,
    end: datetime,
    actions: Iterable[str],
    account_ids: Iterable[int],
) -> list[PermissionEvent]:
    """The permission events with one of the actions in [start, end), oldest first, that move
    access into or out of the municipality or concern one of the accounts."""
    scope = f"municipality:{municipality_id}"
    return list(
        db.session.scalars(
            sa.select(PermissionEvent)
            .where(
                PermissionEvent.at >= start,
                PermissionEvent.at < end,
                PermissionEvent.action.in_(list(actions)),
                sa.or_(
                    PermissionEvent.old_scope == scope,
                    PermissionEvent.new_scope == scope,
                    PermissionEvent.account_id.in_(list(account_ids)),
                ),
            )
            .order_by(PermissionEvent.at)
        )
    )


def prune_permission_events(before: datetime) -> int:
    """Delete the permission events older than `before` (the database refuses any too young)."""
    return db.session.execute(
        sa.delete(PermissionEvent).where(PermissionEvent.at < before)
    ).rowcount


def _check_tenant_binding(role: Role, municipality_id: int | None, office_id: int | None) -> None:
    if role in MUNICIPAL_ROLES and (municipality_id is None or office_id is not None):
        raise Invalid(
            fields={"municipality_id": ["이 역할에는 지자체가 필요합니다. (Needs a municipality.)"]}
        )
    if role in OFFICE_ROLES and (office_id is None or municipality_id is not None):
        raise Invalid(
            fields={"office_id": ["이 역할에는 우체국이 필요합니다. (Needs a delivery office.)"]}
        )
    if role == Role.SYSTEM_ADMIN and (municipality_id is not None or office_id is not None):
        raise Invalid(
            fields={"role": ["시스템 관리자는 소속이 없습니다. (System admins have no tenant.)"]}
        )
    for kind, value in (("municipality", municipality_id), ("office", office_id)):
        if value is not None and not tenant_exists(kind, value):
            raise Invalid(fields={f"{kind}_id": ["존재하지 않습니다. (No such tenant.)"]})


def _check_may_manage(actor: Principal, role: Role, municipality_id: int | None) -> None:
    """System admins manage every account; municipal admins their municipality's staff."""
    if actor.role == Role.SYSTEM_ADMIN:
        return
    if (
        actor.role == Role.MUNICIPAL_ADMIN
        and role in MUNICIPAL_ROLES
        and municipality_id == actor.municipality_id
    ):
        return
    raise Forbidden()


def check_new_password(password: str, username: str, field: str = "password") -> None:
    """Raise WeakPassword naming every problem with a new password (under `field`)."""
    problems = password_problems(password, username, current_app.config["PASSWORD_MIN_LENGTH"])
    if problems:
        raise WeakPassword(fields={field: problems})


@dataclass(frozen=True)
class NewAccount:
    """An account to create: its sign-in, role and the tenant the role is bound to."""

    username: str
    display_name: str
    password: str = field(repr=False)
    role: Role
    municipality_id: int | None = None
    office_id: int | None = None
    email: str | None = None


def create_account(actor: Principal, new: NewAccount) -> Account:
    """Create an account and record the grant of its role."""
    username = new.username.strip().casefold()
    role, municipality_id, office_id = new.role, new.municipality_id, new.office_id
    _check_tenant_binding(role, municipality_id, office_id)
    _check_may_manage(actor, role, municipality_id)
    check_new_password(new.password, username)
    if db.session.scalar(sa.select(Account.id).where(Account.username == username)):
        raise Conflict(
            "이미 있는 아이디입니다. (That username is taken.)",
            fields={"username": ["이미 있는 아이디입니다. (Taken.)"]},
        )
    account = Account(
        username=username,
        display_name=new.display_name,
        password_hash=hash_password(new.password),
        role=role.value,
        municipality_id=municipality_id,
        office_id=office_id,
        email=new.email,
    )
    db.session.add(account)
    db.session.flush()
    record_permission(
        actor, account, "grant", new=(role.value, _scope(role, municipality_id, office_id))
    )
    db.session.flush()
    return account


def accounts_visible_to(actor: Principal) -> sa.Select:
    """The accounts this principal may see: all for system admins, own municipality's for others."""
    query = sa.select(Account).order_by(Account.id)
    if actor.role == Role.SYSTEM_ADMIN:
        return query
    if actor.role in (Role.MUNICIPAL_ADMIN, Role.AUDITOR):
        return query.where(Account.municipality_id == actor.municipality_id)
    return query.where(Account.id == actor.account_id)


def get_account(actor: Principal, account_id: int) -> Account:
    """One visible account, or 404."""
    account = db.session.scalar(accounts_visible_to(actor).where(Account.id == account_id))
    if account is None:
        raise NotFound()
    return account


def _managed_account(actor: Principal, account_id: int) -> Account:
    """An account the actor manages: 404 out of sight, 403 if visible but not theirs to manage."""
    account = get_account(actor, account_id)
    _check_may_manage(actor, Role(account.role), account.municipality_id)
    return account


@dataclass(frozen=True)
class AccountChanges:
    """What to change of an account (UNSET: unchanged); the tenant goes with a role only."""

    display_name: str | Unset = UNSET
    #: None clears the alert e-mail.
    email: str | None | Unset = UNSET
    role: Role | Unset = UNSET
    #: The tenant of the new role (None or UNSET: the account's own, where the role has one).
    municipality_id: int | None | Unset = UNSET
    office_id: int | None | Unset = UNSET
    is_active: bool | Unset = UNSET


def update_account(actor: Principal, account_id: int, changes: AccountChanges) -> Account:
    """Change an account's role, tenant, name, e-mail or active flag; access changes recorded."""
    account = _managed_account(actor, account_id)
    old = (account.role, _scope(account.role, account.municipality_id, account.office_id))
    role, is_active = changes.role, changes.is_active
    if role is not UNSET:
        # The tenant given for the role, else the account's own; none for the other kind.
        new_municipality = new_office = None
        if role in MUNICIPAL_ROLES:
            given_id = changes.municipality_id
            new_municipality = account.municipality_id if given_id in (None, UNSET) else given_id
        if role in OFFICE_ROLES:
            given_id = changes.office_id
            new_office = account.office_id if given_id in (None, UNSET) else given_id
        _check_tenant_binding(role, new_municipality, new_office)
        _check_may_manage(actor, role, new_municipality)
        if account.id == actor.account_id and role != Role(account.role):
            raise Forbidden("자신의 역할은 바꿀 수 없습니다. (You cannot change your own role.)")
        account.role = role.value
        account.municipality_id = new_municipality
        account.office_id = new_office
        new = (role.value, _scope(role, new_municipality, new_office))
        if new != old:
            record_permission(actor, account, "change", old=old, new=new)
            # A changed role must not keep sessions that were issued for the old one.
            _end_sessions(account)
    if changes.display_name is not UNSET:
        account.display_name = changes.display_name
    if changes.email is not UNSET:
        set_email(actor, account, changes.email)
    if is_active is not UNSET and is_active != account.is_active:
        if account.id == actor.account_id:
            raise Forbidden("자신의 계정은 비활성화할 수 없습니다. (You cannot disable yourself.)")
        account.is_active = is_active
        current = (account.role, _scope(account.role, account.municipality_id, account.office_id))
        if is_active:
            record_permission(actor, account, "enable", new=current)
        else:
            record_permission(actor, account, "disable", old=current)
            _end_sessions(account)
    db.session.flush()
    return account


def revoke_sessions(actor: Principal, account_id: int) -> Account:
    """End every session and token of an account (a lost phone, a leaked token)."""
    account = get_account(actor, account_id)
    if account.id != actor.account_id:
        _check_may_manage(actor, Role(account.role), account.municipality_id)
    _end_sessions(account)
    record_permission(actor, account, "revoke_tokens", old=(account.role, None))
    db.session.flush()
    return account


def unlock_account(actor: Principal, account_id: int) -> Account:
    """Lift a sign-in lockout at once: the lock and the failure count are cleared."""
    account = _managed_account(actor, account_id)
    locked = account.locked_until is not None and account.locked_until > utcnow()
    # Nothing to lift (no lock, or one run out) is no action: the record keeps changes only.
    if locked or account.failed_logins:
        account.locked_until = None
        account.failed_logins = 0
        record_permission(actor, account, "unlock", old=(account.role, None))
    db.session.flush()
    return account


def reset_password(actor: Principal, account_id: int, password: str) -> Account:
    """Set a new password for an account one manages; its sessions and tokens end."""
    account = _managed_account(actor, account_id)
    if account.id == actor.account_id:
        # One's own password needs the current one (change_password), not admin rights.
        raise Forbidden(
            "자신의 비밀번호는 현재 비밀번호를 넣고 바꿔야 합니다. "
            "(Change your own password with your current password.)"
        )
    check_new_password(password, account.username)
    account.password_hash = hash_password(password)
    account.password_changed_at = utcnow()
    _end_sessions(account)
    record_permission(actor, account, "reset_password", old=(account.role, None))
    db.session.flush()
    return account


def set_email(actor: Principal, account: Account, email: str | None) -> None:
    """Set or clear the account's alert e-mail; who redirected alerts is kept in the access log."""
    if email == account.email:
        return
    account.email = email
    # The field name only: the address itself never goes into a log.
    record_access(
        actor.account_id, "update", "account", [account.id], account.municipality_id, "email"
    )
    db.session.flush()


def give_email_if_none(username: str, email: str) -> None:
    """Give the account an alert e-mail unless it has one (set-up scripts: nobody acts)."""
    db.session.execute(
        sa.update(Account)
        .where(Account.username == username, Account.email.is_(None))
        .values(email=email)
    )


def change_password(principal: Principal, current: str, new: str) -> None:
    """Change one's own password; every other session ends."""
    account = db.session.get(Account, principal.account_id)
    if not verify_password(account.password_hash, current):
        raise Invalid(fields={"current_password": ["비밀번호가 틀립니다. (Wrong password.)"]})
    check_new_password(new, account.username, "new_password")
    account.password_hash = hash_password(new)
    account.password_changed_at = utcnow()
    _end_sessions(account)
    db.session.flush()
