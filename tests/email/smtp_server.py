"""A real SMTP server on loopback (aiosmtpd) whose replies a test scripts, counting deliveries."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from email import message_from_bytes
from email.message import Message

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ScriptedHandler:
    """Answers DATA with the next scripted reply (then `default`); keeps what it accepted."""

    def __init__(self) -> None:
        self.replies: list[str] = []
        self.default = "250 OK"
        self.rcpt_reply: str | None = None
        self.accepted: list[Message] = []
        self.attempts = 0
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        with self._lock:
            self.attempts += 1
            reply = self.replies.pop(0) if self.replies else self.default
            if reply.startswith("250"):
                self.accepted.append(message_from_bytes(envelope.original_content or envelope.content))
        return reply

    def count_by_message_id(self) -> Counter[str]:
        return Counter(str(m["Message-ID"]) for m in self.accepted)


class SMTPServer:
    def __init__(self) -> None:
        self.handler = ScriptedHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SMTPServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def app_config(self) -> dict[str, object]:
        return {
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": self.port,
            "MAIL_USE_TLS": False,
            "MAIL_USERNAME": None,
            "MAIL_TIMEOUT": 5,
        }
