"""`flask routing solve` through the installed `flask` command: it never builds the app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.cli_start import THREE_STOPS

ROOT = Path(__file__).resolve().parents[3]
FLASK = str(Path(sys.executable).with_name("flask"))


def flask(*args: str, app: str = "app") -> subprocess.CompletedProcess:
    return subprocess.run(
        [FLASK, "--app", app, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_a_small_problem_is_solved_and_stops_when_nothing_is_left_to_gain(tmp_path):
    problem = tmp_path / "three.json"
    problem.write_text(json.dumps(THREE_STOPS))
    done = flask("routing", "solve", "--time-limit", "30", str(problem))
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["code"] == 0 and answer["summary"]["unassigned"] == 0
    assert answer["summary"]["stopped"] != "time_limit"


def test_the_solver_needs_no_app_so_none_is_built(tmp_path):
    # An app that fails to load: the command does not notice, it never loads one.
    (tmp_path / "broken_app.py").write_text("raise RuntimeError('the app was built')\n")
    problem = tmp_path / "three.json"
    problem.write_text(json.dumps(THREE_STOPS))
    done = subprocess.run(
        [FLASK, "--app", "broken_app", "routing", "solve", str(problem), "--time-limit", "5"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "the app was built" not in done.stderr
    assert json.loads(done.stdout)["code"] == 0


def test_the_app_lists_routing_beside_its_own_commands():
    listed = flask("--help").stdout
    assert "routing" in listed and "outbox" in listed and "demo" in listed
    assert "solve" in flask("routing", "--help").stdout


def test_other_commands_do_not_load_the_solver():
    # Flask imports every plugin before any command: this module must stay light.
    check = "import sys, routing.vrp.cli; assert 'ortools' not in sys.modules, 'ortools'"
    done = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
