"""The cloud's wall-clock duties, in one background thread: lockers gone offline, alerts nobody acknowledged,
and retention of readings. (Alarm rules run on the lockers' own timestamps; these are about people and time
passing here.) Each step reads first and opens a write transaction only when something must change."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import Database, utcnow
from cloud.models import Locker
from cloud.models_monitoring import Alert
from cloud.services import readings
from cloud.services.aftercommit import AfterCommit, Republisher, Waker
from cloud.services.alerts import OPEN, Alerts
from cloud.settings import Settings
from sensors.rules import AlarmKind

log = logging.getLogger(__name__)

RETENTION_EVERY_S = 3600.0


class Watchdog:
    """Offline detection, escalation and retention; `check_offline`, `escalate` and `purge` also run on demand."""

    def __init__(self, db: Database, settings: Settings, alerts: Alerts, desired: Republisher, notifier: Waker) -> None:
        self._db = db
        self._settings = settings
        self._alerts = alerts
        self._desired = desired
        self._notifier = notifier
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # A cloud that was down heard nothing from anyone: give lockers a full interval after our start.
        self._started_at = utcnow()

    def start(self) -> None:
        self._started_at = utcnow()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dk-cloud-watchdog", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout)

    def _run(self) -> None:
        last_purge = None
        while not self._stop.wait(self._settings.watchdog_interval_s):
            now = utcnow()
            self._guarded(self.check_offline, now)
            self._guarded(self.escalate, now)
            if last_purge is None or time.monotonic() - last_purge >= RETENTION_EVERY_S:
                last_purge = time.monotonic()
                self._guarded(self.purge, now)

    @staticmethod
    def _guarded(step: Callable[[datetime], object], now: datetime) -> None:
        try:
            step(now)
        except Exception:  # a database outage: say so and try again next round
            log.exception("watchdog step %s failed", step.__name__)

    # --- offline ----------------------------------------------------------------------------------------

    def _offline_changes(self, session: Session, now: datetime) -> tuple[dict[str, str], set[str]]:
        """(lockers to raise an offline alert for, with why; lockers whose offline alert clears)."""
        silence = timedelta(seconds=self._settings.offline_after_s)
        open_alerts = set(
            session.scalars(select(Alert.locker_id).where(Alert.kind == AlarmKind.OFFLINE.value, Alert.state.in_(OPEN)))
        )
        to_raise: dict[str, str] = {}
        to_clear: set[str] = set()
        for locker_id, online, last_seen in session.execute(
            select(Locker.id, Locker.online, Locker.last_seen).where(Locker.last_seen.is_not(None))
        ):
            silent_since = max(last_seen, self._started_at)
            if not online:
                why = "is offline (its connection dropped or it shut down)"
            elif now - silent_since > silence:
                why = f"sent nothing since {last_seen:%Y-%m-%d %H:%M:%S} UTC"
            else:
                why = None
            if why and locker_id not in open_alerts:
                to_raise[locker_id] = why
            elif why is None and locker_id in open_alerts:
                to_clear.add(locker_id)
        return to_raise, to_clear

    def check_offline(self, now: datetime) -> tuple[int, int]:
        """Raise one offline alert per locker that went silent or offline; clear it once it reports again."""
        with self._db.read() as session:
            to_raise, to_clear = self._offline_changes(session, now)
        if not to_raise and not to_clear:
            return 0, 0
        after = AfterCommit()
        with self._db.write() as session:
            to_raise, to_clear = self._offline_changes(session, now)  # again, inside the transaction
            for locker_id, why in to_raise.items():
                self._alerts.raise_offline(session, after, session.get(Locker, locker_id), now, why)
            for locker_id in to_clear:
                self._alerts.clear_offline(session, after, session.get(Locker, locker_id), now)
        after.run(self._desired, self._notifier)
        return len(to_raise), len(to_clear)

    # --- escalation -------------------------------------------------------------------------------------

    def escalate(self, now: datetime) -> int:
        with self._db.read() as session:
            due = self._alerts.due_for_escalation(session, now)
        if not due:
            return 0
        after = AfterCommit()
        with self._db.write() as session:
            moved = self._alerts.escalate(session, after, due, now)
        after.run(self._desired, self._notifier)
        return moved

    # --- retention --------------------------------------------------------------------------------------

    def purge(self, now: datetime) -> tuple[int, int]:
        """Delete raw readings and aggregates past retention; alerts, records and the audit trail stay."""
        with self._db.write() as session:
            raw, aggregates = readings.purge(
                session, now, self._settings.raw_retention_days, self._settings.aggregate_retention_days
            )
        if raw or aggregates:
            log.info("retention: deleted %d raw reading(s) and %d aggregate(s)", raw, aggregates)
        return raw, aggregates
