"""A household's timeline with trends, and the whereabouts-unknown list."""

from __future__ import annotations

from core.auth.roles import Role
from core.db import db
from municipalities.mail.services import record_event
from municipalities.mail.tracking import EventCode
from tests.carrier_api.test_visits import OBSERVATION, day, item, post, record  # noqa: F401
from tests.routing.test_planning import office  # noqa: F401
from tests.welfare_checks.test_check_reports import absent, social

PILING = OBSERVATION | {"mail_piling": True}


def again(number: str) -> None:
    """The item goes out once more (a later round)."""
    mail = item(number)
    record_event(mail, EventCode.OUT_FOR_DELIVERY, actor_id=None)  # out again
    db.session.commit()


def test_the_timeline_shows_everything_and_flags_an_observation_three_visits_running(
    client,
    day,  # noqa: F811
):
    number = day["numbers"][0]
    for visit in range(3):
        if visit:
            again(number)
        assert post(client, day, absent(number, PILING)).status_code == 201
    household = item(number).household_id
    response = client.get(f"/api/v1/households/{household}/timeline", headers=social(day))
    assert response.status_code == 200, response.json
    body = response.json
    kinds = [e["kind"] for e in body["entries"]]
    assert {"mailing", "tracking", "check"} <= set(kinds) and kinds.count("check") == 3
    [trend] = [t for t in body["trends"] if t["question"] == "mail_piling"]
    assert len(trend["reports"]) == 3 and trend["label"]["ko"]
    other = client.get(
        f"/api/v1/households/{household}/timeline", headers=day["tenant"].headers(Role.DISPATCHER)
    )
    assert other.status_code == 404


def test_whereabouts_lists_households_with_the_evidence(client, day, world):  # noqa: F811
    moved, vacant, fine = day["numbers"][:3]
    moved_answers = OBSERVATION | {"vacancy_signs": "neighbour_says_moved"}
    assert post(client, day, absent(moved, moved_answers) | {"outcome": "moved"}).status_code == 201
    assert (
        post(client, day, absent(vacant, OBSERVATION | {"contact": "no_resident"})).status_code
        == 201
    )
    assert post(client, day, record(fine)).status_code == 201
    listed = client.get("/api/v1/whereabouts", headers=social(day)).json
    by_household = {h["household_id"]: {e["kind"] for e in h["evidence"]} for h in listed}
    assert by_household[item(moved).household_id] >= {"check_absent_moved", "vacancy_signs"}
    assert "check_no_resident_absent" in by_household[item(vacant).household_id]
    assert item(fine).household_id not in by_household
    assert client.get("/api/v1/whereabouts", headers=world.b.headers(Role.SOCIAL_WORKER)).json == []
