"""A household's story in one view, and the households whose whereabouts are in doubt."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from core.audit import record_access
from core.auth.principal import Principal
from core.db import db
from municipalities.mail.history import (
    events_of_household,
    items_returned_for,
    items_sent_to,
    repeated_absences,
)
from municipalities.services import get_household, road_addresses
from welfare_checks import survey
from welfare_checks.access import reads_here
from welfare_checks.models import Case, CheckReport

TREND_VISITS = 3  # the same observation this many visits running is a trend
OBSERVATIONS = (
    "needs_help",
    "mail_piling",
    "bad_smell",
    "insects",
    "rubbish_bottles",
    "lights_tv_on_absent",
    "mobility_difficulty",
)
# What puts a household on the whereabouts list (resident-registration fact-finding).
RETURN_REASONS = ("moved", "address_unknown", "absent_limit")
VACANT = ("looks_vacant", "neighbour_says_moved")


def timeline(principal: Principal, household_id: int) -> dict[str, Any]:
    """Every mailing, tracking event, check and case of a household, newest first, and trends."""
    household = get_household(principal, household_id, log_as="timeline")
    entries: list[dict[str, Any]] = []
    for item in items_sent_to(household.id):
        entries.append(
            {
                "at": item.mailing_created_at,
                "kind": "mailing",
                "ref": item.item_id,
                "summary": f"{item.mailing_title} ({item.registered_number})",
            }
        )
    for event in events_of_household(household.id):
        entries.append(
            {
                "at": event.at,
                "kind": "tracking",
                "ref": event.item_id,
                "summary": f"{event.code} ({event.registered_number})",
            }
        )
    reports = _reports(household.id)
    for report in reports:
        fired = ", ".join(report.fired) or "-"
        entries.append(
            {
                "at": report.visited_at,
                "kind": "check",
                "ref": report.id,
                "summary": f"{report.severity}: {report.outcome}, {report.contact} [{fired}]",
            }
        )
    for case in db.session.scalars(sa.select(Case).where(Case.household_id == household.id)):
        entries.append(
            {
                "at": case.opened_at,
                "kind": "case",
                "ref": case.id,
                "summary": f"{case.severity}: {case.status}",
            }
        )
    entries.sort(key=lambda e: (e["at"], e["kind"]), reverse=True)
    return {"household_id": household.id, "entries": entries, "trends": trends(reports)}


def _reports(household_id: int) -> list[CheckReport]:
    return list(
        db.session.scalars(
            sa.select(CheckReport)
            .where(CheckReport.household_id == household_id)
            .order_by(CheckReport.visited_at, CheckReport.id)
        )
    )


def trends(reports: list[CheckReport]) -> list[dict[str, Any]]:
    """Observations true TREND_VISITS or more visits running (reports in visit order)."""
    labels = _labels()
    found, streak, runs = [], defaultdict(int), defaultdict(list)
    for report in reports:
        answers = json.loads(report.answers)
        for question in OBSERVATIONS:
            if answers.get(question) is True:
                streak[question] += 1
                runs[question].append(report.id)
            else:
                streak[question], runs[question] = 0, []
            if streak[question] == TREND_VISITS:
                found.append(
                    {
                        "question": question,
                        "label": labels.get(question, {}),
                        "reports": list(runs[question]),
                    }
                )
    return found


def _labels() -> dict[str, dict[str, str]]:
    definition = survey.latest("wellbeing").definition()
    return {q["id"]: q["label"] for q in definition["questions"]}


def whereabouts(principal: Principal) -> list[dict[str, Any]]:
    """Households whose residence is in doubt, each with the evidence (newest first)."""
    if not reads_here(principal):
        return []
    evidence: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in items_returned_for(principal.municipality_id, RETURN_REASONS):
        evidence[item.household_id].append(
            {
                "kind": f"returned_{item.return_reason}",
                "at": item.updated_at,
                "detail": item.registered_number,
            }
        )
    for absent in repeated_absences(principal.municipality_id, at_least=2):
        evidence[absent.household_id].append(
            {"kind": "repeated_absence", "at": absent.last_at, "detail": f"{absent.absences}"}
        )
    reports = db.session.scalars(
        sa.select(CheckReport).where(
            CheckReport.municipality_id == principal.municipality_id,
            sa.or_(
                CheckReport.contact == "no_resident",
                CheckReport.outcome.in_(("moved", "address_unknown")),
            ),
        )
    )
    for report in reports:
        evidence[report.household_id].append(
            {
                "kind": f"check_{report.contact}_{report.outcome}",
                "at": report.visited_at,
                "detail": f"report {report.id}",
            }
        )
    vacant = db.session.scalars(
        sa.select(CheckReport).where(CheckReport.municipality_id == principal.municipality_id)
    )
    for report in vacant:
        if (
            json.loads(report.answers).get("vacancy_signs") in VACANT
            and report.contact != "no_resident"
        ):
            evidence[report.household_id].append(
                {"kind": "vacancy_signs", "at": report.visited_at, "detail": f"report {report.id}"}
            )
    addresses = road_addresses(list(evidence))
    if addresses:
        record_access(
            principal.account_id,
            "list",
            "household",
            list(addresses),
            principal.municipality_id,
            "whereabouts",
        )
    out = [
        {
            "household_id": household_id,
            "road_address": addresses[household_id],
            "evidence": sorted(items, key=lambda e: e["at"], reverse=True),
        }
        for household_id, items in evidence.items()
    ]
    return sorted(out, key=lambda h: h["evidence"][0]["at"], reverse=True)
