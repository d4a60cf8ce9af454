"""Browser tests: Debian's Chromium (headless, via Playwright) against the app on localhost.

The app serves from a werkzeug server in a thread, on a database of its own that commits for
real (tests/support/scratch.py). Every request the browser makes is recorded; a test fails if one
went to another host. Screenshots go to test-artifacts/browser/. Without /usr/bin/chromium (or the
playwright package) these tests are skipped; Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import make_server

from core.auth.roles import Role
from core.auth.services import issue_token
from core.db import db
from municipalities.mail.models import MailItem
from tests.support.desk import carrier_headers, set_up_desk, visit
from tests.support.factories import PASSWORD
from tests.support.scratch import scratch_database
from welfare_checks.models import Case, CheckReport

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
VIEWPORT = {"width": 1280, "height": 800}


@dataclass
class Live:
    """The running app: its address, the seeded people, and reads of its database."""

    app: Flask
    base: str
    people: dict[str, dict[str, Any]]
    carrier_token: str
    numbers: list[str]

    def url(self, path: str) -> str:
        return self.base + path

    def read(self, query: Callable[[], Any]) -> Any:
        """Run `query` against the app's database (fresh objects, in the app's context)."""
        with self.app.app_context():
            return query()

    def upload_emergency(self) -> int:
        """A carrier's emergency visit through the carrier API over HTTP; the case it opened."""
        number = self.numbers.pop(0)
        body = visit(number)
        response = requests.post(
            self.url("/api/v1/carrier/visits"),
            json=body,
            headers=carrier_headers(self.carrier_token, body),
            timeout=30,
        )
        assert response.status_code == 201, response.text
        return self.read(
            lambda: db.session.scalar(
                sa.select(Case.id)
                .join(CheckReport, CheckReport.id == Case.report_id)
                .join(MailItem, MailItem.id == CheckReport.mail_item_id)
                .where(MailItem.registered_number == number)
            )
        )

    def case(self, case_id: int) -> Case:
        """The case as stored now (detached, its columns loaded)."""

        def load() -> Case:
            found = db.session.get(Case, case_id)
            db.session.expunge(found)
            return found

        return self.read(load)

    def api(self, who: str, path: str) -> dict:
        """GET an API path with the bearer token of a seeded person."""
        token = self.people[who]["token"]
        response = requests.get(
            self.url(path), headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert response.status_code == 200, response.text
        return response.json()


def _people(desk) -> dict[str, dict[str, Any]]:
    chosen = {
        "social_worker": desk.social_worker,
        "colleague": desk.colleague,
        "stranger": desk.world.b.accounts[Role.SOCIAL_WORKER],
        "dispatcher": desk.world.a.accounts[Role.DISPATCHER],
        "municipal_admin": desk.world.a.accounts[Role.MUNICIPAL_ADMIN],
        "system_admin": desk.world.admin,
    }
    return {
        who: {
            "id": account.id,
            "username": account.username,
            "name": account.display_name,
            "token": issue_token(account),
        }
        for who, account in chosen.items()
    }


@pytest.fixture(scope="module")
def live(app, tmp_path_factory) -> Iterator[Live]:
    """The app on a free localhost port over a database of its own, seeded with a desk."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    backend = "postgresql" if os.environ.get("TEST_DATABASE_URL") else "sqlite"
    with scratch_database(backend, tmp_path_factory.mktemp("browser"), app) as scratch:
        with scratch.app.app_context():
            desk = set_up_desk(visits=6)
            people, token, numbers = _people(desk), desk.carrier_token, list(desk.numbers)
            db.session.commit()
        server = make_server("127.0.0.1", 0, scratch.app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Live(scratch.app, f"http://127.0.0.1:{server.port}", people, token, numbers)
        finally:
            server.shutdown()
            thread.join(10)


@pytest.fixture(scope="module")
def browser(live) -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@dataclass
class Browsing:
    """One browser context: its page, every URL it requested, and screenshots."""

    page: Any
    live: Live
    requested: list[str] = field(default_factory=list)

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def sign_in(self, who: str, next_path: str = "/") -> None:
        self.page.goto(self.live.url(next_path))
        self.page.get_by_label("아이디").fill(self.live.people[who]["username"])
        self.page.get_by_label("비밀번호").fill(PASSWORD)
        self.page.get_by_role("button", name="로그인").click()

    def foreign_requests(self) -> list[str]:
        own = urlsplit(self.live.base).netloc
        return [url for url in self.requested if urlsplit(url).netloc != own]


@pytest.fixture
def browsing(browser, live) -> Iterator[Browsing]:
    """A fresh browser context at 1280×800; fails the test on any request to another host."""
    context = browser.new_context(viewport=VIEWPORT, locale="ko-KR")
    page = context.new_page()
    session = Browsing(page, live)
    context.on("request", lambda request: session.requested.append(request.url))
    yield session
    context.close()
    assert session.requested, "the browser made no request"
    assert not session.foreign_requests(), session.foreign_requests()
