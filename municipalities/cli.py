"""Registry CLI: `flask households import|geocode|reindex`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from core.auth.principal import COMMAND_LINE
from core.db import transaction
from core.errors import ApiError
from municipalities import household_import
from municipalities.jobs import configured_geocoder, geocode_pending
from municipalities.services import municipality_by_code, reindex_households

households_cli = AppGroup("households", help="가구 명부 (Household registry).")


def echo_problems(title: str, problems) -> None:
    """Print row problems, one per line."""
    if problems:
        click.echo(f"{title}:")
    for problem in problems:
        column = f" [{problem.column}]" if problem.column else ""
        click.echo(f"  행 {problem.row}{column} {problem.code}: {problem.message}")


@households_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--municipality", "code", required=True, help="지자체 코드 (municipality code)")
@click.option("--dry-run", is_flag=True, help="검사만 하고 저장하지 않음 (check only)")
def import_command(file: Path, code: str, dry_run: bool) -> None:
    """Import households from a CSV (UTF-8/CP949) or XLSX file, all or nothing."""
    try:
        with transaction():
            municipality = municipality_by_code(code)
            report = household_import.import_file(
                COMMAND_LINE, municipality, file.read_bytes(), file.name, dry_run=dry_run
            )
    except ApiError as error:
        raise click.ClickException(error.message) from error
    click.echo(
        f"{file.name}: {report.encoding}, {report.total_rows} rows, {report.valid_rows} valid, "
        f"{len(report.errors)} with problems"
    )
    echo_problems("Warnings", report.warnings)
    echo_problems("Problems", report.errors)
    if not report.accepted:
        raise click.ClickException(
            "Nothing was imported: fix the rows above and run again."
            if not dry_run
            else "Dry run: the file has problems; a real import would be refused."
        )
    if dry_run:
        click.echo("Dry run: nothing written. The file would import cleanly.")
    else:
        click.echo(
            f"Imported {report.created} households: {report.assigned} in a district, "
            f"{report.outside_districts} outside every district, {report.not_geocoded} to geocode."
        )


@households_cli.command("geocode")
@click.option("--limit", default=500, show_default=True)
def geocode_command(limit: int) -> None:
    """Geocode households that came without coordinates (needs WELFARE_GEOCODER_URL)."""
    geocoder = configured_geocoder()
    if geocoder is None:
        raise click.ClickException("No geocoder configured: set WELFARE_GEOCODER_URL.")
    url = current_app.config["GEOCODER_URL"]
    run = geocode_pending(geocoder, limit)
    click.echo(
        f"geocoded {run.geocoded}, not found {run.not_found}, "
        f"unavailable for {run.failed} (left pending), from cache {run.from_cache}"
    )
    if run.failed:
        # A non-zero exit lets the scheduler notice the outage; the data above is committed.
        raise click.ClickException(
            f"The geocoder at {url} was unavailable: {run.failed} household(s) stay pending; "
            "run again later."
        )


@households_cli.command("reindex")
def reindex_command() -> None:
    """Compute the households' blind indexes again (after an upgrade or an index-key change)."""
    with transaction():
        report = reindex_households()
    click.echo(f"{report.checked} households checked, {report.changed} re-indexed.")
    for household_id, first in report.duplicates:
        click.echo(
            f"  가구 #{household_id} = 가구 #{first}: 같은 가구로 보입니다. 하나를 종결하세요. "
            "(Now seen as the same household: close one.)"
        )
