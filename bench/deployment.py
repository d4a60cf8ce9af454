"""What the multi-process benches share: a private Redis, scratch PostgreSQL databases, the app's
processes (web, scheduler, outbox workers) started with one environment, and their CPU use.

Used by bench/alerts_under_load.py and bench/plans_scale.py; not run by itself. Every process is
started in a session of its own, so it and whatever it starts (gunicorn's workers, the solver's
forkserver and its children, Celery's threads) are stopped together by process group, and a
Ctrl-C at the terminal reaches only the bench, which then stops them.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine() -> str:
    """nproc, the CPU model and Python: the first line of every report."""
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"machine: nproc {os.cpu_count()}, {cpu}, {platform.platform()}, "
        f"Python {platform.python_version()}; load average at start {load}"
    )


def command_line() -> str:
    return "command: " + " ".join([Path(sys.executable).name, *sys.argv])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.1):
    """Poll until condition() is truthy and return its value; RuntimeError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {timeout_s:.0f} s: {what}")
        time.sleep(every_s)


# --- PostgreSQL ----------------------------------------------------------------------------------


class Databases:
    """Scratch databases on one PostgreSQL server, each dropped at close (WITH FORCE)."""

    def __init__(self, server_url: str) -> None:
        url = sa.make_url(server_url)
        if not url.drivername.startswith("postgresql"):
            raise SystemExit("these benches need PostgreSQL (SQLite would serialise the writers)")
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        self.server = url
        self.admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        self.names: list[str] = []

    def create(self, name: str, template: str | None = None) -> str:
        """A new database (a copy of `template` if given); its URL."""
        copy = f' TEMPLATE "{template}"' if template else " TEMPLATE template0"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8'{copy}")
        self.names.append(name)
        return self.server.set(database=name).render_as_string(hide_password=False)

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.names:
            self.names.remove(name)

    def close(self) -> None:
        for name in list(self.names):
            with contextlib.suppress(Exception):
                self.drop(name)
        self.admin.dispose()


# --- processes -----------------------------------------------------------------------------------


@dataclass
class Fleet:
    """The processes a bench starts, by name; logs in `logs`, stopped together by stop_all()."""

    logs: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    starts: int = 0

    def start(
        self,
        name: str,
        args: list[str],
        *,
        ready: str | None = None,
        cpu: str | None = None,
        nice: int = 0,
        env: dict[str, str] | None = None,
        timeout_s: float = 120,
    ) -> subprocess.Popen:
        """Start a process (pinned with taskset to `cpu` if given, at a `nice` priority); wait
        for `ready` in its log."""
        self.starts += 1
        log = self.logs / f"{self.starts:02d}-{name}.log"
        command = (["taskset", "-c", cpu] if cpu else []) + (
            ["nice", "-n", str(nice)] if nice else []
        )
        command += args
        with log.open("w") as out:
            process = subprocess.Popen(  # noqa: S603 - our own commands
                command,
                cwd=ROOT,
                env=env or self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        process.log = log  # type: ignore[attr-defined]
        if ready is not None:
            self.wait_ready(name, log, ready, timeout_s)
        return process

    def wait_ready(self, name: str, log: Path, ready: str, timeout_s: float = 120) -> None:
        process = self.processes[name]

        def up() -> bool:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")
            return ready in log.read_text(errors="replace")

        wait_for(up, timeout_s, f"{name}: {ready!r} in {log}", every_s=0.05)

    def flask(self, name: str, *args: str, **kwargs: Any) -> subprocess.Popen:
        """`flask --app app ARGS` as a process of the fleet."""
        return self.start(name, [sys.executable, "-m", "flask", "--app", "app", *args], **kwargs)

    def worker(
        self, queue: str, celery: bool, *args: str, wait: bool = True, **kwargs: Any
    ) -> subprocess.Popen:
        """An outbox worker of one queue (Celery's when a broker is set, else the local one);
        waits until it is ready unless told not to."""
        ready = worker_ready(celery) if wait else None
        return self.flask(queue, "outbox", "run", "--queue", queue, *args, ready=ready, **kwargs)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a process and everything it started (its process group); wait for it."""
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.wait(30)

    def stop_all(self) -> None:
        """SIGTERM every group, then SIGKILL what is left after a few seconds."""
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # children whose parent already left
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        self.processes.clear()


def worker_ready(celery: bool) -> str:
    """What a worker's log says once it takes work."""
    return " ready." if celery else "local worker for"


class RedisServer:
    """A Redis of the bench's own on a free port of 127.0.0.1 (the machine's is shared)."""

    def __init__(self, directory: Path) -> None:
        self.port, self.dir = free_port(), directory
        self.process: subprocess.Popen | None = None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def __enter__(self) -> RedisServer:
        self.process = subprocess.Popen(  # noqa: S603 - redis-server of the machine
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )

        def answers() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                return False
            return True

        wait_for(answers, 10, "redis-server started")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


def terminate_on_sigterm() -> None:
    """A SIGTERM stops the bench like Ctrl-C does: through its finally blocks."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


# --- CPU accounting ------------------------------------------------------------------------------


def _proc_stats() -> dict[int, tuple[int, str, float]]:
    """Every process: (parent pid, command name, CPU seconds used by it and its reaped children)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        out[int(entry.name)] = (int(fields[1]), name, ticks / CLK_TCK)
    return out


def cpu_by_role(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process tree, PostgreSQL's server processes (all of its
    databases: other work on the machine included), and the machine as a whole (busy time)."""
    stats = _proc_stats()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out = {}
    for role, root in roots.items():
        if root == os.getpid():  # the bench itself: its children are the other roles
            out[role] = stats[root][2] if root in stats else 0.0
            continue
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            if pid in stats:
                total += stats[pid][2]
                todo += children.get(pid, [])
        out[role] = total
    out["postgres"] = sum(s for _, name, s in stats.values() if name.startswith("postgres"))
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(x) for x in cpu]
    out["machine busy"] = (sum(values) - values[3] - values[4]) / CLK_TCK
    return out


@contextlib.contextmanager
def cpu_window(roots: Callable[[], dict[str, int]], into: dict[str, float]) -> Iterator[None]:
    """Fill `into` with each role's CPU seconds per wall second (cores) during the block; roots
    is asked at both ends (a restarted worker counts from its start)."""
    before, began = cpu_by_role(roots()), time.monotonic()
    yield
    after, wall = cpu_by_role(roots()), time.monotonic() - began
    for role, used in after.items():
        into[role] = max(0.0, used - before.get(role, 0.0)) / wall
