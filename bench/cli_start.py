"""A 3-stop problem through `flask --app app routing solve --time-limit 30`: the wall time from
starting the command to its answer (issue 17, item 3). Target: <= 1 s.

    .venv/bin/python bench/cli_start.py [--runs 5]

Runs the command --runs times with PYTHONDONTWRITEBYTECODE=1 and no byte code of the
repository's modules (as this environment has it: they are compiled again at every start; the
installed packages keep theirs), then --runs times with byte code (after one run that writes
it), and prints each wall time, with where the time goes: the command's start without a solve
(`routing --help`), importing the solver, and the solve as its answer's summary reports it
(seconds_used, and why it stopped); the load average says how much others used the cores. It
leaves the repository without byte code, as it found it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLASK = ROOT / ".venv" / "bin" / "flask"
PYTHON = ROOT / ".venv" / "bin" / "python"
TARGET_S = 1.0
# Three stops around Seoul City Hall, one vehicle from there: VROOM's format, coordinates only.
THREE_STOPS = {
    "vehicles": [{"id": 1, "start": [126.978, 37.566], "end": [126.978, 37.566]}],
    "jobs": [
        {"id": 1, "location": [126.988, 37.566]},
        {"id": 2, "location": [126.99, 37.575]},
        {"id": 3, "location": [126.975, 37.58]},
    ],
}


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of one run of the command in the repository, and what it printed.

    Its output goes to a file, as `> answer.json` in a shell: the time ends when the command
    does, not when the solver processes' server it leaves behind closes the output too.
    """
    with tempfile.TemporaryFile("w+") as out:
        began = time.perf_counter()
        quiet = subprocess.DEVNULL
        subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=quiet, check=True)
        wall = time.perf_counter() - began
        out.seek(0)
        return wall, out.read()


def clear_byte_code() -> None:
    """Remove the byte code of the repository's own modules (the installed packages keep theirs)."""
    for top in ROOT.iterdir():
        if top.is_dir() and not top.name.startswith("."):
            for cache in top.rglob("__pycache__"):
                shutil.rmtree(cache)
    shutil.rmtree(ROOT / "__pycache__", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as problem:
        json.dump(THREE_STOPS, problem)
    solve = [str(FLASK), "--app", "app", "routing", "solve", "--time-limit", "30", problem.name]
    start_only = [str(FLASK), "--app", "app", "routing", "--help"]
    importing = [str(PYTHON), "-c", "import routing.vrp.decompose"]
    no_bytecode = os.environ | {"PYTHONDONTWRITEBYTECODE": "1"}
    bytecode = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    medians = []
    for label, env in (("PYTHONDONTWRITEBYTECODE=1", no_bytecode), ("byte code", bytecode)):
        clear_byte_code()
        if env is bytecode:
            timed(solve, env)  # writes the byte code the measured runs read
        walls = []
        for _ in range(args.runs):
            wall, out = timed(solve, env)
            summary = json.loads(out)["summary"]
            walls.append(wall)
            print(
                f"{label}: {wall:.3f} s (solve {summary['seconds_used']:.3f} s, "
                f"stopped: {summary['stopped']})"
            )
        start = statistics.median(timed(start_only, env)[0] for _ in range(args.runs))
        imports = statistics.median(timed(importing, env)[0] for _ in range(args.runs))
        medians.append(statistics.median(walls))
        print(f"  median {medians[-1]:.3f} s, fastest {min(walls):.3f} s")
        print(f"  start without a solve {start:.3f} s, python importing the solver {imports:.3f} s")
    clear_byte_code()
    os.unlink(problem.name)
    verdict = "met" if max(medians) <= TARGET_S else "MISSED"
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"slower median {max(medians):.3f} s (target <= {TARGET_S} s: {verdict})")


if __name__ == "__main__":
    sys.exit(main())
