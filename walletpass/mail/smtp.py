"""ADAPTER: send mail through the SMTP server of ``WALLETPASS_SMTP_URL`` (smtplib).

``smtp://[user:password@]host[:port]`` (port 25 by default) upgrades to TLS with STARTTLS when the server offers
it; ``smtps://…`` (port 465) speaks TLS from the start. A connection per message: the enrolment page's mails are
few, and a kept connection would be cut by the server's idle timeout between them. smtplib's errors become
:class:`~walletpass.errors.MailError` (``permanent`` for a 5xx answer).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from walletpass.errors import MailError


class SmtpMailer:
    """Sends messages through one SMTP server; *timeout* bounds each network wait (seconds)."""

    def __init__(self, url: str, *, timeout: float = 20.0) -> None:
        parts = urlsplit(url)
        self._tls = parts.scheme == "smtps"
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (465 if self._tls else 25)
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password or "")
        self._timeout = timeout

    def send(self, message: EmailMessage) -> None:
        """Hand *message* to the server (its To and From headers are the envelope)."""
        try:
            with self._connect() as smtp:
                if self._user:
                    smtp.login(self._user, self._password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise MailError(f"the mail server refused the recipient: {exc.recipients}",
                            permanent=all(c >= 500 for c in codes)) from exc
        except smtplib.SMTPResponseException as exc:
            raise MailError(f"the mail server answered {exc.smtp_code} {exc.smtp_error!r}",
                            permanent=exc.smtp_code >= 500) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"cannot reach the mail server {self._host}:{self._port}: {exc}") from exc

    def _connect(self) -> smtplib.SMTP:
        if self._tls:
            return smtplib.SMTP_SSL(self._host, self._port, timeout=self._timeout,
                                    context=ssl.create_default_context())
        smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        try:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp
