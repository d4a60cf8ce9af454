"""Postal-network CLI: `flask offices create`, `flask districts load`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click
from flask.cli import AppGroup
from marshmallow import ValidationError

from core.auth.principal import COMMAND_LINE
from core.clock import DEFAULT_WEEKDAYS
from core.db import transaction
from core.errors import ApiError
from postal.schemas import WeekdaysField
from postal.services import NewOffice, create_office, load_districts, office_by_code

offices_cli = AppGroup("offices", help="우체국 (Delivery offices).")
districts_cli = AppGroup("districts", help="집배구 (Carrier districts).")


def _fail(error: ApiError) -> click.ClickException:
    lines = [error.message]
    for name, problems in error.fields.items():
        for problem in problems:
            lines.append(f"  {name}: {problem}")
    return click.ClickException("\n".join(lines))


def _weekdays(ctx: click.Context, param: click.Parameter, value: str | None) -> Sequence[int]:
    """--weekdays "0,1,2,3,4,5" checked as the API checks delivery_weekdays (default 0-4)."""
    if value is None:
        return DEFAULT_WEEKDAYS
    try:
        return WeekdaysField(strict=False).deserialize(value.split(","))
    except ValidationError as error:
        problems = error.messages
        if isinstance(problems, dict):  # one list of messages per bad item
            problems = sorted({message for found in problems.values() for message in found})
        raise click.BadParameter(" ".join(problems)) from error


@offices_cli.command("create")
@click.option("--code", required=True)
@click.option("--name", required=True)
@click.option("--address", "road_address", required=True)
@click.option("--postal-code")
@click.option("--lon", type=float, required=True, help="depot longitude")
@click.option("--lat", type=float, required=True, help="depot latitude")
@click.option(
    "--weekdays",
    callback=_weekdays,
    help="배달 요일 (delivery weekdays), 0=Monday ... 6=Sunday, e.g. 0,1,2,3,4,5; default 0-4",
)
def create_command(code, name, road_address, postal_code, lon, lat, weekdays) -> None:
    """Register a delivery office."""
    new = NewOffice(
        code=code,
        name=name,
        road_address=road_address,
        postal_code=postal_code,
        depot=[lon, lat],
        delivery_weekdays=weekdays,
    )
    try:
        with transaction():
            office = create_office(COMMAND_LINE, new)
    except ApiError as error:
        raise _fail(error) from error
    click.echo(f"Created office {office.code} (id {office.id}).")


@districts_cli.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--office", "code", required=True, help="우체국 코드 (office code)")
def load_command(file: Path, code: str) -> None:
    """Add or replace an office's districts from a GeoJSON file; every problem is listed."""
    try:
        data = json.loads(file.read_bytes())
    except ValueError as error:
        raise click.ClickException(f"{file.name} is not JSON: {error}") from error
    try:
        with transaction():
            loaded = load_districts(COMMAND_LINE, office_by_code(code), data)
    except ApiError as error:
        if "features" in error.fields:
            lines = [error.message] + [
                f"  feature {p.get('feature', '?')} ({p.get('code') or '-'}): "
                f"{p.get('message', p.get('problem'))}"
                for p in error.fields["features"]
            ]
            raise click.ClickException("\n".join(lines)) from error
        raise _fail(error) from error
    click.echo(f"Loaded {len(loaded)} districts for office {code}.")
