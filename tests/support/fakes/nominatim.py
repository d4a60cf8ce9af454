"""A local fake Nominatim (GET /search only) for geocoder tests: loopback, in a thread."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit


class FakeNominatim:
    """Answers /search?q=... from {address: (lon, lat)}; can fail the next N requests."""

    def __init__(self, places: dict[str, tuple[float, float]]) -> None:
        """Serve places (address → (lon, lat)); start it with `with FakeNominatim(...) as fake`."""
        self.places = dict(places)
        self.requests: list[str] = []
        self.request_times: list[float] = []  # time.monotonic() of each request, in order
        self._failures: list[int] = []  # HTTP statuses still to answer, one per request
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the running server, e.g. "http://127.0.0.1:54321"."""
        if self._server is None:
            raise RuntimeError("FakeNominatim is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, n: int, status: int = 503) -> None:
        """Answer the next n requests with an HTTP error status (503 by default)."""
        with self._lock:
            self._failures.extend([status] * n)

    def __enter__(self) -> FakeNominatim:
        """Start serving on 127.0.0.1 with an OS-chosen port."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server and wait (boundedly) for its thread."""
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = None

    def _answer(self, query: dict[str, list[str]]) -> tuple[int, object]:
        """Record the request and return (status, JSON body)."""
        address = query.get("q", [""])[0]
        with self._lock:
            self.requests.append(address)
            self.request_times.append(time.monotonic())
            if self._failures:
                return self._failures.pop(0), {"error": "injected failure"}
        if query.get("format", [""])[0] not in ("json", "jsonv2"):
            return 400, {"error": "format must be json"}
        if address not in self.places:
            return 200, []
        lon, lat = self.places[address]
        return 200, [{"lat": str(lat), "lon": str(lon), "display_name": address}]


def _handler_for(fake: FakeNominatim) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 5  # a stuck client cannot hold a server thread for ever

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != "/search":
                status, body = 404, {"error": "not found"}
            else:
                status, body = fake._answer(parse_qs(parts.query))
            payload = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

    return Handler
