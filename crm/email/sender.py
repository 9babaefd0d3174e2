"""Turning an outbox row into a MIME message and handing it to a mail backend.

Backends (chosen by MAIL_BACKEND, or SMTP when MAIL_SERVER is set and the console otherwise;
"memory" under TESTING):
- "smtp": the MAIL_* settings, one connection reused for a batch;
- "console": development: the message is printed (logged quietly under TESTING) and counts as sent;
- "memory": tests: messages are appended to `MEMORY_OUTBOX`.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import sys
from email import policy
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Protocol

from flask import current_app
from markupsafe import escape

from crm.email.models import ONE_TIME_LINK_PLACEHOLDER

log = logging.getLogger("crm.email")

#: What the "memory" backend has sent (tests read and clear it).
MEMORY_OUTBOX: list[EmailMessage] = []


class PermanentFailure(Exception):
    """The server refused the message for good (5xx on every recipient): retrying will not help."""


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, keeping the class it makes for each header name: the stock
    one makes a new class (`type(...)`) each time a header is set or counted, which was ~40% of
    building a message (cProfile, 500 campaign messages). And it parses each value of the MIME
    headers every message repeats (a part's Content-Type, its Content-Transfer-Encoding,
    MIME-Version) once: parsing them again was a third of building a message. A parsed header is
    immutable (a `str` with its parse), so messages can share it."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type] = {}
        self._repeated: dict[tuple[str, str], Any] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        found = self._classes.get(key)
        if found is None:
            found = self._classes[key] = super().__getitem__(name)
        return found

    def __call__(self, name: str, value: Any) -> Any:
        if name.lower() not in _MIME_HEADERS or not isinstance(value, str):
            return super().__call__(name, value)
        key = (name, value)
        found = self._repeated.get(key)
        if found is None:
            found = super().__call__(name, value)
            if len(self._repeated) < 64:  # the few values these take; a boundary's is never kept
                self._repeated[key] = found
        return found


#: Headers the content manager sets on every message and part, with a handful of values.
_MIME_HEADERS = frozenset({"content-type", "content-transfer-encoding", "mime-version"})


_POLICY = policy.default.clone(max_line_length=998, header_factory=_HeaderClasses())


def _header_value(value: object) -> str:
    """No CR or LF in a header: a value can never add a header of its own."""
    return " ".join(str(value).splitlines()).strip()


class MessageHeaders:
    """Header values parsed once for a batch of messages (the default policy parses each header it
    is given, a good part of building a message): the sender and date, and any header value that
    repeats from one message to the next (List-Unsubscribe-Post)."""

    def __init__(self, sender: str) -> None:
        self.sender = sender
        self.domain = _header_value(sender.rpartition("@")[2].strip("> ") or "localhost")
        self._parsed: dict[tuple[str, str], Any] = {}
        self.from_ = self.parsed("From", sender)
        self.date = self.parsed("Date", formatdate(localtime=False))

    def parsed(self, name: str, value: object) -> Any:
        key = (name, _header_value(value))
        found = self._parsed.get(key)
        if found is None:
            found = _POLICY.header_factory(*key)
            if len(self._parsed) < 64:  # repeating values only; a per-message one is not kept
                self._parsed[key] = found
        return found


def build_message(row: Any, sender: str, headers: MessageHeaders | None = None) -> EmailMessage:
    """An outbox row (anything with the OutboxMessage columns) as a text + HTML message; `headers`
    carries what a batch of messages shares (made here when not given)."""
    shared = headers if headers is not None and headers.sender == sender else MessageHeaders(sender)
    # Long lines rather than folded ones: a folded List-Unsubscribe URL would be encoded, and broken.
    message = EmailMessage(policy=_POLICY)
    message["From"] = shared.from_
    message["To"] = _header_value(row.to_email)
    message["Subject"] = shared.parsed("Subject", row.subject)  # a campaign's is every message's
    message["Date"] = shared.date
    # Stable per outbox row, so a receiving server can drop a duplicate after a lost "250".
    created = int(row.created_at.timestamp()) if row.created_at else 0
    message["Message-ID"] = f"<outbox.{row.id}.{created}@{shared.domain}>"
    for name, value in (row.headers or {}).items():
        clean = _header_value(name)
        if clean and clean.lower() not in {"from", "to", "subject", "date", "message-id"}:
            message[clean] = shared.parsed(clean, value) if clean in _REPEATING else _header_value(value)
    text, html = row.body_text, row.body_html
    link = getattr(row, "one_time_link", None)
    if link:  # the live link goes only into the email as it leaves (crm.email.services.queue_email)
        text = text.replace(ONE_TIME_LINK_PLACEHOLDER, link)
        html = html.replace(ONE_TIME_LINK_PLACEHOLDER, str(escape(link)))
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


#: Headers whose value is the same in many messages (parsed once a batch by MessageHeaders).
_REPEATING = frozenset({"List-Unsubscribe-Post"})


class Backend(Protocol):
    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


class ConsoleBackend:
    """Development: the message goes to standard output; under TESTING to the debug log only."""

    def send(self, message: EmailMessage) -> None:
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        rendered = (
            f"---------- email ----------\nTo: {message['To']}\nSubject: {message['Subject']}\n\n"
            f"{text}\n---------------------------"
        )
        if current_app.config.get("TESTING"):
            log.debug("console email to %s: %s", message["To"], message["Subject"])
        else:
            sys.stdout.write(rendered + "\n")
            sys.stdout.flush()

    def close(self) -> None:
        return None


class MemoryBackend:
    def send(self, message: EmailMessage) -> None:
        MEMORY_OUTBOX.append(message)

    def close(self) -> None:
        return None


class SMTPBackend:
    """SMTP with STARTTLS (MAIL_USE_TLS) or implicit TLS (MAIL_USE_SSL / port 465)."""

    def __init__(self, config: Any) -> None:
        self.host = config["MAIL_SERVER"]
        self.port = int(config.get("MAIL_PORT") or 587)
        self.username = config.get("MAIL_USERNAME")
        self.password = config.get("MAIL_PASSWORD")
        self.use_tls = bool(config.get("MAIL_USE_TLS"))
        self.use_ssl = bool(config.get("MAIL_USE_SSL")) or self.port == 465
        self.timeout = float(config.get("MAIL_TIMEOUT", 30))
        self.connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        connection: smtplib.SMTP
        if self.use_ssl:
            connection = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.use_tls:  # the context (its CA store read from disk) only when TLS is used
                connection.starttls(context=ssl.create_default_context())
        if self.username:
            connection.login(self.username, self.password or "")
        return connection

    def send(self, message: EmailMessage) -> None:
        if self.connection is None:
            self.connection = self._connect()
        try:
            self.connection.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            self._reset()
            codes = [code for code, _ in error.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                raise PermanentFailure(f"recipient refused: {error.recipients}") from error
            raise
        except (smtplib.SMTPException, OSError):
            self._drop()
            raise

    def _reset(self) -> None:
        """After a refused message the connection is still good: RSET and carry on."""
        try:
            if self.connection is not None:
                self.connection.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            try:
                connection.close()
            except OSError:
                pass

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                connection.close()


def backend_name(config: Any) -> str:
    if config.get("MAIL_BACKEND"):
        return str(config["MAIL_BACKEND"])
    if config.get("MAIL_SERVER"):
        return "smtp"
    # Tests read what was sent from MEMORY_OUTBOX: one-time links exist only in the sent email.
    return "memory" if config.get("TESTING") else "console"


def get_backend() -> Backend:
    """A fresh backend for one batch of messages (the SMTP one keeps its connection until closed)."""
    config = current_app.config
    name = backend_name(config)
    if name == "smtp":
        return SMTPBackend(config)
    if name == "memory":
        return MemoryBackend()
    return ConsoleBackend()
