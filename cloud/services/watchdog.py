"""The cloud's wall-clock duties, in one background thread: desired states republished after the broker came
back (a crashed broker may have lost its retained copies), lockers gone offline, gaps in lockers' event
numbering (asking the locker to send them again, then alerting when they stay open too long), alerts nobody
acknowledged, orders nobody collected in time (expiry.py), and retention of readings. (Alarm rules run on
the lockers' own timestamps; these are about people and time passing here.) Each step reads first and opens
a write transaction only when something must change."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cloud.db import Database, utcnow
from cloud.models import Locker
from cloud.models_edge import EventStream
from cloud.models_monitoring import Alert
from cloud.presence import PresenceRule
from cloud.services import readings, streams
from cloud.services.aftercommit import AfterCommit, Republisher, Waker
from cloud.services.alerts import OPEN, Alerts
from cloud.services.commands import Commands
from cloud.services.expiry import Expiry
from cloud.settings import Settings
from lockers.protocol.messages import MAX_RESEND
from sensors.rules import AlarmKind

log = logging.getLogger(__name__)

RETENTION_EVERY_S = 3600.0
EVENT_GAP = "event_gap"
MAX_RESEND_GAPS = 20  # gaps of one locker asked for per round (the oldest); the rest wait for the next rounds


class Watchdog:
    """Offline detection, escalation and retention; `check_offline`, `escalate` and `purge` also run on demand."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        alerts: Alerts,
        desired: Republisher,
        notifier: Waker,
        presence: PresenceRule,
        commands: Commands | None = None,
        connections: Callable[[], int] | None = None,
        expiry: Expiry | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._alerts = alerts
        self._desired = desired
        self._notifier = notifier
        self._presence = presence
        self._commands = commands  # None: no resend requests
        self._expiry = expiry  # None: orders are not expired (tests of other duties)
        self._connections = connections  # how often the MQTT session connected so far (None: not watched)
        # The start-up connection is covered by the runtime's first publish of every desired state; counting from
        # the first look instead missed a reconnection that came before it (a broker crash in the first seconds).
        self._connections_seen = 1
        self.resends_requested = 0  # resend commands sent since this process started
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
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
            self._guarded(self.republish_after_reconnect, now)
            self._guarded(self.check_offline, now)
            self._guarded(self.request_resends, now)
            self._guarded(self.check_gaps, now)
            self._guarded(self.escalate, now)
            self._guarded(self.expire, now)
            if last_purge is None or time.monotonic() - last_purge >= RETENTION_EVERY_S:
                last_purge = time.monotonic()
                self._guarded(self.purge, now)

    @staticmethod
    def _guarded(step: Callable[[datetime], object], now: datetime) -> None:
        try:
            step(now)
        except Exception:  # a database outage: say so and try again next round
            log.exception("watchdog step %s failed", step.__name__)

    def expire(self, now: datetime) -> int:
        """Expire the orders nobody collected by their pickup deadline (expiry.py); how many."""
        return self._expiry.sweep(now) if self._expiry is not None else 0

    # --- offline ----------------------------------------------------------------------------------------

    def _offline_changes(self, session: Session, now: datetime) -> tuple[dict[str, str], set[str]]:
        """(lockers to raise an offline alert for, with why; lockers whose offline alert clears)."""
        open_alerts = set(
            session.scalars(select(Alert.locker_id).where(Alert.kind == AlarmKind.OFFLINE.value, Alert.state.in_(OPEN)))
        )
        to_raise: dict[str, str] = {}
        to_clear: set[str] = set()
        # Lockers never heard of since registration are not offline, just not installed yet.
        heard_of = or_(Locker.last_seen.is_not(None), Locker.online.is_(True))
        for locker_id, online, last_seen in session.execute(
            select(Locker.id, Locker.online, Locker.last_seen).where(heard_of)
        ):
            why = self._presence.of(online, last_seen, now).why_offline
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
            # In id order, as ingest locks lockers: an alert's foreign key share-locks its locker, and two
            # transactions taking locker locks in different orders can deadlock (seen with 100 going silent at once).
            for locker_id, why in sorted(to_raise.items()):
                self._alerts.raise_offline(session, after, session.get(Locker, locker_id), now, why)
            for locker_id in sorted(to_clear):
                self._alerts.clear_offline(session, after, session.get(Locker, locker_id), now)
        after.run(self._desired, self._notifier)
        return len(to_raise), len(to_clear)

    # --- gaps in event numbering -----------------------------------------------------------------------

    def republish_after_reconnect(self, _now: datetime) -> int:
        """Republish every desired state once the MQTT session connected again since the last look (the start-up
        connection is covered by the runtime); how many lockers were republished."""
        if self._connections is None:
            return 0
        connections = self._connections()
        if connections <= self._connections_seen:
            return 0
        self._connections_seen = connections
        count = self._desired.publish_all()
        log.info("connected to the broker again: republished the desired states of %d locker(s)", count)
        return count

    def request_resends(self, now: datetime) -> int:
        """Ask each online locker to send again the events missing for DK_RESEND_AFTER_S, and again at most every
        DK_RESEND_EVERY_S per gap while it stays open (a broker may have lost them after acknowledging them);
        how many resend commands went out. What the locker still keeps arrives and fills the gaps."""
        if self._commands is None:
            return 0
        after = timedelta(seconds=self._settings.resend_after_s)
        every = timedelta(seconds=self._settings.resend_every_s)
        with self._db.read() as session:
            candidates = streams.due_for_resend(session, now, after, every)
            due = [locker_id for locker_id in candidates if self._reachable(session, locker_id, now)]
        if not due:
            return 0
        outgoing = []
        with self._db.write() as session:
            for locker_id in sorted(due):
                for gap in streams.mark_requested(session, locker_id, now, after, every, MAX_RESEND_GAPS):
                    last = min(gap.last, gap.first + MAX_RESEND - 1)
                    why = f"missing since {gap.since:%Y-%m-%d %H:%M:%S} UTC"
                    if gap.requests:
                        why += f", asked {gap.requests} time(s) before"
                    command = self._commands.record_resend(session, locker_id, gap.first, last, why, now)
                    outgoing.append((locker_id, command))
        sent = 0
        for locker_id, command in outgoing:
            if self._commands.send(locker_id, command):
                sent += 1
                log.info(
                    "asked locker %s to resend events %d-%d (command %s)",
                    locker_id,
                    command.from_seq,
                    command.to_seq,
                    command.id,
                )
        self.resends_requested += sent
        return sent

    def _reachable(self, session: Session, locker_id: str, now: datetime) -> bool:
        """Only an online locker is asked: an offline one sends its outbox anyway when it is back."""
        locker = session.get(Locker, locker_id)
        return locker is not None and self._presence.of(locker.online, locker.last_seen, now).online

    def _gap_changes(self, session: Session, now: datetime) -> tuple[dict, dict[str, Alert], set[str]]:
        """(lockers with gaps open too long, and those gaps; open gap alerts whose gaps are gone; lockers with
        quiet gaps to write off)."""
        after = timedelta(seconds=self._settings.event_gap_alert_s)
        overdue = streams.overdue(session, now, after)
        alerts = session.scalars(select(Alert).where(Alert.kind == EVENT_GAP, Alert.state.in_(OPEN)))
        open_alerts = {alert.locker_id: alert for alert in alerts}
        to_raise = {locker_id: gaps for locker_id, gaps in overdue.items() if locker_id not in open_alerts}
        to_clear = {locker_id: alert for locker_id, alert in open_alerts.items() if locker_id not in overdue}
        return to_raise, to_clear, set(streams.overdue(session, now, after, quiet=True))

    def check_gaps(self, now: datetime) -> tuple[int, int]:
        """Raise one event_gap alert per locker whose events stay missing too long; clear it once none is."""
        with self._db.read() as session:
            changes = self._gap_changes(session, now)
        if not any(changes):
            return 0, 0
        after = AfterCommit()
        with self._db.write() as session:
            to_raise, to_clear, quiet = self._gap_changes(session, now)  # again, inside the transaction
            for locker_id in sorted(quiet):
                streams.write_off_quiet(session, locker_id, now, timedelta(seconds=self._settings.event_gap_alert_s))
            for locker_id, gaps in sorted(to_raise.items(), key=lambda item: item[0]):
                detail = f"locker {locker_id}: {streams.describe(gaps, now)}"
                self._alerts.raise_locker_alert(session, after, locker_id, EVENT_GAP, detail, now)
            for locker_id, alert in sorted(to_clear.items(), key=lambda item: item[0]):
                numbering = streams.numbering_of(session.get(EventStream, locker_id))
                if numbering.restarted_at is not None and numbering.restarted_at >= alert.created_at:
                    lost = ", ".join(f"{first}-{last}" for first, last in numbering.written_off)
                    detail = f"locker {locker_id} started numbering its events again; written off as lost: {lost}"
                else:
                    detail = f"the missing events of locker {locker_id} arrived"
                self._alerts.clear_alert(session, after, session.get(Alert, alert.id), now, detail)
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
