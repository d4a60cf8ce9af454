#!/usr/bin/env python3
"""One-command setup: `python3 dev.py run` serves the demo; `python3 dev.py test` runs the suite.

Needs only Python 3.11+ and git: it creates .venv, installs the project into it, and then runs
the project's own commands inside it.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
MAIL = ROOT / "instance" / "mail"  # the demo's alert e-mails (mail_sink)
#: The outbox's queues (core/outbox.py QUEUES; dev.py runs before the project is installed).
QUEUES = ("alerts", "notices", "plans", "letters", "imports", "maintenance")
#: pyproject.toml's extras that include another's packages.
CONTAINING = {"": ("demo", "dev"), "demo": ("dev",)}


def _run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], cwd=ROOT, check=True, env=env)  # noqa: S603


def ensure_environment(extras: str) -> None:
    """Create .venv and install the project (again only when pyproject.toml changed)."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on whatever python3 is
        sys.exit("welfare-post needs Python 3.11 or newer.")
    if not PYTHON.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extras or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    # An install with more extras serves too (the test tools include the demo's mail sink).
    done = [stamp, *(VENV / f".installed-{more}" for more in CONTAINING.get(extras, ()))]
    if any(path.exists() and path.read_text() == digest for path in done):
        return
    _run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    target = f".[{extras}]" if extras else "."
    _run(PYTHON, "-m", "pip", "install", "--quiet", "-e", target)
    # The letters' Korean font ships as a variable font: make its static instances once now,
    # not during the first request that renders a letter.
    _run(PYTHON, "-c", "from municipalities.mail.fonts import register_fonts; register_fonts()")
    stamp.write_text(digest)


def flask(*args: str, env: dict[str, str] | None = None) -> None:
    """Run `flask --app app ...` inside the environment."""
    _run(BIN / "flask", "--app", "app", *args, env=env)


class Supervisor:
    """Keep a background process running: start it again whenever it exits, until stopped."""

    def __init__(self, args: list[str], restart_after_s: float = 2.0) -> None:
        self.args = args
        self.restart_after_s = restart_after_s
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # stop() never misses a process being started
        self._process: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._keep_running, daemon=True)

    def start(self) -> None:
        """Start the process and watch it from a thread."""
        self._thread.start()

    def _keep_running(self) -> None:
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                self._process = subprocess.Popen(self.args, cwd=ROOT)  # noqa: S603
            code = self._process.wait()
            # A pause, so a process that cannot start does not spin; and Ctrl-C, which ends the
            # process too, reaches stop() within it instead of being followed by a restart.
            if self._stopping.wait(self.restart_after_s):
                return
            print(f"+ {' '.join(self.args)} exited with {code}; starting it again", flush=True)

    def stop(self) -> None:
        """Stop watching and end the process."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._thread.join()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def mail_sink(web_port: str) -> Supervisor | None:
    """Alert e-mails to a local sink (core/mail_sink.py: each message an .eml file in
    instance/mail/), unless WELFARE_SMTP_HOST names a real server; the settings reach the web
    process and the scheduler through the environment."""
    if os.environ.get("WELFARE_SMTP_HOST"):
        return None
    port = free_port()
    os.environ.update(
        {
            "WELFARE_SMTP_HOST": "127.0.0.1",
            "WELFARE_SMTP_PORT": str(port),
            "WELFARE_SMTP_STARTTLS": "false",
            "WELFARE_SMTP_FROM": "복지등기 데모 알림 <alerts@gaon.example>",
        }
    )
    os.environ.setdefault("WELFARE_PUBLIC_URL", f"http://127.0.0.1:{web_port}")
    sink = Supervisor(
        [str(PYTHON), "-m", "core.mail_sink", "--dir", str(MAIL), "--port", str(port)]
    )
    sink.start()
    return sink


def run(args: list[str]) -> None:
    """Set up, migrate, load the demo district and serve it on 127.0.0.1 with a worker."""
    ensure_environment("demo")
    port = args[0] if args else os.environ.get("PORT", "5000")
    flask("db", "upgrade")
    flask("demo", "load")
    sink = mail_sink(port)
    print(f"\n  welfare-post: http://127.0.0.1:{port}/login   API: /api/v1/openapi.json")
    if sink:
        print(
            f"  알림 메일: {MAIL.relative_to(ROOT)}/*.eml 에 파일로 저장 (로컬 메일 수신함)\n"
            f"  (alert e-mails are kept as files in {MAIL.relative_to(ROOT)}/: a local mail sink"
            f" on smtp://127.0.0.1:{os.environ['WELFARE_SMTP_PORT']}; set WELFARE_SMTP_HOST for"
            " a real server)"
        )
    print(
        f"  작업자: 대기열마다 하나 ({', '.join(QUEUES)}); 경로 계산이 알림을 늦추지 않습니다\n"
        "  (workers: one local process per queue, so a route solve never delays an alert)",
        flush=True,
    )
    # The scheduler only asks for work; one local worker per queue runs it (the same task code
    # Celery runs in production). Each rides out database restarts itself, and is started again
    # should it die anyway; the alerts worker says once whether pushes are off (no FCM).
    flask_cli = [str(BIN / "flask"), "--app", "app"]
    background = [Supervisor([*flask_cli, "scheduler", "run"])]
    background += [Supervisor([*flask_cli, "outbox", "run", "--queue", q]) for q in QUEUES]
    for process in background:
        process.start()
    try:
        flask("run", "--host", "127.0.0.1", "--port", port)
    finally:
        for process in background:
            process.stop()
        if sink:
            sink.stop()


def test(args: list[str]) -> None:
    """Set up with the test tools and run the whole suite (extra args go to pytest)."""
    ensure_environment("dev")
    _run(PYTHON, "-m", "pytest", *args)


def main() -> None:
    commands = {"run": run, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit("usage: python3 dev.py run [PORT] | python3 dev.py test [PYTEST ARGS]")
    try:
        commands[sys.argv[1]](sys.argv[2:])
    except subprocess.CalledProcessError as error:
        sys.exit(error.returncode)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
