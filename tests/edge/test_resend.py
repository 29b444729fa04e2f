"""Resend by sequence number: the pure decision and answer, and the real agent sending acknowledged events again
when the test-side cloud asks, over the real broker."""

from __future__ import annotations

from datetime import timedelta

import pytest

from edge.archive import Resent
from edge.commands import CommandVerdict, answer_command, answer_resend, resend_ack
from lockers.protocol.messages import Command, CommandAck, EventKind, Reported
from lockers.protocol.topics import Channel
from tests.edge.codes_fixture import NOW, CodeBook
from tests.edge.harness import edge_config, running_rig
from tests.support import wait_until

ID = "ab" * 16


def resend(first: int, last: int, *, minutes: float = 10, id: str = ID) -> Command:
    return Command(
        id=id,
        kind="resend",
        from_seq=first,
        to_seq=last,
        expires_at=NOW + timedelta(minutes=minutes),
        issued_by="cloud",
    )


@pytest.mark.parametrize(
    ("cmd", "previous", "verdict"),
    [
        (resend(1, 5), None, None),  # go ahead
        (
            resend(1, 5, minutes=0),
            None,
            CommandVerdict(
                CommandAck(
                    id=ID,
                    ok=False,
                    detail="expired at 2026-11-26T12:00:00+00:00 (locker time 2026-11-26T12:00:00+00:00)",
                )
            ),
        ),
        (
            resend(1, 5, minutes=-5),  # a repeat gets the earlier answer, even after the expiry
            CommandAck(id=ID, ok=True, detail="resent 5 events; 0 no longer kept"),
            CommandVerdict(CommandAck(id=ID, ok=True, detail="resent 5 events; 0 no longer kept"), repeated=True),
        ),
    ],
    ids=["fresh", "expired", "repeat"],
)
def test_answer_resend(cmd, previous, verdict):
    assert answer_resend(cmd, NOW, previous) == verdict


@pytest.mark.parametrize(
    ("resent", "detail"),
    [
        (Resent(resent=3), "resent 3 events; 0 no longer kept"),
        (Resent(resent=1, gone=4), "resent 1 events; 4 no longer kept"),
        (Resent(resent=2, queued=1), "resent 2 events; 0 no longer kept; 1 still queued"),
        (Resent(unnumbered=5), "resent 0 events; 0 no longer kept; 5 not numbered yet"),
    ],
    ids=["all", "some-gone", "some-queued", "none-numbered"],
)
def test_resend_ack(resent, detail):
    assert resend_ack(ID, resent) == CommandAck(id=ID, ok=True, detail=detail)


def test_a_resend_never_opens_anything():
    with pytest.raises(ValueError, match="not an unlock"):
        answer_command(resend(1, 2), NOW, {"A1"}, None)


# --- the agent -----------------------------------------------------------------------------------------


@pytest.fixture
def config(broker, locker, tmp_path):
    return edge_config(broker, CodeBook(locker=locker), locker, tmp_path / "state")


def test_the_agent_resends_acknowledged_events_once_per_command(cloud, config):
    with running_rig(config) as rig:
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        rig.open_and_close("A1", "B2")  # opened, tamper (it was locked) and closed, twice
        wait_until(lambda: len(cloud.events(EventKind.DOOR_CLOSED)) == 2, what="both doors closed")
        wait_until(lambda: rig.agent.status()["outbox"]["archived"] == len(cloud.events()), what="all archived")
        sent = sorted(cloud.events(), key=lambda e: e.seq)
        n = len(sent)
        assert [e.seq for e in sent] == list(range(1, n + 1)) and n >= 4
        # every `reported` says how far the numbering got when it was built
        cloud.wait_for(Channel.REPORTED, lambda m: isinstance(m, Reported) and m.last_seq == n)

        cloud.send_command(resend(2, n + 2))  # the last two were never numbered
        ack = cloud.wait_for(Channel.CMD_ACK, lambda m: m.id == ID)
        assert ack == CommandAck(id=ID, ok=True, detail=f"resent {n - 1} events; 0 no longer kept; 2 not numbered yet")
        assert cloud.events()[n:] == sent[1:]  # the same events (ids, bytes), in order, before the answer

        cloud.send_command(resend(2, n + 2))  # delivered again: answered again, nothing queued again
        wait_until(lambda: len(cloud.acks(ID)) == 2, what="a second acknowledgement")
        assert cloud.acks(ID) == [ack, ack]
        assert len(cloud.events()) == 2 * n - 1  # the events would have gone before the answer: none came
        status = rig.agent.status()
        assert status["stats"]["events_resent"] == n - 1 and status["stats"]["commands_repeated"] == 1
        assert not any(state.state for state in rig.lock_pin("A1").states)  # nothing opened
        assert cloud.events(EventKind.UNLOCKED) == []


def test_an_expired_resend_does_nothing(cloud, config):
    with running_rig(config) as rig:
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        rig.open_and_close("A1")
        wait_until(lambda: cloud.events(EventKind.DOOR_CLOSED), what="the door closed")
        wait_until(lambda: rig.agent.status()["outbox"]["archived"] == len(cloud.events()), what="all archived")
        before = len(cloud.events())
        cmd = resend(1, 2, minutes=-1, id="cd" * 16)
        cloud.send_command(cmd)
        ack = cloud.wait_for(Channel.CMD_ACK, lambda m: m.id == cmd.id)
        assert not ack.ok and ack.detail.startswith("expired at")
        assert len(cloud.events()) == before
        assert rig.agent.stats["commands_refused"] == 1
