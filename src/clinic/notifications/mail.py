"""Email through Django's email backends, with a hand-off point for exactly-once sending.

`SMTPBackend` is Django's SMTP backend with one change: for a message that carries a
`handoff` callable, it transmits the whole message, calls `handoff()` *before* the final "."
that makes the server accept it, then sends the ".". The delivery service commits
`status=sending` in `handoff`, so:

- a crash before the hand-off leaves the delivery `queued`: the server never accepted anything
  (an SMTP transaction without its final "." is discarded), and the retry sends it;
- a crash after it leaves `sending`: the server may have the message, and the retry does not
  send it again.

If `handoff()` raises, the connection is dropped without the "." (nothing is delivered). Other
backends (console, file, locmem) have no such point: the sender calls `handoff()` itself just
before `send()`.

The server's reply to the final "." (often "250 2.0.0 Ok: queued as ABC123") is kept on the
message as `smtp_reply`, and stored as the delivery's provider message id.
"""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend as DjangoSMTPBackend
from django.core.mail.message import sanitize_address

CRLF = b"\r\n"


class HandoffAborted(Exception):
    """The hand-off hook refused (e.g. another attempt owns the delivery): nothing was sent."""


class SMTPBackend(DjangoSMTPBackend):
    supports_handoff = True

    def _send(self, email_message):
        handoff = getattr(email_message, "handoff", None)
        if handoff is None:
            return super()._send(email_message)
        if not email_message.recipients():
            return False
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        from_email = sanitize_address(email_message.from_email, encoding)
        recipients = [sanitize_address(a, encoding) for a in email_message.recipients()]
        payload = email_message.message().as_bytes(linesep="\r\n")
        conn = self.connection
        conn.ehlo_or_helo_if_needed()
        esmtp_opts = ["body=8bitmime"] if conn.has_extn("8bitmime") else []
        if conn.has_extn("smtputf8") and not from_email.isascii():
            esmtp_opts.append("smtputf8")
        code, resp = conn.mail(from_email, esmtp_opts)
        if code != 250:
            conn.rset()
            raise smtplib.SMTPSenderRefused(code, resp, from_email)
        refused = {}
        for rcpt in recipients:
            code, resp = conn.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = (code, resp)
        if len(refused) == len(recipients):
            conn.rset()
            raise smtplib.SMTPRecipientsRefused(refused)
        conn.putcmd("data")
        code, resp = conn.getreply()
        if code != 354:
            conn.rset()
            raise smtplib.SMTPDataError(code, resp)
        body = _quote_periods(payload)
        if not body.endswith(CRLF):
            body += CRLF
        conn.send(body)
        try:
            handoff()
        except BaseException:
            # Without the final "." the server discards the transaction.
            self._drop()
            raise
        conn.send(b"." + CRLF)
        code, resp = conn.getreply()
        if code != 250:
            raise smtplib.SMTPDataError(code, resp)
        email_message.smtp_reply = resp.decode("utf-8", "replace") if resp else ""
        email_message.smtp_refused = refused
        return True

    def _drop(self) -> None:
        conn, self.connection = self.connection, None
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass


def _quote_periods(data: bytes) -> bytes:
    """RFC 5321 dot-stuffing (smtplib's own helper is private)."""
    lines = data.split(CRLF)
    return CRLF.join(b"." + line if line.startswith(b".") else line for line in lines)
