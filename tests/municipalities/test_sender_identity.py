"""The municipality's sender identity: API, admin page, submit refusal, and the printed letters."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date

import pytest
import sqlalchemy as sa

from core.auth.roles import Role
from core.db import db
from core.outbox import deliver_due
from demo.world import MUNICIPALITY_CODE
from municipalities.models import Municipality
from tests.municipalities.mail.test_mail import TEMPLATE, add_household, next_working
from tests.support.desk import HTML, assert_pages_refused, page_routes, post_form, sign_in

PAGE = "/admin/sender/"
FULL = {
    "department": "복지정책과 희망복지지원팀",
    "road_address": "서울특별시 시험구 시청로 1",
    "postal_code": "06236",
    "phone": "0221001234",
    "contact_person": "한지은 주무관",
}
EMPTY = dict.fromkeys(FULL)


def sender_url(municipality: Municipality) -> str:
    return f"/api/v1/municipalities/{municipality.id}/sender"


def set_sender(client, world, values: dict):
    """PATCH tenant a's sender identity as its municipal admin."""
    return client.patch(
        sender_url(world.a.municipality),
        json=values,
        headers=world.a.headers(Role.MUNICIPAL_ADMIN),
    )


def mailing_of(client, world) -> dict:
    """A draft mailing of tenant a to two households in its district."""
    headers = world.a.headers(Role.SOCIAL_WORKER)
    template = client.post("/api/v1/letter-templates", json=TEMPLATE, headers=headers).json
    households = [add_household(client, world.a, name) for name in ("김순자", "이영호")]
    mailing = client.post(
        "/api/v1/mailings",
        json={
            "title": "12월 복지등기",
            "template_id": template["id"],
            "selection": {"household_ids": households},
            "send_date": next_working(),
        },
        headers=headers,
    )
    assert mailing.status_code == 201, mailing.json
    return mailing.json


def pdf_text(data: bytes, tmp_path) -> str:
    """The PDF's text as pdftotext reads it (skipped without poppler-utils)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not installed (apt-get install -y poppler-utils)")
    path = tmp_path / "letters.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


# --- API -----------------------------------------------------------------------------------------


def test_the_municipal_admin_reads_and_sets_the_sender_identity(client, world):
    saved = set_sender(client, world, FULL)
    assert saved.status_code == 200, saved.json
    assert saved.json == {
        "municipality_id": world.a.municipality.id,
        "name": world.a.municipality.name,
        **FULL,
        "phone": "02-2100-1234",  # as printed
        "missing": [],
    }
    read = client.get(
        sender_url(world.a.municipality), headers=world.a.headers(Role.MUNICIPAL_ADMIN)
    )
    assert read.json == saved.json
    cleared = set_sender(client, world, {"contact_person": None, "postal_code": None})
    assert cleared.json["contact_person"] is None and cleared.json["missing"] == ["postal_code"]
    # The system admin runs the tenants: reads, never sets.
    admin = world.admin_headers()
    assert client.get(sender_url(world.a.municipality), headers=admin).status_code == 200
    assert (
        client.patch(sender_url(world.a.municipality), json=FULL, headers=admin).status_code == 403
    )


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("postal_code", "1234", "숫자 5자리"),
        ("postal_code", "06236-1", "5 digits"),
        ("phone", "12345", "전화번호 형식이 올바르지 않습니다. (Not a valid Korean phone number.)"),
        ("phone", "+1 650 253 0000", "Not a valid Korean phone number"),
        ("department", "", "1~100자로 적어 주세요."),
        ("municipality_id", 7, "Unknown field"),
    ],
)
def test_a_bad_sender_field_is_a_422_naming_it(client, world, field, value, words):
    refused = set_sender(client, world, {field: value})
    assert refused.status_code == 422
    assert words in refused.json["error"]["fields"][field][0]


def test_only_the_municipalitys_own_admin_sets_it_and_other_tenants_get_404(client, world):
    url = sender_url(world.b.municipality)
    for role in (Role.MUNICIPAL_ADMIN, Role.SOCIAL_WORKER, Role.DISPATCHER):
        headers = world.a.headers(role)
        assert client.get(url, headers=headers).status_code == 404
        assert client.patch(url, json=FULL, headers=headers).status_code == 404
    own = sender_url(world.a.municipality)
    for role in (Role.SOCIAL_WORKER, Role.AUDITOR):
        assert client.patch(own, json=FULL, headers=world.a.headers(role)).status_code == 403
        assert client.get(own, headers=world.a.headers(role)).status_code == 403


# --- submitting ----------------------------------------------------------------------------------


def test_submitting_while_the_identity_is_incomplete_is_a_422_naming_the_missing_fields(
    client, world
):
    assert set_sender(client, world, EMPTY | {"department": "복지정책과"}).status_code == 200
    mailing = mailing_of(client, world)
    submit = f"/api/v1/mailings/{mailing['id']}/submit"
    headers = world.a.headers(Role.SOCIAL_WORKER)
    refused = client.post(submit, headers=headers)
    assert refused.status_code == 422
    error = refused.json["error"]
    assert error["code"] == "sender_incomplete"
    assert set(error["fields"]) == {"road_address", "postal_code", "phone"}
    assert (
        "발신 정보" in error["message"] and "road_address, postal_code, phone" in error["message"]
    )
    assert (
        client.get(f"/api/v1/mailings/{mailing['id']}", headers=headers).json["status"] == "draft"
    )
    # Filled in (the contact person may stay empty): the same mailing goes.
    assert set_sender(client, world, FULL | {"contact_person": None}).status_code == 200
    assert client.post(submit, headers=headers).status_code == 200


def test_the_produced_letters_carry_the_identity_and_the_send_date(client, world, tmp_path):
    assert set_sender(client, world, FULL | {"contact_person": None}).status_code == 200
    mailing = mailing_of(client, world)
    headers = world.a.headers(Role.SOCIAL_WORKER)
    assert (
        client.post(f"/api/v1/mailings/{mailing['id']}/submit", headers=headers).status_code == 200
    )
    assert deliver_due().sent >= 1
    [batch] = client.get(f"/api/v1/mailings/{mailing['id']}/batches", headers=headers).json
    pdf = client.get(f"/api/v1/letter-batches/{batch['id']}/letters.pdf", headers=headers)
    text = pdf_text(pdf.data, tmp_path)
    sent = date.fromisoformat(mailing["send_date"])
    issued = f"{sent.year}년 {sent.month}월 {sent.day}일"
    assert text.count(issued) == 2  # one per letter, above the signature
    assert text.count("서울특별시 시험구 시청로 1 (06236)") == 2
    assert "복지정책과 희망복지지원팀 · 전화 02-2100-1234" in text
    assert "담당" not in text  # no contact person: neither the name nor its label


def test_the_preview_of_an_unset_identity_prints_no_empty_punctuation(client, world, tmp_path):
    assert set_sender(client, world, EMPTY).status_code == 200
    mailing = mailing_of(client, world)
    pdf = client.get(
        f"/api/v1/mailings/{mailing['id']}/preview.pdf", headers=world.a.headers(Role.SOCIAL_WORKER)
    )
    assert pdf.status_code == 200
    text = pdf_text(pdf.data, tmp_path)
    lines = [line.strip() for line in text.splitlines()]
    assert "()" not in text and "전화" not in text
    assert world.a.municipality.name in lines  # the sender block: the name alone


# --- page ----------------------------------------------------------------------------------------


@pytest.fixture
def admin(client, world):
    """Tenant a's municipal admin, signed in."""
    account = world.a.accounts[Role.MUNICIPAL_ADMIN]
    sign_in(client, account)
    return account


def test_the_admin_page_shows_saves_and_clears_the_identity(client, world, admin):
    assert set_sender(client, world, EMPTY | {"department": "복지정책과"}).status_code == 200
    home = client.get("/").text
    assert f'href="{PAGE}"' in home and "발신 정보" in home
    page = client.get(PAGE).text
    assert 'id="sender-missing"' in page and "도로명주소, 우편번호, 전화번호" in page
    assert 'value="복지정책과"' in page

    saved = post_form(client, PAGE, PAGE, FULL)
    assert saved.status_code == 302 and saved.headers["Location"] == PAGE
    shown = client.get(PAGE).text
    assert "발신 정보를 저장했습니다." in shown and 'id="sender-missing"' not in shown
    assert "서울특별시 시험구 시청로 1 (06236)" in shown
    assert "담당 한지은 주무관 · 전화 02-2100-1234" in shown

    # The form carries the whole identity: a field left blank is cleared.
    assert post_form(client, PAGE, PAGE, FULL | {"contact_person": ""}).status_code == 302
    db.session.expire_all()
    municipality = db.session.get(Municipality, world.a.municipality.id)
    assert municipality.contact_person is None and municipality.phone == "02-2100-1234"


def test_a_refused_page_form_names_the_field_and_keeps_what_was_typed(client, world, admin):
    refused = post_form(client, PAGE, PAGE, FULL | {"postal_code": "6236", "phone": "02-12"})
    assert refused.status_code == 422
    postal = refused.text.split('id="postal_code-error"')[1].split("</p>")[0]
    phone = refused.text.split('id="phone-error"')[1].split("</p>")[0]
    assert "우편번호는 숫자 5자리여야 합니다." in postal
    assert "전화번호 형식이 올바르지 않습니다." in phone
    assert 'value="6236"' in refused.text and 'value="한지은 주무관"' in refused.text
    db.session.expire_all()
    assert db.session.get(Municipality, world.a.municipality.id).postal_code == "06000"


def test_other_roles_are_refused_the_page(client, app, world):
    routes = page_routes(app, "sender_pages")
    assert routes == [("GET", PAGE), ("POST", PAGE)]
    others = [world.a.accounts[role] for role in (Role.SOCIAL_WORKER, Role.AUDITOR)]
    assert_pages_refused(client, routes, others, (f'href="{PAGE}"',))
    assert client.get(PAGE, headers=HTML).status_code == 302


# --- demo ----------------------------------------------------------------------------------------


def test_the_demo_municipality_has_a_complete_identity(runner):
    assert runner.invoke(args=["demo", "load", "--households", "5"]).exit_code == 0
    demo = db.session.scalar(sa.select(Municipality).where(Municipality.code == MUNICIPALITY_CODE))
    assert demo.department and demo.contact_person
    assert demo.road_address.startswith(demo.name) and len(demo.postal_code) == 5
    assert demo.phone == "02-2100-1234"
