"""An empty mailing filter is refused; mailing every active household has to be said outright."""

from __future__ import annotations

from datetime import date

import pytest

from core.auth.roles import Role
from core.db import db
from municipalities.mail.models import Mailing
from tests.municipalities.mail.test_mail import next_working
from tests.municipalities.mail.test_pages_mail import (  # noqa: F401
    LETTER,
    field_error,
    mailings,
    make_draft,
    town,
)
from tests.support.desk import sign_in

EVERYBODY = "활성 가구 전체 (all active households)"


def create(client, town: dict, selection: dict):  # noqa: F811
    return client.post(
        "/api/v1/mailings",
        json={
            "title": "전체 안내",
            "template_id": town["template"],
            "selection": selection,
            "send_date": next_working(),
        },
        headers=town["headers"],
    )


@pytest.mark.parametrize(
    ("selection", "words"),
    [
        ({}, "받을 가구를 고르세요"),
        ({"all_active": False}, "all_active for all active households"),
        ({"all_active": True, "risk_source": "gas_arrears"}, "not both"),
    ],
    ids=["empty", "all-active-false", "all-active-and-a-filter"],
)
def test_an_empty_or_contradictory_selection_is_a_422_naming_it(client, town, selection, words):  # noqa: F811
    refused = create(client, town, selection)
    assert refused.status_code == 422
    assert words in refused.json["error"]["fields"]["selection"][0]
    assert mailings() == []


def test_all_active_households_are_chosen_outright_and_the_preview_says_so(client, town):  # noqa: F811
    created = create(client, town, {"all_active": True})
    assert created.status_code == 201, created.json
    assert created.json["selection"] == {"all_active": True}
    preview = client.get(
        f"/api/v1/mailings/{created.json['id']}/preview", headers=town["headers"]
    ).json
    assert preview["selection_summary"] == EVERYBODY
    assert preview["household_count"] == 2  # the third lies outside every district
    filtered = create(client, town, {"risk_source": "gas_arrears"}).json
    summary = client.get(f"/api/v1/mailings/{filtered['id']}/preview", headers=town["headers"])
    assert "risk_source=gas_arrears" in summary.json["selection_summary"]


def test_a_draft_saved_with_an_empty_filter_is_neither_previewed_nor_submitted(client, world, town):  # noqa: F811
    draft = Mailing(
        municipality_id=world.a.municipality.id,
        title="예전 초안",
        template_id=town["template"],
        selection={},
        send_date=date.fromisoformat(next_working()),
    )
    db.session.add(draft)
    db.session.commit()
    for method, path in (("GET", "preview"), ("POST", "submit")):
        refused = client.open(
            f"/api/v1/mailings/{draft.id}/{path}", method=method, headers=town["headers"]
        )
        assert refused.status_code == 422
        assert "selection" in refused.json["error"]["fields"]
    assert mailings()[0].status == "draft"


# --- the wizard ----------------------------------------------------------------------------------


def test_the_wizard_refuses_an_empty_filter_at_step_one(client, world, town):  # noqa: F811
    sign_in(client, world.a.accounts[Role.SOCIAL_WORKER])
    refused = client.get(LETTER + "?kind=filter")
    assert refused.status_code == 422
    assert 'id="pick-title"' in refused.text  # back on step 1
    assert "받을 가구를 고르세요" in field_error(refused.text, "selection")
    assert 'id="all_active"' in refused.text
    both = client.get(LETTER + "?kind=filter&all_active=true&risk_source=gas_arrears")
    assert both.status_code == 422 and "not both" in field_error(both.text, "selection")


def test_the_wizard_mails_all_active_households_when_ticked_and_says_so(client, world, town):  # noqa: F811
    sign_in(client, world.a.accounts[Role.SOCIAL_WORKER])
    step2 = client.get(LETTER + "?kind=filter&all_active=true")
    assert step2.status_code == 200
    summary = step2.text.split('id="selection-summary">')[1].split("</p>")[0]
    assert "관리 중인 가구 전체" in summary
    page = make_draft(client, town, kind="filter", all_active="true")
    assert mailings()[0].selection == {"all_active": True}
    shown = client.get(page).text
    assert "관리 중인 가구 전체" in shown.split('id="selection-summary">')[1].split("</p>")[0]
    assert "보낼 가구: 2곳" in shown
