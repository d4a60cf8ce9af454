"""`flask routing solve PROBLEM.json`: solve any VROOM-format problem from the command line.

The solver needs neither the database nor the configuration, so `routing` is a plain click
group that Flask finds as a plugin command (pyproject's "flask.commands" entry point): Flask
then never builds the app for it (create_app takes seconds, a 3-stop solve a fraction of
one). Flask loads every plugin before every `flask` command, so this module imports the solver
only when a solve runs.
"""

from __future__ import annotations

import json
from multiprocessing import forkserver
from pathlib import Path
from typing import IO

import click

routing_cli = click.Group("routing", help="경로 계획 (Route planning).")


@routing_cli.command("solve")
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
    _start_solver_server()
    from routing.vrp.decompose import solve_large  # here: see the module's docstring

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


def _start_solver_server() -> None:
    """Start the server solver processes fork from (routing.vrp.solve.solver_processes) now:
    it loads OR-Tools on the other core while this process loads it for itself."""
    forkserver.set_forkserver_preload(["routing.vrp.solve"])
    forkserver.ensure_running()
