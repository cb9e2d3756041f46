"""Email over SMTP: STARTTLS (RFC 3207), implicit TLS (RFC 8314) or, on loopback, none.

Each message is ``multipart/alternative`` with a plain-text and an HTML part
(RFC 2046 §5.1.4) and carries its outbox Message-ID, so a receiver can drop the
copy a retry may produce after a crash between sending and recording it.

Failures are classified for the outbox: SMTP 4xx replies and network errors are
temporary; a 5xx reply to the sender, a recipient or the data is permanent.
Authentication and TLS set-up failures are treated as temporary even when the
server answers 5xx: they are the deployment's fault, not the message's, and
retrying with back-off gives an operator time to fix the credentials instead
of losing every queued password-reset link.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from .messages import Message, PermanentFailure, TemporaryFailure

SECURITY_MODES = ("starttls", "tls", "none")
_ENHANCED = re.compile(rb"^\s*([245]\.\d{1,3}\.\d{1,3})\b")


def sender_domain(sender: str) -> str:
    """The domain of a From address, for Message-IDs (``"X <a@b.org>"`` gives ``b.org``)."""
    address = parseaddr(sender)[1]
    domain = address.rpartition("@")[2]
    return domain if "@" in address and domain else "localhost"


def _reply_code(code: int, text: bytes | str | None) -> str:
    """``smtp 550 5.1.1``: the reply and enhanced status codes, never the server's prose."""
    raw = text.encode("utf-8", "replace") if isinstance(text, str) else (text or b"")
    match = _ENHANCED.match(raw)
    return f"smtp {code} {match.group(1).decode()}" if match else f"smtp {code}"


def _classify(code: int, text: bytes | str | None) -> TemporaryFailure | PermanentFailure:
    if 400 <= code < 500:
        return TemporaryFailure(_reply_code(code, text))
    return PermanentFailure(_reply_code(code, text))


class SmtpEmailSender:
    """Sends one message per connection: simple, and nothing half-open between sends."""

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        sender: str,
        security: str = "starttls",
        user: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in SECURITY_MODES:
            raise ValueError(f"security must be one of {', '.join(SECURITY_MODES)}")
        if not parseaddr(sender)[1]:
            raise ValueError("sender must be an email address such as 'Name <no-reply@host>'")
        if user and security == "none":
            # Never send a password in clear text (RFC 4954 §4: PLAIN needs TLS).
            raise ValueError("SMTP login needs security 'starttls' or 'tls'")
        self.host = host
        self.port = port
        self.sender = sender
        self.security = security
        self._user = user
        self._password = password
        self._timeout = timeout
        # Verifies the certificate and host name (the default context does both).
        self._ssl = ssl_context or ssl.create_default_context()

    def build(self, message: Message, *, now: datetime | None = None) -> EmailMessage:
        """The RFC 5322 message: text first, HTML last (the preferred alternative)."""
        mail = EmailMessage()
        mail["Subject"] = message.subject or ""
        mail["From"] = self.sender
        mail["To"] = message.recipient
        mail["Date"] = format_datetime(now or datetime.now(UTC))
        mail["Message-ID"] = message.message_id or ""
        # RFC 3834: automatic mail; auto-responders should not answer it.
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(message.text)
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        return mail

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self._timeout, context=self._ssl)
        return smtplib.SMTP(self.host, self.port, timeout=self._timeout)

    def send(self, message: Message) -> None:
        try:
            mail = self.build(message)
        except (ValueError, TypeError):
            # A header the email package refuses (e.g. a line break): resending cannot help.
            raise PermanentFailure("invalid_message") from None
        envelope_from = parseaddr(self.sender)[1]
        try:
            smtp = self._connect()
        except smtplib.SMTPResponseException as exc:  # greeting refused (e.g. 554)
            raise TemporaryFailure(f"smtp_connect {exc.smtp_code}") from None
        except ssl.SSLError as exc:
            raise TemporaryFailure(f"tls_error {exc.__class__.__name__}") from None
        except (smtplib.SMTPException, OSError) as exc:
            # Refused, unreachable, timed out: the server may be back later.
            raise TemporaryFailure(f"connection_error {exc.__class__.__name__}") from None
        with smtp:  # QUIT and close, whatever happens below
            self._set_up(smtp)
            self._transfer(smtp, mail, envelope_from, message.recipient)

    def _set_up(self, smtp: smtplib.SMTP) -> None:
        """STARTTLS and login: a failure here is the deployment's, so always temporary."""
        try:
            if self.security == "starttls":
                smtp.starttls(context=self._ssl)
            if self._user:
                smtp.login(self._user, self._password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise TemporaryFailure(f"smtp_auth {exc.smtp_code}") from None
        except smtplib.SMTPNotSupportedError:
            raise TemporaryFailure("smtp_unsupported (STARTTLS or AUTH)") from None
        except smtplib.SMTPResponseException as exc:
            raise TemporaryFailure(f"smtp_setup {exc.smtp_code}") from None
        except ssl.SSLError as exc:
            raise TemporaryFailure(f"tls_error {exc.__class__.__name__}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(f"connection_error {exc.__class__.__name__}") from None

    def _transfer(
        self, smtp: smtplib.SMTP, mail: EmailMessage, envelope_from: str, recipient: str
    ) -> None:
        """MAIL, RCPT, DATA: the replies here are about this message."""
        try:
            smtp.send_message(mail, from_addr=envelope_from, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _classify(code, text) from None
        except smtplib.SMTPResponseException as exc:  # sender or data refused
            raise _classify(exc.smtp_code, exc.smtp_error) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(f"connection_error {exc.__class__.__name__}") from None
