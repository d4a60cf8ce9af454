"""Who is acting: resolved once per request from a bearer token or a staff session."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import g, request

from core.auth.roles import STAFF_ROLES, Role
from core.errors import Forbidden, NotFound, Unauthorized

#: The account id of the command line, which acts without an account (ids start at 1).
NO_ACCOUNT = 0


@dataclass(frozen=True)
class Principal:
    """The acting account and its tenant; services scope every query by it."""

    account_id: int
    username: str
    role: Role
    municipality_id: int | None = None
    office_id: int | None = None
    #: The enrolled phone acting, when the token is a device's (carrier_api.devices).
    device_id: int | None = None

    def has_role(self, *roles: Role) -> bool:
        """True if this principal holds one of the roles."""
        return self.role in roles

    @property
    def actor_id(self) -> int | None:
        """The account recorded as acting; None for the command line, which has no account."""
        return None if self.account_id == NO_ACCOUNT else self.account_id


#: The system operator at the command line (`flask accounts create`, `flask offices create`,
#: `flask demo load` ...): a system admin without an account of its own.
COMMAND_LINE = Principal(account_id=NO_ACCOUNT, username="command-line", role=Role.SYSTEM_ADMIN)


def current_principal() -> Principal:
    """The principal of this request, or 401."""
    principal = g.get("principal")
    if principal is None:
        raise Unauthorized()
    return principal


def require_role(*roles: Role) -> Callable:
    """Let the view run only for a principal holding one of the roles (none named: any staff).

    Carriers are in no default: an endpoint serves them only when it names Role.CARRIER, so a
    carrier's token (a phone's or an account's) reaches nothing of the office's but its own
    route, scans and visits (carrier_api). A refused principal gets 403, or on an API route
    naming an object the plain 404 of a missing id.
    """
    allowed = frozenset(roles) or STAFF_ROLES

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            admit(allowed)
            return view(*args, **kwargs)

        wrapper.allowed_roles = allowed  # type: ignore[attr-defined]
        return wrapper

    return decorator


def admit(allowed: frozenset[Role]) -> Principal:
    """The principal of this request if it holds one of the roles: 401 without one, else 403,
    or on an API route naming an object the plain 404 of a missing id."""
    principal = current_principal()
    if principal.role not in allowed:
        # The API answers an object out of sight like a missing one (no existence oracle, the
        # same answer as the services' scoping); pages say 403.
        if request.view_args and request.path.startswith("/api/"):
            raise NotFound()
        raise Forbidden()
    return principal


def require_login(view: Callable) -> Callable:
    """Let the view run for any signed-in staff principal; scoping happens in the service."""
    return require_role()(view)


def require_any_role(view: Callable) -> Callable:
    """Let the view run for every signed-in principal, carriers too (their own account, phone)."""
    return require_role(*Role)(view)
