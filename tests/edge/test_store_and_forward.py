"""Store and forward with the real agent, real SQLite and a real broker: written before sent, deleted on the
broker's acknowledgement, replayed in order after a broker crash, a cut uplink or an agent restart; the bound
thins telemetry and says so; `reported` doubles as the heartbeat."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from edge.store import STORE_FILE
from lockers.protocol import codec
from lockers.protocol.messages import EventKind
from lockers.protocol.topics import Channel
from sensors.simulator import CabinetSimulator
from tests.edge.codes_fixture import CodeBook
from tests.edge.harness import LAYOUT, CloudSide, EdgeRig, edge_config, running_rig
from tests.support import wait_until

K = EventKind
BOOK = CodeBook()
NO_SENSORS = LAYOUT.model_copy(update={"sensors": ()})  # only the events a test makes are numbered


def queued_rows(state_dir, channel: str = "events") -> list[bytes]:
    """The outbox as another process would read it from the file (the agent's connection is not used)."""
    with sqlite3.connect(state_dir / STORE_FILE) as db:
        return [row[0] for row in db.execute("SELECT payload FROM outbox WHERE channel = ? ORDER BY id", (channel,))]


def depth(rig: EdgeRig, channel: str = "events") -> int:
    return rig.agent.status()["outbox"]["depth"][channel]


def cut(rig: EdgeRig) -> None:
    rig.agent.set_uplink(False)
    wait_until(lambda: not rig.agent.status()["connected"], 10, "the uplink cut")


def reject(rig: EdgeRig, count: int) -> None:
    for n in range(count):
        assert not rig.agent.scan(f"junk {n}").ok  # each refusal is one code_rejected event


def arrival_seqs(cloud: CloudSide) -> list[int]:
    return [e.seq for e in cloud.events()]


@pytest.fixture
def config(broker, locker, tmp_path):
    return edge_config(broker, BOOK, locker, tmp_path / "state").model_copy(update={"layout": NO_SENSORS})


def test_events_are_stored_before_sending_and_deleted_once_acknowledged(cloud, config):
    with running_rig(config) as rig:
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        cut(rig)
        reject(rig, 3)
        assert depth(rig) == 3
        stored = [codec.decode(Channel.EVENTS, payload) for payload in queued_rows(config.state_dir)]
        assert [(e.seq, e.kind) for e in stored] == [(1, K.CODE_REJECTED), (2, K.CODE_REJECTED), (3, K.CODE_REJECTED)]
        assert cloud.events() == []  # nothing left the locker
        assert rig.agent.status()["uplink"] == "down"

        rig.agent.set_uplink(True)
        wait_until(lambda: len(cloud.events()) == 3, what="the queued events")
        assert [e.id for e in cloud.events()] == [e.id for e in stored]  # the very rows, in order
        wait_until(lambda: depth(rig) == 0, what="acknowledged rows deleted")
        assert queued_rows(config.state_dir) == []
        assert rig.agent.status()["outbox"]["acknowledged"] >= 3


def test_replay_in_order_after_the_broker_is_killed_mid_burst(own_broker, locker, tmp_path):
    config = edge_config(own_broker, BOOK, locker, tmp_path / "state").model_copy(update={"layout": NO_SENSORS})
    before = CloudSide(own_broker, locker)
    with running_rig(config) as rig:
        before.wait_for(Channel.STATE, lambda m: m.state == "online")
        burst = threading.Thread(target=reject, args=(rig, 150))
        burst.start()
        wait_until(lambda: len(before.events()) >= 20, what="the burst under way")
        own_broker.kill()  # kill -9: whatever was in flight is lost at the broker
        before.session.stop()  # keeps what it received; the next cloud session uses the same client id
        burst.join(30)
        wait_until(lambda: not rig.agent.status()["connected"], 15, "the agent noticing the crash")
        reject(rig, 50)  # and more while the broker is down
        # Hold the locker back until a subscriber is there again: the broker lost every session in the crash.
        rig.agent.set_uplink(False)
        own_broker.start()
        after = CloudSide(own_broker, locker)
        rig.agent.set_uplink(True)
        wait_until(lambda: set(arrival_seqs(before)) | set(arrival_seqs(after)) >= set(range(1, 201)), 30, "all 200")
        wait_until(lambda: depth(rig) == 0, what="an empty outbox")
    replayed = arrival_seqs(after)
    assert replayed == sorted(replayed) and len(set(replayed)) == len(replayed)  # in order, each once
    assert replayed[-1] == 200 and len(arrival_seqs(before)) < 150  # the crash did cut the burst short
    assert set(arrival_seqs(before)) | set(replayed) == set(range(1, 201))  # nothing lost
    after.close()


def test_rows_left_by_a_stopped_agent_are_sent_first_by_the_next(cloud, config):
    with running_rig(config) as rig:
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        cut(rig)
        reject(rig, 20)
    assert len(queued_rows(config.state_dir)) == 20  # left on disk by the stopped agent
    assert cloud.events() == []
    with running_rig(config) as rig:
        reject(rig, 1)
        wait_until(lambda: len(cloud.events()) == 21, what="left-over events and the new one")
        assert arrival_seqs(cloud) == list(range(1, 22))
        wait_until(lambda: depth(rig) == 0, what="an empty outbox")


def test_reported_is_the_heartbeat_and_waits_coalesced(cloud, config):
    config = config.model_copy(update={"heartbeat_s": 0.2})
    with running_rig(config) as rig:
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        wait_until(lambda: len(cloud.messages(Channel.REPORTED)) >= 4, what="heartbeats")
        stamps = [m.ts for m in cloud.messages(Channel.REPORTED)]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # a fresh ts each time
        cut(rig)
        seen = len(cloud.messages(Channel.REPORTED))
        replaced: set[int] = set()

        def three_heartbeats_later() -> bool:
            ids = queued_ids(config.state_dir, "reported")
            assert len(ids) <= 1  # however many heartbeats pass, one `reported` waits
            replaced.update(ids)
            return len(replaced) >= 3

        wait_until(three_heartbeats_later, what="heartbeats replacing each other in the outbox")
        assert len(cloud.messages(Channel.REPORTED)) == seen
        rig.agent.set_uplink(True)
        wait_until(lambda: len(cloud.messages(Channel.REPORTED)) > seen, what="reported after reconnecting")


def queued_ids(state_dir, channel: str) -> list[int]:
    with sqlite3.connect(state_dir / STORE_FILE) as db:
        return [row[0] for row in db.execute("SELECT id FROM outbox WHERE channel = ?", (channel,))]


def test_past_the_bound_telemetry_is_thinned_and_the_thinning_reported(cloud, broker, locker, tmp_path):
    thermal = CabinetSimulator(base=tmp_path / "w1", sensors=LAYOUT.sensors, seed=7)
    thermal.write()
    config = edge_config(
        broker, BOOK, locker, tmp_path / "state", w1_base=thermal.base, telemetry_interval_s=0.02, outbox_max_rows=30
    )
    with running_rig(config) as rig:
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        cut(rig)
        reject(rig, 40)  # events alone beyond the bound: none of them may go, telemetry must make room
        wait_until(lambda: rig.agent.status()["outbox"]["thinned"] >= 20, what="telemetry thinned")
        rig.agent.set_uplink(True)
        wait_until(lambda: len(cloud.events(K.CODE_REJECTED)) == 40, what="every event")
        (first,) = cloud.wait_events(K.TELEMETRY_THINNED)
        thinned_so_far = rig.agent.status()["outbox"]["thinned"]
        assert len(cloud.events(K.TELEMETRY_THINNED)) == 1  # reported at once, then at most every 5 minutes
    assert 0 < first.count < thinned_so_far
    assert "dropped" in first.detail and "oldest telemetry batches" in first.detail
    # What was thinned since is reported when the agent stops: the counts add up to everything dropped.
    reports = cloud.wait_events(K.TELEMETRY_THINNED, 2)
    assert sum(e.count for e in reports) >= thinned_so_far
    seqs = sorted(e.seq for e in cloud.events())
    assert seqs == list(range(1, len(seqs) + 1))  # thinning never touches events: no gap


def test_status_shows_the_outbox(cloud, config):
    with running_rig(config) as rig:
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        outbox = rig.agent.status()["outbox"]
        assert set(outbox) == {"depth", "rows", "bound", "thinned", "in_flight", "sent", "acknowledged", "archived"}
        assert outbox["depth"] == {"events": 0, "telemetry": 0, "reported": outbox["depth"]["reported"], "cmd/ack": 0}
        assert (outbox["bound"], outbox["thinned"], outbox["archived"]) == (50_000, 0, 0)
