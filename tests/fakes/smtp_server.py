"""A real SMTP server on loopback (aiosmtpd) that keeps every message it receives, for the enrolment page's mails.

``refuse`` makes it answer the DATA command with that SMTP reply (e.g. ``"550 5.1.1 no such mailbox"`` or
``"451 4.3.0 try again later"``) instead of taking the message.
"""

from __future__ import annotations

import socket
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller


class _Keep:
    def __init__(self, server: FakeSmtp) -> None:
        self.server = server

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.server.refuse:
            return self.server.refuse
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.server.received.append((list(envelope.rcpt_tos), msg))
        return "250 OK"


class FakeSmtp:
    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.refuse = ""
        self._controller = Controller(_Keep(self), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> FakeSmtp:
        self._controller.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._controller.stop()
