"""Fault injection on real processes and a real broker: the broker killed mid-burst, a locker cut off for a
simulated day, the edge agent killed mid-burst, the cloud restarted mid-burst. Each ends with 0 events lost,
0 duplicates in the database, every offline pickup recorded and every order in the state its doors imply."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from cloud.models import Reading
from edge.control import request
from tests.e2e.faults import Burst, assert_every_event_arrived_once, edge_last_seq
from tests.e2e.test_walking_skeleton import collect, create_order, load_order
from tests.support import wait_until

# Whole stacks, faults and recoveries: slower than the suite's default limit on a loaded machine.
pytestmark = pytest.mark.timeout(300)

STRETCH = 200  # refusals of the burst before, during and after a fault


def ready_order(stack, zone: str = "chilled") -> tuple[dict, dict]:
    """An order loaded by its vendor, and its pickup (QR token and PIN)."""
    order = create_order(stack, (zone, "S"))
    load_order(stack, order)
    pickup = stack.vendor.get(f"/api/v1/orders/{order['id']}/pickup")
    assert pickup.status_code == 200, pickup.text
    return order, pickup.json()


def use_at_locker(stack, code: str, compartments: list[str]) -> None:
    """What a person does at the locker, whatever the cloud knows: scan or type the code, close the doors.

    The status request afterwards returns once the agent has handled the doors, so their events are stored."""
    scan = stack.cli("sim", "scan", stack.locker, code)
    assert scan.returncode == 0, scan.stdout + scan.stderr
    for compartment in compartments:
        assert compartment in scan.stdout, scan.stdout
        closed = stack.cli("sim", "door", stack.locker, compartment, "close")
        assert closed.returncode == 0, closed.stdout + closed.stderr
    assert request(stack.locker, {"cmd": "status"})["ok"]


def order_status(stack, order: dict, status: str, timeout: float = 60) -> dict:
    return wait_until(lambda: (o := stack.order(order["id"]))["status"] == status and o, timeout, f"order {status}")


def test_the_broker_killed_mid_burst_loses_nothing(fragile_stack, own_broker, database_url):
    stack = fragile_stack
    order, pickup = ready_order(stack)
    with Burst(stack.locker) as burst:
        burst.reach(STRETCH)
        own_broker.kill()  # kill -9: whatever it acknowledged but had not saved or delivered is gone
        use_at_locker(stack, pickup["pin"], order["compartments"])  # the locker works on without its broker
        burst.more(STRETCH)
        own_broker.start()
        burst.more(STRETCH)
        refused = burst.finish()
    assert burst.unanswered == 0, "the locker answered every code while its broker was down"
    assert_every_event_arrived_once(stack, database_url, refused_at_least=refused)
    assert order_status(stack, order, "collected")["history"][-1]["to"] == "collected"
    # The cloud reaches the locker again after the crash: a new order's drop-off works.
    later = create_order(stack, ("frozen", "S"))
    assert load_order(stack, later)["status"] == "ready"


def test_events_the_broker_acknowledged_but_lost_in_a_crash_are_sent_again(fragile_stack, own_broker, database_url):
    stack = fragile_stack
    stack.stop_cloud()  # nobody takes the messages: the broker queues them in memory for the cloud's session
    with Burst(stack.locker) as burst:
        burst.reach(STRETCH)
        refused = burst.finish()
    status = wait_until(
        lambda: (s := request(stack.locker, {"cmd": "status"}))["outbox"]["depth"]["events"] == 0 and s,
        30,
        "the broker acknowledged every event (the locker's outbox is empty)",
    )
    assert status["outbox"]["acknowledged"] >= refused
    own_broker.kill()  # before its autosave: the acknowledged events are gone with it
    own_broker.start()
    stack.start_cloud()
    # The locker's next `reported` says how far its numbering got; the cloud asks for the rest again.
    assert_every_event_arrived_once(stack, database_url, refused_at_least=refused)


def test_a_locker_cut_off_for_a_simulated_day_works_on_and_reports_everything(outage_stack, database_url):
    stack = outage_stack
    by_qr, by_qr_code = ready_order(stack, "chilled")
    by_pin, by_pin_code = ready_order(stack, "ambient")
    cancelled, cancelled_code = ready_order(stack, "frozen")
    loaded_offline = create_order(stack, ("chilled", "S"))
    assert loaded_offline["status"] == "assigned"

    assert stack.cli("sim", "uplink", stack.locker, "down").returncode == 0
    cut_at = time.monotonic()
    wait_until(lambda: not stack.admin.locker(stack.locker)["online"], 30, "the cloud sees the locker offline")
    seq_at_cut = edge_last_seq(stack)

    # A day at the locker (an hour per second): residents collect, a vendor loads, someone mistypes a PIN.
    use_at_locker(stack, by_qr_code["token"], by_qr["compartments"])
    use_at_locker(stack, by_pin_code["pin"], by_pin["compartments"])
    use_at_locker(stack, stack.vendor_code, loaded_offline["compartments"])
    assert stack.cli("sim", "scan", stack.locker, "000000").returncode == 1
    # Upstream, the third order is cancelled; the locker cannot hear it and still opens for its code.
    assert stack.vendor.post(f"/api/v1/orders/{cancelled['id']}/cancel").status_code == 200
    use_at_locker(stack, cancelled_code["pin"], cancelled["compartments"])
    time.sleep(max(0.0, 24.0 - (time.monotonic() - cut_at)))

    status = request(stack.locker, {"cmd": "status"})
    assert (status["connected"], status["uplink"]) == (False, "down")
    waiting = status["outbox"]["depth"]
    assert waiting["telemetry"] >= 200, waiting  # 5-minute batches of a simulated day
    assert waiting["events"] >= edge_last_seq(stack) - seq_at_cut > 8, waiting
    assert stack.order(by_qr["id"])["status"] == "ready", "the cloud heard nothing during the outage"

    assert stack.cli("sim", "uplink", stack.locker, "up").returncode == 0
    stack.admin.wait_online(stack.locker)
    assert_every_event_arrived_once(stack, database_url, refused_at_least=1)

    # Every offline pickup is recorded, with the way the code was used.
    assert order_status(stack, by_qr, "collected")
    assert order_status(stack, by_pin, "collected")
    collected = stack.admin.http.get(f"/api/v1/lockers/{stack.locker}/events", params={"kind": "collected"})
    methods = {(e["order"], e["method"]) for e in collected.json()["events"]}
    assert {(by_qr["id"], "qr"), (by_pin["id"], "pin"), (cancelled["id"], "pin")} <= methods
    # The drop-off made offline makes its order ready, and the resident can collect it now.
    order_status(stack, loaded_offline, "ready")
    pin = stack.vendor.get(f"/api/v1/orders/{loaded_offline['id']}/pickup").json()["pin"]
    assert collect(stack, loaded_offline, pin)["status"] == "collected"
    # The code used after its order was cancelled upstream raises a conflict; it does not vanish.
    assert stack.order(cancelled["id"])["status"] == "cancelled"
    conflicts = wait_until(
        lambda: stack.admin.http.get("/api/v1/alerts", params={"locker": stack.locker, "kind": "conflict"}).json(),
        30,
        "a conflict alert",
    )
    assert [a["order"] for a in conflicts] == [cancelled["id"]]
    # The day's telemetry arrived too, stamped across the outage.
    span_h = readings_span_hours(database_url, stack.locker)
    assert span_h >= 20, span_h


def readings_span_hours(database_url: str, locker: str) -> float:
    """Hours between the first and the last reading of the locker in the cloud's database."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as db:
            query = sa.select(sa.func.min(Reading.ts), sa.func.max(Reading.ts)).where(Reading.locker_id == locker)
            first, last = db.execute(query).one()
    finally:
        engine.dispose()
    return (last - first).total_seconds() / 3600


def test_the_edge_agent_killed_mid_burst_sends_everything_after_its_restart(fragile_stack, database_url):
    stack = fragile_stack
    order, pickup = ready_order(stack)
    with Burst(stack.locker) as burst:
        burst.reach(STRETCH)
        use_at_locker(stack, pickup["token"], order["compartments"])
        burst.more(50)
        stack.restart_edge(kill=True)  # kill -9 while events are in flight and queued
        burst.more(STRETCH)
        refused = burst.finish()
    assert burst.unanswered > 0, "the burst went on through the restart"
    assert_every_event_arrived_once(stack, database_url, refused_at_least=refused)
    assert order_status(stack, order, "collected")
    used = stack.cli("sim", "scan", stack.locker, pickup["token"])
    assert used.returncode == 1 and "already_used" in used.stdout, "a used code stays used across the crash"


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "kill-9"])
def test_the_cloud_restarted_mid_burst_loses_and_repeats_nothing(fragile_stack, database_url, kill):
    stack = fragile_stack
    order, pickup = ready_order(stack)
    with Burst(stack.locker) as burst:
        burst.reach(STRETCH)
        use_at_locker(stack, pickup["pin"], order["compartments"])
        stack.restart_cloud(kill=kill)
        burst.more(STRETCH)
        refused = burst.finish()
    assert burst.unanswered == 0
    assert_every_event_arrived_once(stack, database_url, refused_at_least=refused)
    assert order_status(stack, order, "collected")
