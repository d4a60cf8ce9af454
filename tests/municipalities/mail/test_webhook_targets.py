"""Webhooks reach the public internet only: refused at registration and again at delivery, with
the connection pinned to the checked address and no connection detail in the delivery log."""

from __future__ import annotations

import ipaddress
import socket

import pytest
import sqlalchemy as sa
import urllib3

from core import outbound
from core.auth.roles import Role
from core.db import db
from core.outbox import deliver_due
from municipalities.mail import webhooks
from municipalities.mail.models import WebhookDelivery, WebhookEndpoint
from tests.support.desk import post_form, sign_in
from tests.support.fakes.receiver import WebhookReceiver

API = "/api/v1/webhooks"
PAGE = "/admin/webhooks/"
SECRET = "a-long-shared-secret-1234"
PUBLIC = "93.184.215.14"
HOSTILE = [
    # loopback, in the forms resolvers accept
    "https://127.0.0.1/hook",
    "https://127.1/hook",
    "https://2130706433/hook",
    "https://0x7f.0.0.1/hook",
    "https://0177.0.0.1/hook",
    "https://localhost/hook",
    "https://localhost./hook",
    "https://api.localhost/hook",
    "https://[::1]/hook",
    # private, CGNAT, benchmarking, protocol assignments
    "https://10.0.0.5/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.1:8443/hook",
    "https://100.64.0.1/hook",
    "https://198.18.0.1/hook",
    "https://192.0.0.8/hook",
    "https://[fc00::1]/hook",
    # link-local and the clouds' metadata services
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00:ec2::254]/latest/meta-data/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://[fe80::1%25eth0]/hook",
    # IPv4 inside IPv6: mapped, compatible, NAT64, 6to4, Teredo
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:a9fe:a9fe]/hook",
    "https://[::a9fe:a9fe]/hook",
    "https://[64:ff9b::a9fe:a9fe]/hook",
    "https://[2002:a9fe:a9fe::]/hook",
    "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",
    # multicast, reserved, broadcast, unspecified, documentation
    "https://224.0.0.1/hook",
    "https://[ff02::1]/hook",
    "https://240.0.0.1/hook",
    "https://255.255.255.255/hook",
    "https://0.0.0.0/hook",
    "https://[::]/hook",
    "https://[2001:db8::1]/hook",
    # names only an internal resolver knows
    "https://intranet/hook",
    "https://nas.local/hook",
    "https://router.home.arpa/hook",
]


@pytest.fixture
def admin(world) -> dict[str, str]:
    """Tenant a's municipal admin's API headers."""
    return world.a.headers(Role.MUNICIPAL_ADMIN)


@pytest.fixture
def production_rules(app, monkeypatch) -> None:
    """Without the tests' loopback setting, as in production."""
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_HTTP_LOOPBACK", False)


def resolving(monkeypatch, *answers: list[str]) -> list[str]:
    """Make the resolver give each answer in turn (the last one from then on); the hosts asked."""
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[outbound.Address]:
        answer = answers[min(len(asked), len(answers) - 1)]
        asked.append(host)
        return [ipaddress.ip_address(address) for address in answer]

    monkeypatch.setattr(outbound, "resolve", resolve)
    return asked


def url_errors(response) -> list[str]:
    assert response.status_code == 422, response.json
    return response.json["error"]["fields"]["url"]


@pytest.mark.parametrize("url", HOSTILE)
def test_an_internal_address_is_refused_at_registration(client, admin, production_rules, url):
    [message] = url_errors(client.post(API, json={"url": url, "secret": SECRET}, headers=admin))
    assert "내부망·사설·예약 주소" in message
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookEndpoint)) == 0


@pytest.mark.parametrize(
    "url", ["https://169.254.169.254/", "https://10.0.0.5/hook", "http://10.0.0.5/hook"]
)
def test_the_tests_loopback_setting_opens_loopback_only(client, admin, url):
    assert client.application.config["WEBHOOK_ALLOW_HTTP_LOOPBACK"] is True
    assert url_errors(client.post(API, json={"url": url, "secret": SECRET}, headers=admin))


def test_a_name_resolving_to_a_private_address_is_refused_at_registration(
    client, admin, monkeypatch
):
    asked = resolving(monkeypatch, [PUBLIC, "10.1.2.3"])
    body = {"url": "https://hooks.example.org/in", "secret": SECRET}
    [message] = url_errors(client.post(API, json=body, headers=admin))
    assert "내부망·사설·예약 주소" in message and asked == ["hooks.example.org"]


def test_the_page_names_the_url_field(client, world, production_rules):
    sign_in(client, world.a.accounts[Role.MUNICIPAL_ADMIN])
    form = {"url": "https://169.254.169.254/latest/meta-data/", "secret": SECRET}
    refused = post_form(client, PAGE, PAGE, form)
    assert refused.status_code == 422
    assert "내부망·사설·예약 주소" in refused.text.split('id="url-error"')[1].split("</p>")[0]


def deliver_once(world, url: str) -> WebhookDelivery:
    """Queue one event for an endpoint at `url` (stored as is), deliver it; its log entry."""
    endpoint = WebhookEndpoint(municipality_id=world.a.municipality.id, url=url, secret=SECRET)
    db.session.add(endpoint)
    db.session.flush()
    webhooks.notify(world.a.municipality.id, "item.status_changed", {"item_id": 1})
    db.session.commit()
    deliver_due()
    db.session.expire_all()
    return db.session.scalars(
        sa.select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    ).one()


def refuse_connections(monkeypatch) -> list[str]:
    """Record any attempt to open a connection (there must be none)."""
    opened: list[str] = []

    def urlopen(self, *args, **kwargs) -> None:
        opened.append(self.host)
        raise AssertionError("connected")

    monkeypatch.setattr(urllib3.HTTPConnectionPool, "urlopen", urlopen)
    return opened


def test_a_name_that_now_resolves_to_a_private_address_is_refused_at_delivery(
    client, world, admin, monkeypatch, production_rules
):
    asked = resolving(monkeypatch, [PUBLIC], ["10.0.0.7"])  # rebound after registration
    body = {"url": "https://hooks.example.org/in", "secret": SECRET}
    assert client.post(API, json=body, headers=admin).status_code == 201
    opened = refuse_connections(monkeypatch)
    webhooks.notify(world.a.municipality.id, "item.status_changed", {"item_id": 1})
    db.session.commit()
    deliver_due()
    [endpoint] = client.get(API, headers=admin).json
    [logged] = client.get(f"{API}/{endpoint['id']}/deliveries", headers=admin).json["items"]
    assert (logged["status_code"], logged["error"]) == (None, webhooks.CONNECTION_FAILED)
    assert opened == [] and asked == ["hooks.example.org", "hooks.example.org"]
    sign_in(client, world.a.accounts[Role.MUNICIPAL_ADMIN])
    page = client.get(f"{PAGE}{endpoint['id']}").text
    assert "연결 실패 (connection failed)" in page and "10.0.0.7" not in page


@pytest.mark.parametrize("listening", [False, True], ids=["closed port", "silent port"])
def test_connection_failures_read_alike_in_the_log(world, monkeypatch, listening):
    monkeypatch.setattr(webhooks, "TIMEOUT_S", 0.5)
    with socket.socket() as port:
        port.bind(("127.0.0.1", 0))
        if listening:
            port.listen()  # the kernel accepts; nobody answers
        logged = deliver_once(world, f"http://127.0.0.1:{port.getsockname()[1]}/hook")
    assert (logged.status_code, logged.error) == (None, webhooks.CONNECTION_FAILED)


def test_delivery_connects_to_the_checked_address_with_the_original_host(world, monkeypatch):
    asked = resolving(monkeypatch, ["127.0.0.1"], ["10.0.0.7"])  # a second look-up would lose
    with WebhookReceiver() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        logged = deliver_once(world, f"http://hooks.example.org:{port}/in?v=1")
        [received] = receiver.received
    assert (logged.status_code, logged.error) == (204, None)
    assert received.headers["Host"] == f"hooks.example.org:{port}"
    assert asked == ["hooks.example.org"]
