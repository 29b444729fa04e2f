"""Fuzzing the cloud's MQTT ingress (hypothesis) through a real broker: malformed, oversized, unexpected and
well-formed-but-wrong messages on every channel the cloud listens to. The worker never crashes and never logs
an error (conftest fails the test on one), every message is counted as processed, repeated or dropped, and a
proper message is still applied afterwards."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.mqtt_bridge import SUBSCRIBED
from lockers.protocol.messages import StateMessage
from lockers.protocol.topics import Channel
from tests.cloud.conftest import ADMIN
from tests.support import wait_until

LISTENED = [channel.value for channel in SUBSCRIBED]  # state, telemetry, events, reported, cmd/ack
GHOST = "ghost-locker"  # well formed, never registered

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
field_values = st.one_of(
    json_values,
    st.sampled_from(["2026-11-27T12:00:00Z", "not a time", "ok", "crc_error", "chilled", "28-00000000a001", "B1"]),
    st.just("x\u0000y"),
)


def near_valid(channel: str):
    """Payloads shaped like the channel's messages with fields missing, mistyped or out of range."""
    shapes = {
        "state": {"v": 1, "state": "online", "agent": "edge"},
        "telemetry": {
            "v": 1,
            "readings": [
                {"sensor": "28-00000000a001", "zone": "chilled", "ts": "2026-11-27T12:00:00Z", "celsius": 4.0}
            ],
        },
        "events": {
            "v": 1,
            "id": "ab" * 16,
            "seq": 1,
            "ts": "2026-11-27T12:00:00Z",
            "kind": "door_opened",
            "compartment": "B1",
        },
        "reported": {
            "v": 1,
            "desired_version": 1,
            "agent": "edge",
            "ts": "2026-11-27T12:00:00Z",
            "doors": {"B1": False},
        },
        "cmd/ack": {"v": 1, "id": "cd" * 16, "ok": True, "ts": "2026-11-27T12:00:00Z"},
    }
    base = shapes[channel]
    return st.dictionaries(st.sampled_from(sorted(base) + ["extra"]), field_values, max_size=len(base) + 1).map(
        lambda changes: json.dumps({**base, **changes}).encode()
    )


def payloads(channel: str):
    return st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda value: json.dumps(value).encode()),
        near_valid(channel),
        st.integers(min_value=200_000, max_value=262_000).map(lambda n: b'{"v":1,"pad":"' + b"a" * n + b'"}'),
    )


def messages(locker: str):
    lockers = st.sampled_from([locker, GHOST]) | st.from_regex(r"[A-Za-z0-9_.~-]{0,40}", fullmatch=True)
    return st.tuples(lockers, st.sampled_from(LISTENED)).flatmap(
        lambda where: st.tuples(st.just(f"dk/v1/{where[0]}/{where[1]}"), payloads(where[1]))
    )


def accounted(stats: dict) -> int:
    return stats["processed"] + stats["duplicates"] + stats["dropped"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_messages_are_counted_and_dropped_and_the_worker_carries_on(client, locker, edge, data):
    bridge = client.app.state.runtime.bridge
    batch = data.draw(st.lists(messages(locker), min_size=1, max_size=25), label="messages")
    before = bridge.stats.snapshot()
    for topic_name, payload in batch:
        edge.send_raw(topic_name, payload)
    wait_until(lambda: bridge.stats.received >= before["received"] + len(batch), 15, "every message received")
    assert bridge.wait_idle(15), "the ingest worker did not become idle"
    after = bridge.stats.snapshot()
    assert accounted(after) - accounted(before) == after["received"] - before["received"]
    # …and a proper message is still applied
    stamp = datetime.now(UTC).isoformat(timespec="microseconds")
    edge.send(Channel.STATE, StateMessage(state="online", agent=f"fuzz {stamp}"))
    agent = lambda: client.get(f"/api/v1/lockers/{locker}", headers=ADMIN).json()["agent"]  # noqa: E731
    wait_until(lambda: agent() == f"fuzz {stamp}", 10, "the state message after the fuzz")
