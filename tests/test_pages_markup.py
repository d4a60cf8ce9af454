"""Every staff page a role can reach: one h1, a language, and a label for every form field.

A crawler follows each role's links from the home page through the test client, so a page added
later is checked without being listed here.
"""

from __future__ import annotations

from collections import deque
from html.parser import HTMLParser
from urllib.parse import urldefrag, urlsplit

import pytest

from core.auth.roles import Role
from core.db import db
from tests.support.desk import HTML, carrier_headers, set_up_desk, sign_in, visit

#: Links not to follow: downloads, the API, the language switch and static files.
SKIPPED = ("/api/", "/static/", "/lang/", "/logout", ".pdf", ".csv", ".xlsx", ".geojson")
MOST_PAGES = 80
UNLABELLED_TYPES = {"hidden", "submit", "button", "image", "reset"}


class Markup(HTMLParser):
    """What the checks need from one page: links, headings, fields and their labels."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.language: str | None = None
        self.h1 = 0
        self.label_for: set[str] = set()
        self.fields: list[dict[str, str | None]] = []
        self.in_label = 0
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "html":
            self.language = attributes.get("lang")
        elif tag == "h1":
            self.h1 += 1
        elif tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        elif tag == "label":
            self.in_label += 1
            if attributes.get("for"):
                self.label_for.add(attributes["for"])
        elif tag in ("input", "select", "textarea"):
            kind = (attributes.get("type") or "text").lower() if tag == "input" else tag
            if kind not in UNLABELLED_TYPES:
                self.fields.append(attributes | {"kind": kind, "wrapped": str(self.in_label > 0)})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self.in_label:
            self.in_label -= 1

    def unlabelled(self) -> list[str]:
        """The fields no label names (by for=, by wrapping it or through aria attributes)."""
        return [
            f"{field['kind']} name={field.get('name')!r}"
            for field in self.fields
            if field["wrapped"] != "True"
            and field.get("id") not in self.label_for
            and not field.get("aria-label")
            and not field.get("aria-labelledby")
        ]


def crawl(client, start: str = "/") -> dict[str, Markup]:
    """The HTML pages reachable from `start` by following links on the app's own host."""
    seen: dict[str, Markup] = {}
    queue, queued = deque([start]), {start}
    while queue and len(seen) < MOST_PAGES:
        path = queue.popleft()
        response = client.get(path, headers=HTML)
        assert response.status_code < 500, path
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        markup = Markup()
        markup.feed(response.text)
        seen[path] = markup
        for href in markup.links:
            link = urldefrag(href).url
            parts = urlsplit(link)
            if parts.netloc or not parts.path.startswith("/") or any(s in link for s in SKIPPED):
                continue
            if link not in queued:
                queued.add(link)
                queue.append(link)
    return seen


@pytest.fixture
def desk(app, db_session, client):
    desk = set_up_desk()
    db.session.commit()  # the test's SAVEPOINT only: requests end their session
    # An emergency report, so the inbox links to a report and a case page.
    body = visit(desk.numbers[0])
    response = client.post(
        "/api/v1/carrier/visits", json=body, headers=carrier_headers(desk.carrier_token, body)
    )
    assert response.status_code == 201, response.json
    return desk


@pytest.mark.parametrize(
    "role",
    [Role.SOCIAL_WORKER, Role.MUNICIPAL_ADMIN, Role.AUDITOR, Role.DISPATCHER, Role.SYSTEM_ADMIN],
)
def test_every_page_a_role_reaches_is_labelled_and_titled(client, desk, role):
    world = desk.world
    sign_in(client, world.admin if role == Role.SYSTEM_ADMIN else world.a.accounts[role])
    pages = crawl(client)
    assert len(pages) > 3, sorted(pages)  # the crawl got past the home page
    faults = {
        path: problems
        for path, markup in pages.items()
        if (
            problems := [
                *(["no lang on <html>"] if not markup.language else []),
                *([f"{markup.h1} h1 headings"] if markup.h1 != 1 else []),
                *(f"unlabelled {field}" for field in markup.unlabelled()),
            ]
        )
    }
    assert not faults, faults
