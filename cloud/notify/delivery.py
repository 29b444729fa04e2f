"""ONE thread delivers the outbox, so slow mail servers and webhooks never hold up ingest or the API.

Each due notification is sent outside any transaction, then its outcome is written: sent, or another attempt
after a delay that doubles each time (`notify_retry_s`, 2×, 4×, …), or failed after `notify_max_attempts`.
The schedule lives in the table, so a restart picks up where the last run stopped.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

import httpx
from sqlalchemy import func, select

from cloud.db import Database, utcnow
from cloud.models_monitoring import Notification
from cloud.notify.outbox import EMAIL, WEBHOOK
from cloud.notify.senders import DeliveryError, post_webhook, send_email, webhook_client
from cloud.settings import Settings

log = logging.getLogger(__name__)

BATCH = 50
IDLE_POLL_S = 1.0
MAX_BACKOFF_S = 6 * 3600.0


class Notifier:
    """The delivery thread; `wake` after committing new notifications, `deliver_due` for one pass."""

    def __init__(self, db: Database, settings: Settings, webhook_secret: bytes | None) -> None:
        self._db = db
        self._settings = settings
        self._secret = webhook_secret
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http: httpx.Client | None = None  # one for all webhooks: built once, connections kept
        self._http_lock = threading.Lock()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dk-cloud-notify", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            self._wake.set()
            thread.join(timeout)
            if thread.is_alive():
                log.warning("notification thread still sending after %gs; leaving it behind", timeout)
                return
        with self._http_lock:
            http, self._http = self._http, None
        if http is not None:
            http.close()

    def wake(self) -> None:
        self._wake.set()

    def _client(self) -> httpx.Client:
        with self._http_lock:
            if self._http is None:
                self._http = webhook_client()
            return self._http

    def _run(self) -> None:
        self._client()  # built before the first alert, not while it waits
        while not self._stop.is_set():
            self._wake.clear()
            try:
                next_due = self.deliver_due()
            except Exception:  # a database outage: say so, keep the thread alive, try again later
                log.exception("notification delivery pass failed")
                next_due = None
            wait = IDLE_POLL_S
            if next_due is not None:
                wait = min(wait, max(0.0, (next_due - utcnow()).total_seconds()))
            self._wake.wait(wait)

    def deliver_due(self) -> datetime | None:
        """Send every notification that is due; return when the next pending one is due (None: none)."""
        while not self._stop.is_set():
            now = utcnow()
            with self._db.read() as session:
                due = session.scalars(
                    select(Notification)
                    .where(Notification.status == "pending", Notification.next_attempt_at <= now)
                    .order_by(Notification.next_attempt_at, Notification.id)
                    .limit(BATCH)
                ).all()
            for notification in due:
                if self._stop.is_set():
                    break
                self._deliver(notification)
            if len(due) < BATCH:
                break
        with self._db.read() as session:
            return session.scalar(
                select(func.min(Notification.next_attempt_at)).where(Notification.status == "pending")
            )

    def _deliver(self, notification: Notification) -> None:
        error: DeliveryError | None = None
        try:
            self._send(notification)
        except DeliveryError as exc:
            error = exc
        with self._db.write() as session:
            row = session.get(Notification, notification.id, with_for_update=True)
            if row is None or row.status != "pending":
                return
            now = utcnow()
            row.attempts += 1
            if error is None:
                row.status, row.sent_at, row.last_error = "sent", now, None
                log.info("notification %d (%s) sent to %s", row.id, row.event, row.target)
                return
            row.last_error = str(error)[:1000]
            if error.permanent or row.attempts >= self._settings.notify_max_attempts:
                row.status = "failed"
                log.warning("notification %d to %s failed for good: %s", row.id, row.target, error)
                return
            delay = min(MAX_BACKOFF_S, self._settings.notify_retry_s * 2 ** (row.attempts - 1))
            row.next_attempt_at = now + timedelta(seconds=delay)
            log.warning("notification %d to %s: %s; retrying in %.0fs", row.id, row.target, error, delay)

    def _send(self, notification: Notification) -> None:
        if notification.channel == EMAIL:
            send_email(self._settings, notification.target, notification.subject, notification.body.get("text", ""))
        elif notification.channel == WEBHOOK:
            timestamp = int(utcnow().timestamp())
            post_webhook(
                notification.target,
                self._secret,
                notification.event,
                notification.id,
                notification.body,
                timestamp,
                self._client(),
            )
        else:
            raise DeliveryError(f"unknown channel {notification.channel!r}", permanent=True)
