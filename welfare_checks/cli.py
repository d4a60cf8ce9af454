"""`flask scheduler`: the process that runs periodic jobs."""

from __future__ import annotations

import click
from flask.cli import AppGroup

scheduler_cli = AppGroup("scheduler", help="예약 작업 (Scheduled jobs: one leader at a time).")


@scheduler_cli.command("run")
@click.option(
    "--probe-every", type=float, default=None, help="also record a probe tick every S seconds"
)
def run_command(probe_every: float | None) -> None:
    """Run the scheduler; a second one waits and takes over if the first dies."""
    from welfare_checks import scheduler

    scheduler.run(probe_every_s=probe_every)
