"""The staff pages' navigation: each package adds its links with the roles that see them."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, g

from core.auth.roles import Role


@dataclass(frozen=True)
class NavLink:
    endpoint: str
    label: str  # a lazy gettext string: rendered in the page's language
    roles: frozenset[Role]


def add_nav_link(app: Flask, endpoint: str, label: str, roles: tuple[Role, ...]) -> None:
    """Show a link to `endpoint` in the top navigation of principals in `roles`."""
    app.extensions.setdefault("nav_links", []).append(NavLink(endpoint, label, frozenset(roles)))


def init_nav(app: Flask) -> None:
    """Give every template `nav_links`: the links the signed-in principal's role may follow."""

    @app.context_processor
    def _nav() -> dict:
        principal = g.get("principal")
        links = app.extensions.get("nav_links", [])
        return {"nav_links": [link for link in links if principal and principal.role in link.roles]}
