"""The tenants an account is bound to: municipalities and delivery offices.

Their tables belong to the domain packages above core, so each registers how to look its
tenants up (create_app), and core.auth asks through here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from flask import Flask

from core.hooks import Hook

#: An account's binding: its `municipality_id` or its `office_id`.
TenantKind = Literal["municipality", "office"]
KINDS: tuple[TenantKind, ...] = ("municipality", "office")


@dataclass(frozen=True)
class Tenants:
    """How the owning package answers for one kind of tenant."""

    kind: TenantKind
    exists: Callable[[int], bool]
    #: Every tenant's name by id, in the order people look for them (by name).
    names: Callable[[], dict[int, str]]


TENANTS: Hook[Tenants] = Hook("core.auth.tenants")


def register_tenants(app: Flask, tenants: Tenants) -> None:
    """Let core.auth look up one kind of tenant through its owning package."""
    TENANTS.register(app, tenants)


def _tenants(kind: TenantKind) -> Tenants:
    for tenants in TENANTS.entries():
        if tenants.kind == kind:
            return tenants
    raise LookupError(f"no package registered the {kind} tenants")


def tenant_exists(kind: TenantKind, tenant_id: int) -> bool:
    """Whether the municipality or office with this id exists."""
    return _tenants(kind).exists(tenant_id)


def tenant_names(kind: TenantKind) -> dict[int, str]:
    """Every municipality's or office's name by id, ordered by name."""
    return _tenants(kind).names()
