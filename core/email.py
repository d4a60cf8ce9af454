"""E-mail over SMTP, queued in the outbox: an e-mail names an account, never an address.

The address is read when the worker sends, so it never sits in an outbox row (nor in its
error text), and a changed or cleared address is honoured. Nothing is queued while SMTP_HOST
is empty. A 4xx reply or a network failure is retried with the outbox's backoff; a 5xx refusal
of the recipient or of the message is permanent.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import sqlalchemy as sa
from flask import current_app

from core.auth.models import Account
from core.db import db, transaction
from core.outbox import DeliveryFailed, Message, enqueue

KIND = "email"


def email_enabled() -> bool:
    """Whether alert e-mail is configured (SMTP_HOST set)."""
    return bool(current_app.config["SMTP_HOST"])


def enqueue_email(account_id: int, subject: str, body: str) -> None:
    """Queue a plain-text e-mail to the account's work address (sent after commit, if on)."""
    if email_enabled():
        enqueue(KIND, {"account_id": account_id, "subject": subject, "body": body}, account_id)


def _address(account_id: int) -> str | None:
    with transaction():
        return db.session.scalar(
            sa.select(Account.email).where(Account.id == account_id, Account.is_active.is_(True))
        )


def _compose(message: Message, address: str) -> EmailMessage:
    sender = current_app.config["SMTP_FROM"]
    email = EmailMessage()
    email["From"] = sender
    email["To"] = address
    email["Subject"] = message.payload["subject"]
    email["Date"] = formatdate(localtime=False)
    # Stable across retries, so a mail system can drop a repeat (the outbox's idempotency).
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    email["Message-ID"] = f"<welfare-post.outbox.{message.id}@{domain}>"
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
    # base64: Korean text travels safely through relays without 8BITMIME.
    email.set_content(message.payload["body"], cte="base64")
    return email


def _send(email: EmailMessage) -> None:
    config = current_app.config
    host, port, timeout = config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_TIMEOUT_S"]
    context = ssl.create_default_context()
    if config["SMTP_SSL"]:
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    with smtp:
        if config["SMTP_STARTTLS"] and not config["SMTP_SSL"]:
            smtp.starttls(context=context)
        if config["SMTP_USERNAME"]:
            # str(): a WELFARE_SMTP_PASSWORD of digits only arrives as a number.
            smtp.login(str(config["SMTP_USERNAME"]), str(config["SMTP_PASSWORD"] or ""))
        smtp.send_message(email)


def _failure(error: smtplib.SMTPException | OSError, account_id: int) -> DeliveryFailed:
    """Classify a failed send; the reason names the reply code, never the address."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code = next(iter(error.recipients.values()))[0]
        reason = f"SMTP {code}: recipient of account {account_id} refused"
        return DeliveryFailed(reason, permanent=code >= 500)
    if isinstance(error, smtplib.SMTPDataError):
        reason = f"SMTP {error.smtp_code}: message to account {account_id} refused"
        return DeliveryFailed(reason, permanent=error.smtp_code >= 500)
    # Anything else is the server, the network or our own settings (login, sender, TLS), not
    # this message: retried with backoff (bounded), so fixing the settings still sends it.
    code = getattr(error, "smtp_code", None)
    return DeliveryFailed(f"SMTP unavailable: {type(error).__name__} {code or ''}".strip())


def deliver(message: Message) -> None:
    """Outbox handler for e-mail: send it to the account's current work address."""
    if not email_enabled():
        raise DeliveryFailed("e-mail is not configured (SMTP_HOST)", permanent=True)
    address = _address(message.payload["account_id"])
    if address is None:
        return  # the address was cleared or the account disabled since: nothing to send
    try:
        _send(_compose(message, address))
    except (smtplib.SMTPException, OSError) as error:
        raise _failure(error, message.payload["account_id"]) from error
