"""Sending one notification: email through smtplib, webhooks as signed HTTP POSTs through httpx."""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

import httpx

from cloud.settings import Settings
from lockers.errors import DorpskluisError

SIGNATURE_HEADER = "X-Dorpskluis-Signature"
TIMEOUT_S = 10.0


class DeliveryError(DorpskluisError):
    """A notification could not be delivered this time; `permanent` ones are not retried."""

    def __init__(self, detail: str, *, permanent: bool = False) -> None:
        super().__init__(detail)
        self.permanent = permanent


def send_email(settings: Settings, to: str, subject: str, text: str) -> None:
    """One plain-text mail through the configured server (STARTTLS and login when configured)."""
    if not settings.smtp_host:
        raise DeliveryError("email is disabled: DK_SMTP_HOST is not set", permanent=True)
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="dorpskluis")
    message.set_content(text)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_S) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                smtp.login(settings.smtp_username, password)
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"the mail server refused {to}: {exc.recipients}", permanent=True) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"mail server {settings.smtp_host}:{settings.smtp_port}: {exc}") from exc


def webhook_body(payload: dict) -> bytes:
    """The exact bytes POSTed (and signed): compact JSON with sorted keys, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256(secret, "<unix>." + body)>`, the value of X-Dorpskluis-Signature."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_client() -> httpx.Client:
    """An HTTP client for webhooks, to keep: building one loads the CA bundle (tens of ms, 150+ on a busy host)."""
    return httpx.Client(timeout=TIMEOUT_S, follow_redirects=False)


def post_webhook(
    url: str,
    secret: bytes | None,
    event: str,
    delivery_id: int,
    payload: dict,
    timestamp: int,
    client: httpx.Client | None = None,
) -> None:
    """POST the payload (through `client` when given, keeping its connections); any 2xx answer counts as
    delivered."""
    if secret is None:
        raise DeliveryError("no webhook secret: create DK_WEBHOOK_SECRET_FILE (python -m cloud init)", permanent=True)
    body = webhook_body(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "dorpskluis-webhooks/1",
        "X-Dorpskluis-Event": event,
        "X-Dorpskluis-Delivery": str(delivery_id),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    try:
        if client is None:
            response = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT_S, follow_redirects=False)
        else:
            response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"POST {url}: {type(exc).__name__}: {exc}") from exc
    if not response.is_success:
        raise DeliveryError(f"POST {url}: HTTP {response.status_code} {response.text[:200]!r}")
