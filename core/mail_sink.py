"""A local mail sink for the demo: an SMTP server on 127.0.0.1 that keeps every message it is
given as an .eml file (`python3 dev.py run` starts it and points WELFARE_SMTP_* at it), so a
newcomer reads the alert e-mail the welfare team would get without any mail server.

    python -m core.mail_sink --dir instance/mail --port 8025

Open a file with any mail program, or read it as text. Development only: it accepts mail from
anyone who can reach the port, so it listens on the loopback address alone.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

HOST = "127.0.0.1"


class FileSink:
    """aiosmtpd handler: each message becomes <UTC time>-<n>.eml in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._serial = itertools.count(1)

    def path_for(self) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return self.folder / f"{stamp}-{os.getpid()}-{next(self._serial):04d}.eml"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's naming
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        path = self.path_for()
        # The envelope's recipients first (as a delivering server would add them), then the
        # message exactly as sent. Written whole, then renamed: never a half file to open.
        head = "".join(f"X-Envelope-To: {address}\r\n" for address in envelope.rcpt_tos)
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(head.encode("ascii", "replace") + envelope.original_content)
        temporary.replace(path)
        return "250 OK: kept as " + path.name


def serve(folder: Path, port: int) -> Controller:
    """Start the sink on HOST:port (port 0: a free one; `.port` says which); stop() ends it."""
    controller = _Controller(FileSink(folder), hostname=HOST, port=port)
    controller.start()
    return controller


class _Controller(Controller):
    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]  # the port really bound
        super()._trigger_server()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="instance/mail", type=Path)
    parser.add_argument("--port", default=8025, type=int)
    args = parser.parse_args(argv)
    controller = serve(args.dir, args.port)
    print(f"mail sink: smtp://{HOST}:{controller.port} → {args.dir}/*.eml", flush=True)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
