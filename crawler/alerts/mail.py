"""One e-mail delivery through SMTP (standard library `smtplib`), bounded by the channel's
timeout and retried with tenacity on temporary failures (4xx replies, timeouts, connections).

`starttls` and `tls` verify the server's certificate with the system's trust store; `none`
(plain SMTP) is only accepted by the watchlist for a loopback host. Credentials come from the
environment variables the channel names, and never appear in an error or a log line.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from email.message import EmailMessage

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from crawler.alerts.config import EmailChannel
from crawler.alerts.webhook import DeliveryError


def send_once(channel: EmailChannel, message: EmailMessage, environ: Mapping[str, str]) -> None:
    """Hand the message to the SMTP server once. DeliveryError on failure."""
    user = environ.get(channel.user_env or "") if channel.user_env else None
    password = environ.get(channel.password_env or "") if channel.password_env else None
    if channel.user_env and not (user and password):
        raise DeliveryError(f"the environment variables {channel.user_env} and "
                            f"{channel.password_env} (credentials of channel {channel.name}) "
                            "are not set", False)
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    try:
        if channel.security == "tls":
            smtp = smtplib.SMTP_SSL(channel.host, channel.port, timeout=channel.timeout,
                                    context=context)
        else:
            smtp = smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout)
        with smtp:
            if channel.security == "starttls":
                smtp.starttls(context=context)
            if user and password:
                smtp.login(user, password)
            smtp.send_message(message, from_addr=channel.sender,
                              to_addrs=list(channel.recipients))
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"the SMTP server answered {exc.smtp_code}",
                            400 <= exc.smtp_code < 500) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"the SMTP server refused the recipients "
                            f"{', '.join(sorted(exc.recipients))}", False) from exc
    except (TimeoutError, smtplib.SMTPServerDisconnected) as exc:
        # smtplib reports a read that timed out as a disconnection
        timed_out = isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError)
        raise DeliveryError(f"no answer within the timeout of {channel.timeout:g} s"
                            if timed_out else f"the SMTP server hung up: {exc}", True) from exc
    except ssl.SSLError as exc:
        raise DeliveryError(f"TLS error: {exc.reason or exc}", False) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP failed: {type(exc).__name__}: {exc}", True) from exc


def send(channel: EmailChannel, message: EmailMessage, environ: Mapping[str, str],
         sleep: Callable[[float], None] = time.sleep) -> int:
    """Send with up to `channel.retries` attempts; the attempts made. DeliveryError at the end."""
    attempts = 0

    def attempt() -> None:
        nonlocal attempts
        attempts += 1
        send_once(channel, message, environ)

    retrying = Retrying(
        stop=stop_after_attempt(channel.retries),
        wait=wait_exponential(multiplier=0.5, max=4),
        retry=retry_if_exception(lambda e: isinstance(e, DeliveryError) and e.retryable),
        sleep=sleep, reraise=True)
    try:
        retrying(attempt)
    except DeliveryError as exc:
        raise DeliveryError(f"{exc} (after {attempts} attempt{'s' * (attempts > 1)})",
                            exc.retryable) from exc
    return attempts
