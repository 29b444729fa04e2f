"""A small local HTTP server standing in for a webhook receiver: records when each alert's webhook arrived."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookArrivals:
    """perf_counter() of each `event` webhook by the alert's sensor, once its whole body was read."""

    def __init__(self) -> None:
        self._arrived: dict[tuple[str, str], float] = {}
        self._changed = threading.Condition()

    def record(self, event: str, sensor: str | None, at: float) -> None:
        with self._changed:
            self._arrived.setdefault((event, sensor or ""), at)
            self._changed.notify_all()

    def wait(self, event: str, sensor: str, timeout: float) -> float | None:
        """When the webhook arrived (perf_counter), or None if it did not within `timeout`."""
        with self._changed:
            self._changed.wait_for(lambda: (event, sensor) in self._arrived, timeout)
            return self._arrived.get((event, sensor))


@contextmanager
def webhook_receiver() -> Iterator[tuple[WebhookArrivals, str]]:
    """(arrivals, URL to register as a contact's webhook_url); answers 204 to every POST."""
    arrivals = WebhookArrivals()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            at = time.perf_counter()
            payload = json.loads(body)
            arrivals.record(self.headers.get("X-Dorpskluis-Event", ""), payload.get("alert", {}).get("sensor"), at)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:  # keep the progress display clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="bench-webhooks", daemon=True)
    thread.start()
    try:
        yield arrivals, f"http://127.0.0.1:{server.server_address[1]}/hooks/dorpskluis"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
