"""A local FCM HTTP v1 endpoint with Google's OAuth token endpoint, for pyfcm's real client.

The service account file it writes names this server as its token_uri, so google-auth signs a
real JWT assertion and pyfcm posts real v1 requests here. Tokens steer the answer:
"unregistered-*" → 404 UNREGISTERED, "invalid-*" → 400 invalid registration token,
"busy-*" → 429 with Retry-After (`busy_for` times), anything else → 200.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PROJECT = "welfare-post-test"
ACCESS_TOKEN = "fake-fcm-access-token"  # noqa: S105 - a test server's token


@cache
def _private_key_pem() -> str:
    """One RSA key per test run (making one takes a while); its endpoint is each fake's own."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@dataclass
class FakeFcm:
    """Use as a context manager; `.endpoint`, `.write_service_account(dir)`, `.sent`."""

    busy_for: int = 1
    retry_after: int = 120
    sent: list[dict] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    token_requests: int = 0

    def __enter__(self) -> FakeFcm:
        fake = self
        busy: dict[str, int] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/token":
                    fake.token_requests += 1
                    form = parse_qs(body.decode())
                    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
                    self._json(200, {"access_token": ACCESS_TOKEN, "expires_in": 3600})
                    return
                if self.path != f"/v1/projects/{PROJECT}/messages:send":
                    self._json(404, {"error": {"status": "NOT_FOUND"}})
                    return
                if self.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
                    self._json(401, {"error": {"status": "UNAUTHENTICATED"}})
                    return
                message = json.loads(body)["message"]
                token = message["token"]
                if token.startswith("unregistered-"):
                    fake.refused.append((404, token))
                    error = {"status": "NOT_FOUND", "details": [{"errorCode": "UNREGISTERED"}]}
                    self._json(404, {"error": error})
                elif token.startswith("invalid-"):
                    fake.refused.append((400, token))
                    error = {
                        "status": "INVALID_ARGUMENT",
                        "message": "The registration token is not a valid FCM registration token",
                    }
                    self._json(400, {"error": error})
                elif token.startswith("busy-") and busy.get(token, 0) < fake.busy_for:
                    busy[token] = busy.get(token, 0) + 1
                    fake.refused.append((429, token))
                    self._json(429, {"error": {"status": "RESOURCE_EXHAUSTED"}}, fake.retry_after)
                else:
                    fake.sent.append(message)
                    self._json(200, {"name": f"projects/{PROJECT}/messages/{len(fake.sent)}"})

            def _json(self, status: int, body: dict, retry_after: int | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if retry_after is not None:
                    self.send_header("Retry-After", str(retry_after))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.endpoint = f"{self.base}/v1/projects"
        return self

    def write_service_account(self, directory: Path) -> Path:
        """A service account file whose token endpoint is this server."""
        pem = _private_key_pem()
        path = directory / "fcm-service-account.json"
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": PROJECT,
                    "private_key_id": "test-key",
                    "private_key": pem,
                    "client_email": f"push@{PROJECT}.iam.gserviceaccount.com",
                    "client_id": "1",
                    "token_uri": f"{self.base}/token",
                }
            )
        )
        return path

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def fcm_on(app, tmp_path, monkeypatch) -> Iterator[FakeFcm]:
    """FCM configured, at a local fake: pushes are queued only while it is (core/push.py).
    Import it into a test module and ask for it by name (or pytest.mark.usefixtures)."""
    with FakeFcm() as fake:
        service_account = fake.write_service_account(tmp_path)
        monkeypatch.setitem(app.config, "FCM_SERVICE_ACCOUNT_FILE", str(service_account))
        monkeypatch.setitem(app.config, "FCM_ENDPOINT", fake.endpoint)
        yield fake
