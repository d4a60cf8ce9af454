"""An OSRM-compatible /table server on loopback: answers from great-circle distances, fails on
demand, and makes chosen points unreachable (null entries), so answers can be checked exactly."""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

EARTH_RADIUS_M = 6_371_008.8


def great_circle_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine distance in metres between (lon, lat) points (written apart from routing)."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


@dataclass
class FakeOsrm:
    """Use as a context manager; `.url`, `.requests` (paths asked), `.fail_status` to fail."""

    speed_m_s: float = 5.0
    fail_status: int | None = None
    unreachable: set[tuple[float, float]] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)

    def table(self, coords: list[tuple[float, float]], sources, destinations) -> dict:
        """The body OSRM would send for these coordinates."""
        distances, durations = [], []
        for s in sources:
            row_d, row_t = [], []
            for d in destinations:
                a, b = coords[s], coords[d]
                if a != b and (a in self.unreachable or b in self.unreachable):
                    row_d.append(None)
                    row_t.append(None)
                    continue
                metres = great_circle_m(a, b)
                row_d.append(round(metres, 1))
                row_t.append(round(metres / self.speed_m_s, 1))
            distances.append(row_d)
            durations.append(row_t)
        return {"code": "Ok", "durations": durations, "distances": distances}

    def __enter__(self) -> FakeOsrm:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                url = urlsplit(self.path)
                fake.requests.append(url.path)
                if fake.fail_status is not None:
                    body = {"code": "TooBig", "message": "Too many table coordinates"}
                    return self._send(fake.fail_status, body)
                parts = url.path.split("/")
                if parts[1:3] != ["table", "v1"] or len(parts) != 5:
                    return self._send(400, {"code": "InvalidUrl", "message": "bad path"})
                coords = [tuple(map(float, c.split(","))) for c in parts[4].split(";")]
                query = parse_qs(url.query)
                every = list(range(len(coords)))
                sources = _indices(query, "sources") or every
                destinations = _indices(query, "destinations") or every
                self._send(200, fake.table(coords, sources, destinations))

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _indices(query: dict[str, list[str]], key: str) -> list[int]:
    values = query.get(key)
    if not values or values[0] == "all":
        return []
    return [int(i) for i in values[0].split(";")]
