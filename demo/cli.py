"""`flask demo load`: a realistic, fictitious district built with the seeded generator."""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import asdict
from datetime import date, timedelta
from typing import TYPE_CHECKING

import click
import shapely
from flask import current_app
from flask.cli import AppGroup
from shapely.geometry import mapping, shape

from core.auth.principal import COMMAND_LINE
from core.auth.roles import Role
from core.auth.services import NewAccount, create_account, give_email_if_none
from core.clock import seoul_today
from core.db import transaction
from core.errors import NotFound
from demo.world import OFFICE_CODE, DemoWorld, generate_households, generate_world
from municipalities import household_import
from municipalities.mail.registered_numbers import make_number
from municipalities.services import NewMunicipality, create_municipality, municipality_by_code
from postal.directory import districts_of_office
from postal.services import (
    NewCarrier,
    NewOffice,
    create_carrier,
    create_office,
    load_districts,
    next_delivery_day,
    office_by_code,
)
from routing.office_items import NewOfficeItem, numbers_of_day, store_items

if TYPE_CHECKING:
    from postal.directory import DeliveryOffice

demo_cli = AppGroup("demo", help="데모 데이터 (Demo data).")

#: Shared by every demo login; shown by `flask demo load`. Never used outside demo mode.
DEMO_PASSWORD = "demo-welfare-2026"  # noqa: S105 - published on purpose for the demo
HEADERS = [
    "성명",
    "도로명주소",
    "상세주소",
    "우편번호",
    "전화번호",
    "가구유형",
    "위기요인",
    "경도",
    "위도",
    "메모",
]


def _households_csv(world: DemoWorld) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for h in world.households:
        writer.writerow(
            [
                h.name,
                h.road_address,
                h.address_detail or "",
                h.postal_code,
                h.phone or "",
                h.household_type,
                ";".join(h.risk_sources),
                f"{h.lon:.7f}",
                f"{h.lat:.7f}",
                h.note or "",
            ]
        )
    return out.getvalue().encode("utf-8")


#: The demo team's work addresses: alert e-mails go to them (in `dev.py run`, into the local
#: mail sink's instance/mail/; the .example domain is reserved, nothing is ever delivered).
DEMO_MAIL_DOMAIN = "gaon.example"


def _staff(municipality_id: int, office_id: int) -> list[tuple[str, str, Role, dict]]:
    town = {"municipality_id": municipality_id}

    def mail(username: str) -> dict:
        return town | {"email": f"{username}@{DEMO_MAIL_DOMAIN}"}

    return [
        ("admin", "시스템 관리자", Role.SYSTEM_ADMIN, {}),
        ("gaon.admin", "가온구 관리자", Role.MUNICIPAL_ADMIN, mail("gaon.admin")),
        ("gaon.sw1", "한지은 주무관", Role.SOCIAL_WORKER, mail("gaon.sw1")),
        ("gaon.sw2", "오세훈 주무관", Role.SOCIAL_WORKER, mail("gaon.sw2")),
        ("gaon.audit", "감사 담당", Role.AUDITOR, town),
        ("gaon.dispatch", "가온우체국 집배실장", Role.DISPATCHER, {"office_id": office_id}),
    ]


def load_demo(seed: int = 2026, households: int = 500) -> tuple[DemoWorld, bool]:
    """Build the demo district unless it exists; returns the world and whether it was created."""
    world = generate_world(seed=seed, households=households)
    try:
        municipality_by_code(world.municipality.code)
    except NotFound:
        pass  # not loaded yet
    else:
        _give_staff_addresses()
        return world, False
    municipality = create_municipality(
        COMMAND_LINE,
        NewMunicipality(
            **asdict(world.municipality),  # code, name and the sender identity of its letters
            agreement_status="active",
            agreement_start=date(2026, 1, 1),
            agreement_end=None,
        ),
    )
    office = create_office(
        COMMAND_LINE,
        NewOffice(
            code=world.office.code,
            name=world.office.name,
            road_address=world.office.road_address,
            postal_code=world.office.postal_code,
            depot=list(world.office.depot),
        ),
    )
    features = [
        {
            "type": "Feature",
            "properties": {"code": d.code, "name": d.name},
            "geometry": mapping(d.geometry),
        }
        for d in world.districts
    ]
    load_districts(COMMAND_LINE, office, {"type": "FeatureCollection", "features": features})
    district_ids = {district.code: district.id for district in districts_of_office(office.id)}
    for username, name, role, binding in _staff(municipality.id, office.id):
        create_account(
            COMMAND_LINE,
            NewAccount(
                username=username, display_name=name, password=DEMO_PASSWORD, role=role, **binding
            ),
        )
    for carrier in world.carriers:
        create_carrier(
            COMMAND_LINE,
            office,
            NewCarrier(
                username=carrier.username,
                display_name=carrier.display_name,
                password=DEMO_PASSWORD,
                employee_no=carrier.employee_no,
                home_district_id=district_ids[carrier.home_district],
            ),
        )
    if world.households:
        report = household_import.import_file(
            COMMAND_LINE, municipality, _households_csv(world), "demo.csv", dry_run=False
        )
        if not report.accepted:
            raise click.ClickException(f"demo households did not import: {report.errors[:3]}")
    add_office_day(office, next_delivery_day(office, seoul_today() + timedelta(days=1)), DEMO_ITEMS)
    return world, True


def _give_staff_addresses() -> None:
    """A demo loaded before the team had work addresses gets them (only where none is set)."""
    for username, _, _, binding in _staff(0, 0):
        if "email" in binding:
            give_email_if_none(username, binding["email"])


DEMO_ITEMS = 300
#: A day's demo numbers: service class 6 (other registered mail), serial MMDD + five digits.
DAY_SERIES = 100_000


def day_numbers(day: date, count: int, taken: set[str]) -> list[str]:
    """The first `count` numbers of the day's demo series that are not `taken`."""
    series = (make_number(day.year, int(f"{day:%m%d}{i:05d}"), "6") for i in range(DAY_SERIES))
    free = list(itertools.islice((n for n in series if n not in taken), count))
    if len(free) < count:
        raise click.ClickException(
            f"{day.isoformat()}에 더 넣을 등기번호가 없습니다. "
            f"(Only {len(free)} demo numbers left for {day.isoformat()}.)"
        )
    return free


def add_office_day(office: DeliveryOffice, day: date, count: int) -> int:
    """Give the office `count` more fictitious registered items for `day`, inside its districts.

    The day may have items already (`demo load` adds the next working day's, `demo day` any
    day's, as often as asked): the new ones take numbers the day has not used yet.
    """
    taken = numbers_of_day(office.id, day)
    area = shapely.union_all([shape(d.geometry) for d in districts_of_office(office.id)])
    # Seeded by how many the day has, so another batch for the day brings other people.
    people = generate_households(count, seed=day.toordinal() * DAY_SERIES + len(taken), area=area)
    items = [
        NewOfficeItem(
            registered_number=number,
            addressee=person.name,
            road_address=person.road_address,
            address_detail=person.address_detail,
            location=[person.lon, person.lat],
        )
        for number, person in zip(day_numbers(day, count, taken), people, strict=True)
    ]
    return len(store_items(office.id, day, items, None))


@demo_cli.command("load")
@click.option("--seed", default=2026, show_default=True)
@click.option("--households", default=500, show_default=True)
def load_command(seed: int, households: int) -> None:
    """Load the fictitious demo district (once; later runs only print the logins)."""
    if current_app.config["ENV"] == "production":
        raise click.ClickException("Refusing to load demo data in production mode.")
    with transaction():
        world, created = load_demo(seed, households)
    if created:
        click.echo(
            f"Loaded {world.municipality.name}: {world.office.name}, {len(world.districts)} "
            f"districts, {len(world.carriers)} carriers, {len(world.households)} households."
        )
    else:
        click.echo(f"Demo data for {world.municipality.name} is already loaded.")
    click.echo(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
    for username, name, role, _ in _staff(0, 0):
        click.echo(f"  {username:<14} {role.value:<16} {name}")
    click.echo(
        f"  {world.carriers[0].username:<14} carrier          ({len(world.carriers)} carriers)"
    )


@demo_cli.command("day")
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), help="default: next working day")
@click.option("--items", default=DEMO_ITEMS, show_default=True)
def day_command(day, items: int) -> None:
    """Add a day's fictitious registered items to the demo office, for planning routes."""
    with transaction():
        try:
            office = office_by_code(OFFICE_CODE)
        except NotFound:
            raise click.ClickException("Load the demo first: flask demo load") from None
        target = day.date() if day else next_delivery_day(office, seoul_today() + timedelta(days=1))
        added = add_office_day(office, target, items)
    click.echo(f"{office.name}: {added} registered items for {target.isoformat()}.")
