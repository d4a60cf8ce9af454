"""Who is acting: resolved once per request from a bearer token or a staff session."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import g

from core.auth.roles import Role
from core.errors import Forbidden, Unauthorized


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


def current_principal() -> Principal:
    """The principal of this request, or 401."""
    principal = g.get("principal")
    if principal is None:
        raise Unauthorized()
    return principal


def require_role(*roles: Role) -> Callable:
    """Let the view run only for a signed-in principal holding one of the roles."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            principal = current_principal()
            if roles and principal.role not in roles:
                raise Forbidden()
            return view(*args, **kwargs)

        wrapper.allowed_roles = frozenset(roles)  # type: ignore[attr-defined]
        return wrapper

    return decorator


def require_login(view: Callable) -> Callable:
    """Let the view run for any signed-in principal; scoping happens in the service."""
    return require_role()(view)
