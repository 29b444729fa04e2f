"""The walking skeleton end to end over the real broker: order → compartments → vendor code → loaded →
ready → QR/PIN → unlock → collected, with refusals for every bad code. No part of Dorpskluis is faked:
the cloud and the simulated locker run as their own processes and are driven through the HTTP API and
the `dorpskluis` command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.serialization import load_pem_private_key

from lockers import codes
from lockers.layout import Size, Zone, demo_layout
from tests.support import wait_until

LAYOUT = demo_layout()


def create_order(stack, *parts: tuple[str, str], accessible: bool = False) -> dict:
    body = {
        "locker": stack.locker,
        "resident": {"name": "Mevrouw J. de Vries", "email": "j.devries@example.nl"},
        "parts": [{"zone": zone, "size": size} for zone, size in parts],
        "accessible": accessible,
    }
    response = stack.vendor.post("/api/v1/orders", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def load_order(stack, order: dict) -> dict:
    """The vendor scans its code, the doors pop open, the goods go in, the doors are closed."""
    scan = stack.cli("sim", "scan", stack.locker, stack.vendor_code)
    assert scan.returncode == 0, scan.stdout + scan.stderr
    for compartment in order["compartments"]:
        assert compartment in scan.stdout
        closed = stack.cli("sim", "door", stack.locker, compartment, "close")
        assert closed.returncode == 0, closed.stdout + closed.stderr
    return wait_until(lambda: (o := stack.order(order["id"]))["status"] == "ready" and o, 30, "order ready")


def collect(stack, order: dict, code: str) -> dict:
    scan = stack.cli("sim", "scan", stack.locker, code)
    assert scan.returncode == 0, scan.stdout + scan.stderr
    for compartment in order["compartments"]:
        assert compartment in scan.stdout
        assert stack.cli("sim", "door", stack.locker, compartment, "close").returncode == 0
    return wait_until(lambda: (o := stack.order(order["id"]))["status"] == "collected" and o, 30, "order collected")


def compartments_view(stack) -> dict[str, dict]:
    return {c["id"]: c for c in stack.admin.locker(stack.locker)["compartments"]}


def test_multi_zone_order_from_creation_to_collection_with_the_qr_token(stack):
    order = create_order(stack, ("chilled", "M"), ("frozen", "S"))
    assert order["status"] == "assigned"
    chilled, frozen = (LAYOUT.compartment(c) for c in sorted(order["compartments"]))
    assert (chilled.zone, frozen.zone) == (Zone.CHILLED, Zone.FROZEN)
    assert (chilled.size, frozen.size) == (Size.M, Size.S), "best fit: the smallest compartment that fits"
    not_ready = stack.vendor.get(f"/api/v1/orders/{order['id']}/pickup")
    assert not_ready.status_code == 409 and "loaded" in not_ready.json()["detail"]

    ready = load_order(stack, order)
    pickup = stack.vendor.get(f"/api/v1/orders/{order['id']}/pickup").json()
    assert sorted(pickup["compartments"]) == sorted(order["compartments"])
    assert pickup["qr_png"].startswith("data:image/png;base64,") and "<svg" in pickup["qr_svg"]
    assert codes.is_pin(pickup["pin"])
    occupied = compartments_view(stack)
    assert all(occupied[c]["occupied"] for c in order["compartments"])

    done = collect(stack, ready, pickup["token"])
    statuses = [step["to"] for step in done["history"]]
    assert statuses == ["created", "assigned", "loaded", "ready", "collected"]
    assert all(step["cause"] for step in done["history"])
    view = compartments_view(stack)
    assert not any(view[c]["occupied"] for c in order["compartments"])
    assert {view[c]["door"] for c in order["compartments"]} == {"closed"}

    used = stack.cli("sim", "scan", stack.locker, pickup["token"])
    assert used.returncode == 1 and "already_used" in used.stdout


def test_the_pin_opens_every_compartment_of_the_order(stack):
    order = create_order(stack, ("ambient", "S"), ("chilled", "S"), ("frozen", "S"))
    load_order(stack, order)
    pin = stack.vendor.get(f"/api/v1/orders/{order['id']}/pickup").json()["pin"]
    done = collect(stack, order, pin)
    assert done["status"] == "collected"
    again = stack.cli("sim", "scan", stack.locker, pin)
    assert again.returncode == 1 and "already_used" in again.stdout


def test_bad_codes_are_refused_with_a_reason_and_recorded(stack):
    order = create_order(stack, ("chilled", "S"))
    load_order(stack, order)
    pickup = stack.vendor.get(f"/api/v1/orders/{order['id']}/pickup").json()
    signing_key = load_pem_private_key((stack.cloud.data_dir / "signing-key.pem").read_bytes(), None)
    now = datetime.now(UTC)

    def signed(locker: str, start: datetime, hours: float, key=signing_key) -> str:
        claims = codes.pickup_claims(
            key_id=1,
            locker=locker,
            order=order["id"],
            compartments=order["compartments"],
            not_before=start,
            valid_for=timedelta(hours=hours),
        )
        return codes.issue_token(claims, key)

    wrong_pin = next(p for p in ("135790", "246801", "975312") if p != pickup["pin"])
    attempts = {
        "wrong_pin": wrong_pin,
        "bad_signature": signed(stack.locker, now, 24, key=codes.Ed25519PrivateKey.generate()),
        "wrong_locker": signed("elsewhere-1", now, 24),
        "expired": signed(stack.locker, now - timedelta(hours=30), 24),
        "malformed": "HELLO WORLD",
    }
    for reason, code in attempts.items():
        refused = stack.cli("sim", "scan", stack.locker, code)
        assert refused.returncode == 1, (reason, refused.stdout)
        assert reason in refused.stdout, refused.stdout
    assert {c["door"] for c in compartments_view(stack).values()} == {"closed"}, "nothing opened"

    def recorded() -> set[str]:
        events = stack.admin.http.get(f"/api/v1/lockers/{stack.locker}/events", params={"kind": "code_rejected"})
        return {e["reason"] for e in events.json()["events"]}

    wait_until(lambda: set(attempts) <= recorded(), 15, "every refusal recorded in the cloud")
    assert stack.order(order["id"])["status"] == "ready", "refusals change nothing"

    unknown = stack.cli("sim", "scan", "no-such-locker", pickup["pin"])
    assert unknown.returncode == 2 and "no-such-locker" in unknown.stderr


def test_a_full_locker_answers_409_and_keeps_nothing(stack):
    frozen_count = len([c for c in LAYOUT.compartments if c.zone is Zone.FROZEN])
    for _ in range(frozen_count):
        create_order(stack, ("frozen", "S"))
    full = stack.vendor.post(
        "/api/v1/orders",
        json={"locker": stack.locker, "resident": {"name": "Piet"}, "parts": [{"zone": "frozen", "size": "S"}]},
    )
    assert full.status_code == 409
    assert "frozen" in full.json()["detail"]
    assert len(stack.vendor.get("/api/v1/orders").json()) == frozen_count


def test_temperatures_reach_the_locker_view(stack):
    def zones_with_readings() -> set[str]:
        return {z["zone"] for z in stack.admin.locker(stack.locker)["zones"] if z.get("celsius") is not None}

    wait_until(lambda: zones_with_readings() == {"ambient", "chilled", "frozen"}, 30, "a reading per zone")
    zones = {z["zone"]: z["celsius"] for z in stack.admin.locker(stack.locker)["zones"]}
    assert zones["frozen"] < -10 < zones["chilled"] < 10 < zones["ambient"]
