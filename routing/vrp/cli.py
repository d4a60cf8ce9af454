"""`flask routing solve PROBLEM.json`: solve any VROOM-format problem from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

import click
from flask.cli import AppGroup

from routing.vrp.decompose import solve_large

routing_cli = AppGroup("routing", help="경로 계획 (Route planning).")


# No app context: the solver needs neither the database nor the configuration.
@routing_cli.command("solve", with_appcontext=False)
@click.argument("problem", type=click.File("rb"))
@click.option(
    "--time-limit",
    type=click.FloatRange(min=0.1, max=24 * 3600),
    default=10.0,
    show_default=True,
    help="Seconds of search (the solver process is killed 5 s after).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the solution here instead of standard output.",
)
@click.option(
    "--osrm-url",
    envvar="WELFARE_OSRM_URL",
    help="OSRM /table service for problems given as coordinates (default: great-circle).",
)
def solve_command(problem: IO[bytes], time_limit: float, output: Path | None, osrm_url: str | None):
    """Solve PROBLEM.json ("-" for stdin); print VROOM's solution JSON, exit with its code."""
    try:
        data = json.load(problem)
    except (ValueError, UnicodeDecodeError) as exc:
        result = {"code": 2, "error": f"problem: not valid JSON ({exc})"}
    else:
        result = solve_large(data, time_limit, osrm_url=osrm_url)
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
    raise SystemExit(result["code"])
