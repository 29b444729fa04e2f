"""Remote unlock: the pure decision, and the real agent answering `Command`s from the test-side cloud."""

from __future__ import annotations

from datetime import timedelta

import pytest

from edge.commands import CommandVerdict, answer_command
from lockers.protocol.messages import Command, CommandAck, EventKind, Method
from lockers.protocol.topics import Channel
from tests.edge.codes_fixture import NOW, CodeBook
from tests.edge.harness import MovingClock, edge_config, running_rig
from tests.support import wait_until

K = EventKind
CABINET = frozenset({"A1", "A2", "B2"})


def command(*compartments: str, minutes: float = 5, id: str = "ab" * 16) -> Command:
    return Command(
        id=id,
        kind="unlock",
        compartments=list(compartments),
        expires_at=NOW + timedelta(minutes=minutes),
        issued_by="operator@stichting",
    )


@pytest.mark.parametrize(
    "cmd, previous, verdict",
    [
        (
            command("A1", "B2"),
            None,
            CommandVerdict(CommandAck(id="ab" * 16, ok=True, opened=["A1", "B2"]), ("A1", "B2")),
        ),
        (command("B2", "B2"), None, CommandVerdict(CommandAck(id="ab" * 16, ok=True, opened=["B2"]), ("B2",))),
        (
            command("A1", minutes=0),
            None,
            CommandVerdict(
                CommandAck(
                    id="ab" * 16,
                    ok=False,
                    detail="expired at 2026-11-26T12:00:00+00:00 (locker time 2026-11-26T12:00:00+00:00)",
                )
            ),
        ),
        (
            command("A1", "Z9", "Q1"),
            None,
            CommandVerdict(
                CommandAck(id="ab" * 16, ok=False, detail="no compartment Z9, Q1 in this locker; nothing opened")
            ),
        ),
        (
            command("A1"),
            CommandAck(id="ab" * 16, ok=True, opened=["A1"]),
            CommandVerdict(CommandAck(id="ab" * 16, ok=True, opened=["A1"]), repeated=True),
        ),
        (  # a repeat gets the earlier answer, even a refusal, and even once it has expired
            command("A1", minutes=-10),
            CommandAck(id="ab" * 16, ok=False, detail="no compartment A9 in this locker"),
            CommandVerdict(
                CommandAck(id="ab" * 16, ok=False, detail="no compartment A9 in this locker"), repeated=True
            ),
        ),
    ],
    ids=["opens", "deduplicated", "expired-at-the-instant", "unknown-compartments", "repeat", "repeat-of-refusal"],
)
def test_answer_command(cmd, previous, verdict):
    assert answer_command(cmd, NOW, CABINET, previous) == verdict


# --- the agent -----------------------------------------------------------------------------------------


@pytest.fixture
def config(broker, locker, tmp_path):
    return edge_config(broker, CodeBook(locker=locker), locker, tmp_path / "state")


def pulses(rig, compartment: str) -> int:
    return sum(1 for state in rig.lock_pin(compartment).states if state.state)


def test_remote_unlock_pulses_reports_and_acknowledges(cloud, config):
    with running_rig(config) as rig:
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        cloud.send_command(command("A1", "B2"))
        ack = cloud.wait_for(Channel.CMD_ACK, lambda m: m.id == "ab" * 16)
        assert ack == CommandAck(id="ab" * 16, ok=True, opened=["A1", "B2"])
        wait_until(lambda: pulses(rig, "A1") == 1 and pulses(rig, "B2") == 1, what="both relays pulsed")
        assert pulses(rig, "A2") == 0
        unlocked = cloud.wait_events(K.UNLOCKED, 2)
        assert {(e.compartment, e.method, e.order, e.code_id) for e in unlocked} == {
            ("A1", Method.REMOTE, None, None),
            ("B2", Method.REMOTE, None, None),
        }
        assert unlocked[0].detail == f"remote unlock by operator@stichting (command {'ab' * 16})"
        rig.open_and_close("A1")
        cloud.wait_events(K.DOOR_CLOSED)
        assert cloud.events(K.TAMPER) == [] and cloud.events(K.COLLECTED) == [] and cloud.events(K.LOADED) == []
        assert rig.agent.stats["commands_done"] == 1


@pytest.mark.parametrize(
    "cmd, detail",
    [(command("A1", minutes=-1), "expired at"), (command("A1", "Z9"), "no compartment Z9 in this locker")],
    ids=["expired", "unknown-compartment"],
)
def test_refused_commands_open_nothing(cloud, config, cmd, detail):
    with running_rig(config) as rig:
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        cloud.send_command(cmd)
        ack = cloud.wait_for(Channel.CMD_ACK, lambda m: m.id == cmd.id)
        assert not ack.ok and ack.opened == [] and detail in ack.detail
        assert pulses(rig, "A1") == 0
        assert rig.agent.stats["commands_refused"] == 1
        assert cloud.events(K.UNLOCKED) == []


def test_a_redelivered_command_is_acknowledged_again_but_not_executed(cloud, config):
    cmd = command("B2", id="cd" * 16)
    with running_rig(config) as rig:
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        cloud.send_command(cmd)
        cloud.send_command(cmd)
        wait_until(lambda: len(cloud.acks(cmd.id)) == 2, what="two acknowledgements")
        assert rig.agent.stats["commands_repeated"] == 1
    with running_rig(config) as rig:  # remembered across a restart
        cloud.send_command(cmd)
        wait_until(lambda: len(cloud.acks(cmd.id)) == 3, what="a third acknowledgement")
        assert pulses(rig, "B2") == 0
    assert all(a == CommandAck(id=cmd.id, ok=True, opened=["B2"]) for a in cloud.acks(cmd.id))
    assert len(cloud.events(K.UNLOCKED)) == 1  # opened once


def test_a_command_that_expires_while_the_uplink_is_down_does_nothing(cloud, config):
    clock = MovingClock()
    cmd = command("A2", minutes=0.01, id="ef" * 16)  # 0.6 s of locker time
    with running_rig(config, clock) as rig:
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        rig.agent.set_uplink(False)
        wait_until(lambda: not rig.agent.status()["connected"], what="the cut")
        cloud.send_command(cmd)  # the broker keeps it for the locker's persistent session
        wait_until(lambda: clock() > cmd.expires_at, what="the command's expiry")
        rig.agent.set_uplink(True)
        ack = cloud.wait_for(Channel.CMD_ACK, lambda m: m.id == cmd.id)
        assert not ack.ok and "expired" in ack.detail
        assert pulses(rig, "A2") == 0
