"""A local SMTP server (aiosmtpd) that smtplib's real client talks to, with AUTH if asked.

Recipients steer the answer: "busy-*" → 451 at RCPT (`busy_for` times), "gone-*" → 550 at
RCPT, anything else is accepted and kept in `.received` as parsed messages.
"""

from __future__ import annotations

import email
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class Received:
    """One accepted message: the envelope's recipients and the parsed message."""

    rcpt_tos: list[str]
    message: EmailMessage


class _Controller(Controller):
    """aiosmtpd's threaded controller on a free port (port 0) of 127.0.0.1."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class FakeSmtp:
    """Use as a context manager; `.port`, `.received`, `.refused` (code, address)."""

    credentials: tuple[str, str] | None = None
    busy_for: int = 1
    received: list[Received] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    logins: int = 0
    _busy: dict[str, int] = field(default_factory=dict, repr=False)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's naming
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        local = address.partition("@")[0]
        if local.startswith("gone-"):
            self.refused.append((550, address))
            return "550 5.1.1 Mailbox unavailable"
        if local.startswith("busy-") and self._busy.get(address, 0) < self.busy_for:
            self._busy[address] = self._busy.get(address, 0) + 1
            self.refused.append((451, address))
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's naming
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=default)
        self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        self.logins += 1
        ok = isinstance(data, LoginPassword) and self.credentials == (
            data.login.decode(),
            data.password.decode(),
        )
        return AuthResult(success=ok)

    def __enter__(self) -> FakeSmtp:
        auth = (
            {"authenticator": self._authenticate, "auth_required": True} if self.credentials else {}
        )
        # No TLS on loopback in tests: AUTH over plain text is allowed here only.
        self._controller = _Controller(
            self, hostname="127.0.0.1", port=0, auth_require_tls=False, **auth
        )
        self._controller.start()
        self.port = self._controller.port
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()
