"""A locker whose keypad locked after wrong PINs in a row raises one `keypad_locked` alert: someone may be
guessing PINs. Acknowledging it clears it."""

from __future__ import annotations

from lockers.protocol.messages import EventKind
from tests.cloud.coldchain_support import alerts
from tests.cloud.conftest import ADMIN
from tests.support import wait_until


def test_a_keypad_lockout_raises_one_alert_while_it_is_open(client, locker, edge):
    edge.event(EventKind.KEYPAD_LOCKED, count=5, detail="keypad locked for 300 s after 5 wrong PINs")
    (alert,) = wait_until(lambda: alerts(client, locker, kind="keypad_locked"), 10, "the keypad alert")
    assert alert["state"] == "raised" and alert["severity"] == "warning" and alert["zone"] is None
    assert (
        alert["detail"].startswith(f"keypad of locker {locker} locked at ") and "after 5 wrong PINs" in alert["detail"]
    )
    edge.event(EventKind.KEYPAD_LOCKED, count=5)  # locked again before anyone looked: still one alert
    wait_until(lambda: client.app.state.runtime.bridge.wait_idle(5), 10, "the second lockout applied")
    assert len(alerts(client, locker, kind="keypad_locked")) == 1
    # Nothing at the locker ends it: the person who looked acknowledges it, and that clears it.
    done = client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=ADMIN, json={"note": "camera checked"}).json()
    assert done["state"] == "cleared"
    edge.event(EventKind.KEYPAD_LOCKED, count=5)  # the next lockout is news again
    wait_until(lambda: len(alerts(client, locker, kind="keypad_locked")) == 2, 10, "a new keypad alert")
