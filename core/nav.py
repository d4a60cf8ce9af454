"""The staff pages' navigation: each package adds its links with the roles that see them, a
live figure beside a link (open alerts), and parts of the header (a package's live script)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask, g

from core.auth.principal import Principal
from core.auth.roles import Role
from core.hooks import Hook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NavBadge:
    """A count beside a navigation link (a package's script keeps it current), and optionally
    a second, marked count (e.g. escalated alerts) with its own words."""

    count: int
    label: str  # what is counted, read out before the number ("확인하지 않은 알림")
    flag_label: str = ""  # empty: no second count
    flag_count: int = 0
    #: What the script keeping it current compares (e.g. the ETag of its poll's answer).
    version: str = ""


@dataclass(frozen=True)
class NavLink:
    endpoint: str
    label: str  # a lazy gettext string: rendered in the page's language
    roles: frozenset[Role]
    badge: Callable[[Principal], NavBadge | None] | None = None


@dataclass(frozen=True)
class HeaderPart:
    template: str  # included in the header's tools, after the links
    roles: frozenset[Role]


NAV_LINKS: Hook[NavLink] = Hook("nav_links")
HEADER_PARTS: Hook[HeaderPart] = Hook("header_parts")


def add_nav_link(
    app: Flask,
    endpoint: str,
    label: str,
    roles: tuple[Role, ...],
    badge: Callable[[Principal], NavBadge | None] | None = None,
) -> None:
    """Show a link to `endpoint` in the top navigation of principals in `roles`, with the
    count `badge(principal)` gives (one cheap query: it runs on every page)."""
    link = NavLink(endpoint, label, frozenset(roles), badge)
    NAV_LINKS.register(app, link)


def add_header_part(app: Flask, template: str, roles: tuple[Role, ...]) -> None:
    """Include `template` in the header of every page shown to principals in `roles`."""
    HEADER_PARTS.register(app, HeaderPart(template, frozenset(roles)))


def _badge(link: NavLink, principal: Principal) -> NavBadge | None:
    if link.badge is None:
        return None
    try:
        return link.badge(principal)
    except sa.exc.DBAPIError:
        # The error page of a database outage has a header too: no count rather than a 500.
        log.warning("navigation count of %s unavailable", link.endpoint)
        return None


def init_nav(app: Flask) -> None:
    """Give every template `nav_links` (the links the signed-in principal's role may follow),
    `nav_badge(link)` (its count, asked only by pages that draw the navigation) and
    `header_parts`."""

    @app.context_processor
    def _nav() -> dict:
        principal = g.get("principal")
        if principal is None:
            return {"nav_links": [], "nav_badge": lambda link: None, "header_parts": []}
        links = [link for link in NAV_LINKS.entries(app) if principal.role in link.roles]
        counted: dict[str, NavBadge | None] = {}

        def nav_badge(link: NavLink) -> NavBadge | None:
            if link.endpoint not in counted:
                counted[link.endpoint] = _badge(link, principal)
            return counted[link.endpoint]

        parts = [
            part.template for part in HEADER_PARTS.entries(app) if principal.role in part.roles
        ]
        return {"nav_links": links, "nav_badge": nav_badge, "header_parts": parts}
