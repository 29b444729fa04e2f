"""Real servers that notifications go to in tests: an SMTP server (aiosmtpd) and an HTTP server that checks the
webhook signature the way a receiver following docs/protocol.md would."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from dorpskluis.broker import free_port


class SmtpInbox:
    """Collects every message the SMTP server accepted."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]


@contextmanager
def smtp_server() -> Iterator[tuple[SmtpInbox, int]]:
    inbox = SmtpInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@dataclass
class Delivery:
    event: str
    delivery_id: str
    payload: dict
    signature_valid: bool


class WebhookReceiver:
    """Records POSTs; answers with the queued status codes first (e.g. 500s to provoke retries), then 204."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.deliveries: list[Delivery] = []
        self.refused = 0
        self.statuses: list[int] = []
        self._lock = threading.Lock()

    def verify(self, header: str, body: bytes) -> bool:
        parts = dict(item.split("=", 1) for item in header.split(","))
        expected = hmac.new(self.secret, f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts.get("v1", ""))

    def received(self, event: str | None = None) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if event is None or d.event == event]


@contextmanager
def webhook_server(secret: bytes) -> Iterator[tuple[WebhookReceiver, str]]:
    receiver = WebhookReceiver(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with receiver._lock:
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                if status >= 300:
                    receiver.refused += 1
                else:
                    receiver.deliveries.append(
                        Delivery(
                            event=self.headers["X-Dorpskluis-Event"],
                            delivery_id=self.headers["X-Dorpskluis-Delivery"],
                            payload=json.loads(body),
                            signature_valid=receiver.verify(self.headers["X-Dorpskluis-Signature"], body),
                        )
                    )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver, f"http://127.0.0.1:{server.server_address[1]}/hooks/dorpskluis"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
