"""The mailing wizard through the Flask test client: choose, letter, preview, submit, batches."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.audit import AccessLog
from core.auth.roles import Role
from core.clock import seoul_today
from core.db import db
from core.outbox import deliver_due
from municipalities.mail.models import LetterBatch, LetterTemplate, Mailing
from municipalities.models import Household
from tests.municipalities.mail.test_mail import TEMPLATE, add_household, next_working
from tests.support.desk import HTML, assert_pages_refused, csrf_of, page_routes, post_form, sign_in

NEW = "/registry/mailings/new"
LETTER = "/registry/mailings/new/letter"


@pytest.fixture
def town(client, world) -> dict:
    """Tenant a: a letter template, two households in a district and one outside every one."""
    headers = world.a.headers(Role.SOCIAL_WORKER)
    template = client.post("/api/v1/letter-templates", json=TEMPLATE, headers=headers).json
    inside = [add_household(client, world.a, name) for name in ("김순자", "이영호")]
    outside = add_household(client, world.a, "박민수", location=(128.5, 35.8))
    return {"template": template["id"], "inside": inside, "outside": outside, "headers": headers}


def ticked(ids: list[int]) -> str:
    """Step 2's address after ticking `ids` in step 1."""
    return LETTER + "?kind=list" + "".join(f"&household_ids={i}" for i in ids)


def draft_form(town: dict, **changes) -> dict:
    """Step 2's form as the page carries step 1's choice, with `changes`."""
    form = {
        "kind": "list",
        "household_ids": [str(i) for i in town["inside"] + [town["outside"]]],
        "template_id": str(town["template"]),
        "title": "11월 복지등기",
        "send_date": next_working(),
    }
    return form | changes


def mailings() -> list[Mailing]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Mailing).order_by(Mailing.id)))


def make_draft(client, town: dict, **changes) -> str:
    """Save a draft through step 2; the mailing page's path."""
    saved = post_form(client, ticked(town["inside"]), NEW, draft_form(town, **changes))
    assert saved.status_code == 302, saved.text
    return saved.headers["Location"]


def field_error(html: str, field: str) -> str:
    return html.split(f'id="{field}-error"')[1].split("</p>")[0]


def test_ticked_households_become_a_submitted_mailing_with_its_batches(client, world, town):
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    sign_in(client, worker)
    listed = client.get("/registry/mailings/").text
    assert "아직 만든 우편이 없습니다." in listed and f'href="{NEW}"' in listed
    step1 = client.get(NEW).text
    for household in town["inside"] + [town["outside"]]:
        assert f'name="household_ids" value="{household}"' in step1
    step2 = client.get(ticked(town["inside"] + [town["outside"]]))
    assert step2.status_code == 200 and "고른 가구: 3곳" in step2.text
    assert f'name="template_id" value="{town["template"]}"' in step2.text

    page = make_draft(client, town)
    [draft] = mailings()
    assert page == f"/registry/mailings/{draft.id}" and draft.status == "draft"
    assert draft.selection == {"household_ids": town["inside"] + [town["outside"]]}
    preview = client.get(page).text
    assert "보낼 가구: 2곳" in preview and "집배구가 정해지지 않았습니다." in preview
    assert f"가구 #{town['outside']}" in preview and "김순자님께" in preview
    pdf = client.get(f"{page}/preview.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert pdf.mimetype == "application/pdf"

    unconfirmed = post_form(client, page, f"{page}/submit", {})
    assert unconfirmed.status_code == 422 and "확인란" in field_error(unconfirmed.text, "confirm")
    assert mailings()[0].status == "draft"
    sent = post_form(client, page, f"{page}/submit", {"confirm": "yes"})
    assert sent.status_code == 302 and sent.headers["Location"] == page
    [mailing] = mailings()
    assert mailing.status == "submitted" and mailing.item_count == 2
    shown = client.get(page).text
    assert "발송을 요청했습니다." in shown and "제작 대기" in shown and "letters.pdf" not in shown
    assert 'name="confirm"' not in shown
    assert 'id="job-bar" max="2" value="0"' in shown and "편지 만들기를 기다리는 중" in shown
    waiting = client.get(f"{page}/letters-progress", headers={"Accept": "application/json"})
    assert waiting.json == {
        "label": "편지 만들기를 기다리는 중",
        "count": "0 / 2통",
        "done": 0,
        "total": 2,
        "finished": False,
    }

    deliver_due()  # the letter production job
    done = client.get(f"{page}/letters-progress", headers={"Accept": "application/json"})
    assert done.json["finished"] and done.json["done"] == done.json["total"] == 2
    produced = client.get(page).text
    assert 'id="job-progress"' not in produced
    batch = db.session.scalar(sa.select(LetterBatch.id).where(LetterBatch.mailing_id == mailing.id))
    assert "제작 완료" in produced and f"/registry/mailings/batches/{batch}/letters.pdf" in produced
    letters = client.get(f"/registry/mailings/batches/{batch}/letters.pdf")
    assert letters.status_code == 200 and letters.data.startswith(b"%PDF")
    manifest = client.get(f"/registry/mailings/batches/{batch}/manifest.csv")
    assert manifest.status_code == 200 and manifest.mimetype == "text/csv"
    downloads = db.session.scalars(
        sa.select(AccessLog.subject_id).where(
            AccessLog.account_id == worker.id, AccessLog.action == "download"
        )
    ).all()
    assert sorted(set(downloads)) == sorted(town["inside"])
    listed = client.get("/registry/mailings/").text
    assert "11월 복지등기" in listed and "발송 요청됨" in listed

    again = post_form(client, page, f"{page}/submit", {"confirm": "yes"})
    assert again.status_code == 409 and "이미 발송 요청된 우편입니다" in again.text


def test_a_name_search_in_step_one_stays_out_of_the_url(client, world, town):
    sign_in(client, world.a.accounts[Role.SOCIAL_WORKER])
    found = post_form(client, NEW, f"{NEW}/search", {"name": "이영호"})
    assert found.status_code == 200
    rows = found.text.split("<tbody>")[1].split("</tbody>")[0]
    assert rows.count("<tr>") == 1 and f'value="{town["inside"][1]}"' in rows
    outside = client.get(NEW, query_string={"assignment_status": "outside_districts"}).text
    tick = 'name="household_ids" value="{}"'.format
    assert tick(town["outside"]) in outside and tick(town["inside"][0]) not in outside


def test_a_saved_filter_is_stored_as_the_selection(client, world, town):
    sign_in(client, world.a.accounts[Role.SOCIAL_WORKER])
    district = db.session.get(Household, town["inside"][0]).district_id
    step1 = client.get(NEW).text
    assert f'<option value="{district}">집배구 #{district} (2가구)</option>' in step1
    query = f"?kind=filter&district_id={district}&not_mailed_days=30"
    step2 = client.get(LETTER + query)
    assert step2.status_code == 200 and "30일 동안 보내지 않은 가구" in step2.text
    filters = {"kind": "filter", "district_id": str(district), "not_mailed_days": "30"}
    form = {key: value for key, value in draft_form(town).items() if key != "household_ids"}
    page = make_draft(client, town, **(form | filters))
    assert mailings()[0].selection == {"district_id": district, "not_mailed_days": 30}
    assert "보낼 가구: 2곳" in client.get(page).text


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("?kind=list", "household_ids", "가구를 하나 이상 고르세요"),
        ("?kind=filter&not_mailed_days=0", "not_mailed_days", "1~3650일"),
        ("?kind=filter&not_mailed_days=abc", "not_mailed_days", "숫자가 아닙니다"),
        ("?kind=filter&district_id=x", "district_id", "숫자가 아닙니다"),
    ],
)
def test_a_bad_choice_in_step_one_is_shown_at_its_field(client, world, town, query, field, message):
    sign_in(client, world.a.accounts[Role.SOCIAL_WORKER])
    refused = client.get(LETTER + query)
    assert refused.status_code == 422
    assert message in field_error(refused.text, field)
    assert 'id="pick-title"' in refused.text  # back on step 1


def sunday_after(days: int) -> str:
    day = seoul_today() + timedelta(days=days)
    return (day + timedelta(days=(6 - day.weekday()) % 7)).isoformat()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"send_date": sunday_after(3)}, "send_date", "발송할 수 없는 날입니다. 다음 발송 가능일"),
        ({"send_date": "2020-03-02"}, "send_date", "지난 날짜입니다"),
        ({"send_date": "03/02/2030"}, "send_date", "날짜가 아닙니다"),
        ({"title": ""}, "title", "필수 항목입니다"),
        ({"template_id": ""}, "template_id", "필수 항목입니다"),
        ({"household_ids": []}, "household_ids", "가구를 하나 이상 고르세요"),
    ],
)
def test_a_bad_letter_step_is_shown_at_its_field(client, world, town, changes, field, message):
    sign_in(client, world.a.accounts[Role.SOCIAL_WORKER])
    step2 = ticked(town["inside"])
    refused = post_form(client, step2, NEW, draft_form(town, **changes))
    assert refused.status_code == 422
    assert message in field_error(refused.text, field)
    assert mailings() == []


def test_a_template_is_added_with_its_merge_fields_checked(client, world, town):
    sign_in(client, world.a.accounts[Role.SOCIAL_WORKER])
    step2 = ticked(town["inside"])
    carried = {"kind": "list", "household_ids": [str(i) for i in town["inside"]]}
    new = carried | {"name": "겨울 안내", "contact": "복지과 02-1", "body": "{addressee}님 {ssn}"}
    bad = post_form(client, step2, "/registry/mailings/templates", new)
    assert bad.status_code == 422 and "ssn" in field_error(bad.text, "body")
    assert "고른 가구: 2곳" in bad.text  # still step 2, the choice kept
    good = post_form(client, step2, "/registry/mailings/templates", new | {"body": "{addressee}님"})
    assert good.status_code == 302
    template = db.session.scalar(
        sa.select(LetterTemplate).where(LetterTemplate.name == "겨울 안내")
    )
    assert good.headers["Location"].startswith(LETTER + "?kind=list&household_ids=")
    back = client.get(good.headers["Location"]).text
    assert f'value="{template.id}" checked' in back and "고른 가구: 2곳" in back


def test_a_suspended_agreement_refuses_the_submission(client, world, town):
    sign_in(client, world.a.accounts[Role.SOCIAL_WORKER])
    page = make_draft(client, town)
    world.a.municipality.agreement_status = "suspended"
    db.session.commit()
    refused = post_form(client, page, f"{page}/submit", {"confirm": "yes"})
    assert refused.status_code == 403 and "협약" in refused.text
    assert mailings()[0].status == "draft"


def test_another_municipality_s_mailing_and_template_are_not_found(client, world, town):
    sign_in(client, world.a.accounts[Role.SOCIAL_WORKER])
    page = make_draft(client, town)
    post_form(client, page, f"{page}/submit", {"confirm": "yes"})
    deliver_due()
    batch = db.session.scalar(sa.select(LetterBatch.id))
    stranger = world.b.accounts[Role.SOCIAL_WORKER]
    sign_in(client, stranger)
    token = csrf_of(client.get("/registry/mailings/").text)
    for method, path in (
        ("GET", page),
        ("GET", f"{page}/preview.pdf"),
        ("POST", f"{page}/submit"),
        ("GET", f"/registry/mailings/batches/{batch}/letters.pdf"),
        ("GET", f"/registry/mailings/batches/{batch}/manifest.csv"),
    ):
        data = {"csrf_token": token, "confirm": "yes"}
        response = client.open(path, method=method, data=data, headers=HTML)
        assert response.status_code == 404, path
        assert "11월 복지등기" not in response.text
    assert "11월 복지등기" not in client.get("/registry/mailings/").text
    theirs = post_form(client, ticked(town["inside"]), NEW, draft_form(town))
    assert theirs.status_code == 404  # tenant a's template
    assert len(mailings()) == 1


def test_the_mailing_pages_are_for_the_municipal_team_only(app, client, world):
    routes = page_routes(app, "mail_pages")
    assert len(routes) >= 10
    outsiders = [world.a.accounts[role] for role in (Role.DISPATCHER, Role.CARRIER)]
    assert_pages_refused(client, routes, outsiders, ("복지등기 발송",))


def test_an_auditor_reads_the_mailings_but_changes_nothing(client, world, town):
    sign_in(client, world.a.accounts[Role.SOCIAL_WORKER])
    page = make_draft(client, town)
    sign_in(client, world.a.accounts[Role.AUDITOR])
    listed = client.get("/registry/mailings/").text
    assert "11월 복지등기" in listed and "새 우편 만들기" not in listed
    shown = client.get(page).text
    assert "보낼 가구: 2곳" in shown and 'name="confirm"' not in shown
    assert client.get(f"{page}/preview.pdf").status_code == 200
    token = csrf_of(shown)
    for path in (NEW, "/registry/mailings/templates", f"{page}/submit"):
        assert client.post(path, data={"csrf_token": token}, headers=HTML).status_code == 403
    for path in (NEW, ticked(town["inside"])):
        assert client.get(path, headers=HTML).status_code == 403
    assert mailings()[0].status == "draft"


def test_the_mailing_pages_have_their_english(client, world, town):
    sign_in(client, world.a.accounts[Role.SOCIAL_WORKER])
    page = make_draft(client, town)
    client.get("/language/en?next=/registry/mailings/")
    listed = client.get("/registry/mailings/").text
    assert (
        "Welfare mailings" in listed and "New mailing" in listed and "복지등기 발송" not in listed
    )
    shown = client.get(page).text
    assert "Households to mail: 2" in shown and "Not assigned to a carrier district." in shown
    step2 = client.get(ticked(town["inside"])).text
    assert "Letter and send date" in step2 and "편지 양식" not in step2
