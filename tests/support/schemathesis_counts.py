"""What schemathesis sent and what it found, by caller (tests/test_openapi.py fills it in).

Light on purpose (no Flask, no schemathesis): tests/conftest.py prints these counts in pytest's
terminal summary and writes them to test-artifacts/schemathesis.json at the end of a session
that ran the schemathesis tests.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.auth.roles import Role

ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "schemathesis.json"
#: Who calls: no one (no Authorization header), an account of each role, a carrier's phone.
NO_ONE, CARRIER_DEVICE = "none", "carrier device"
CALLERS = (NO_ONE, *(role.value for role in Role), CARRIER_DEVICE)
#: The tests that send schemathesis' requests (their time, setup included, is reported too).
TESTS = (
    "tests/test_openapi.py::test_every_operation_conforms[",
    "tests/test_openapi.py::test_every_caller_is_answered_as_documented[",
)
SERVER_ERRORS = ("not_a_server_error",)
SCHEMA_VIOLATIONS = (
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)


def _total(counters: Any) -> Counter:
    total: Counter = Counter()
    for counter in counters:
        total.update(counter)
    return total


@dataclass
class Counts:
    """Requests, their answers and the checks that failed, by caller and operation.

    A failing example that hypothesis runs again while shrinking counts again: any failure
    fails the test anyway, and these counts are for the run that passes.
    """

    #: caller -> operation ("GET /api/v1/...") -> requests sent
    requests: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    #: operation -> caller -> status ("200", "OPTIONS 200") -> answers
    statuses: defaultdict[str, defaultdict[str, Counter[str]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Counter))
    )
    #: caller -> check -> answers it ran on (passed or failed; a check that skips is not run)
    checked: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    #: caller -> check -> failures
    failures: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    #: Time spent in TESTS (setup, call and teardown).
    seconds: float = 0.0
    #: "sqlite" or "postgresql"
    database: str = ""

    def request(self, caller: str, operation: str) -> None:
        self.requests[caller][operation] += 1

    def answer(self, caller: str, operation: str, status: str) -> None:
        """An answer's status ("403"; "OPTIONS 200" to a method the operation does not have)."""
        self.statuses[operation][caller][status] += 1

    def check(self, caller: str, check: str, *, failed: bool) -> None:
        self.checked[caller][check] += 1
        if failed:
            self.failures[caller][check] += 1

    def failure(self, caller: str, what: str) -> None:
        """A failure that is no check's (an exception out of the call)."""
        self.failures[caller][what] += 1

    def timed(self, nodeid: str, seconds: float) -> None:
        """Add a test phase's duration if it is one of TESTS'."""
        if nodeid.startswith(TESTS):
            self.seconds += seconds

    def __bool__(self) -> bool:
        return bool(self.requests)

    def callers(self) -> list[str]:
        """The callers seen, in CALLERS' order (others after them)."""
        order = {caller: n for n, caller in enumerate(CALLERS)}
        return sorted(self.requests, key=lambda caller: (order.get(caller, len(order)), caller))

    @staticmethod
    def kinds(failures: Counter[str]) -> tuple[int, int, int]:
        """(server errors, schema violations, other failures) among failed checks."""
        server = sum(failures[name] for name in SERVER_ERRORS)
        schema = sum(failures[name] for name in SCHEMA_VIOLATIONS)
        return server, schema, sum(failures.values()) - server - schema

    def as_json(self) -> dict[str, Any]:
        failures = _total(self.failures.values())
        server, schema, other = self.kinds(failures)
        return {
            "database": self.database,
            "seconds": round(self.seconds, 1),
            "requests": sum(_total(self.requests.values()).values()),
            "operations": len(self.statuses),
            "server_errors": server,
            "schema_violations": schema,
            "other_failures": other,
            "checks": {
                name: {"ran": ran, "failed": failures[name]}
                for name, ran in sorted(_total(self.checked.values()).items())
            },
            "callers": {
                caller: {
                    "requests": sum(self.requests[caller].values()),
                    "operations": len(self.requests[caller]),
                    "statuses": _statuses(
                        _total(by_caller[caller] for by_caller in self.statuses.values())
                    ),
                    "failures_by_check": {
                        name: self.failures[caller][name]
                        for name in sorted(self.checked[caller] | self.failures[caller])
                    },
                }
                for caller in self.callers()
            },
            "statuses_by_operation": {
                operation: {
                    caller: _statuses(by_caller[caller])
                    for caller in self.callers()
                    if caller in by_caller
                }
                for operation, by_caller in sorted(self.statuses.items())
            },
        }

    def lines(self) -> list[str]:
        """The summary: the whole run, then one line per caller."""
        total = sum(_total(self.requests.values()).values())
        callers = self.callers()
        lines = [
            f"schemathesis on {self.database or '?'} ({self.seconds:,.0f} s):"
            f" {total:,} requests, {len(self.statuses)} operations"
            f" x {len(callers)} callers ({', '.join(callers)}):"
            f" {self._outcome(_total(self.failures.values()))}"
        ]
        for caller in callers:
            requests = self.requests[caller]
            lines.append(
                f"  {caller}: {sum(requests.values()):,} requests over {len(requests)}"
                f" operations: {self._outcome(self.failures[caller])}"
            )
        return lines

    def _outcome(self, failures: Counter[str]) -> str:
        server, schema, other = self.kinds(failures)
        text = f"{server:,} server errors, {schema:,} schema violations, {other:,} other failures"
        failed = ", ".join(f"{name} {n:,}" for name, n in sorted(failures.items()) if n)
        return f"{text} ({failed})" if failed else text

    def write(self, path: Path = ARTIFACT) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=1) + "\n", encoding="utf-8")


def _statuses(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda item: (" " in item[0], item[0])))


#: The session's counts (one pytest process).
COUNTS = Counts()
