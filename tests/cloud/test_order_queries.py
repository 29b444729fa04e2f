"""Creating an order costs a fixed, small number of SQL statements, however many orders the locker holds (the
API benchmark's p99 is made of database round trips)."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from sqlalchemy import event

from tests.cloud.conftest import key, order_body

# vendor key, lock, compartments + occupied, id check, 3 inserts; desired state: version, locker, orders + parts,
# revoked codes (SQLite inserts the two history rows one by one: 13). Each statement is a round trip, so this
# number is the floor of the create path's latency; it was 19 before the benchmark (issue 5).
MAX_STATEMENTS = 13


@contextmanager
def counted(client):
    statements: list[str] = []
    engine = client.app.state.runtime.db.engine

    def count(_conn, _cursor, statement, *_args) -> None:
        # Not the watchdog, ingest or notifier threads; and not the BEGINs SQLAlchemy sends itself on SQLite.
        if not threading.current_thread().name.startswith("dk-cloud-") and not statement.startswith("BEGIN"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def create(client, locker: str, vendor: dict, zone: str) -> list[str]:
    with counted(client) as statements:
        response = client.post("/api/v1/orders", headers=key(vendor), json=order_body(locker, (zone, "S")))
        assert response.status_code == 201, response.text
    return statements


def test_creating_an_order_takes_the_same_few_statements_however_full_the_locker(client, locker, farmer):
    create(client, locker, farmer, "ambient")  # warm: the first request loads what every later one reuses
    second = create(client, locker, farmer, "chilled")
    for zone in ["chilled"] * 4 + ["frozen"] * 2:
        create(client, locker, farmer, zone)
    ninth = create(client, locker, farmer, "frozen")
    assert len(ninth) == len(second), "\n".join(ninth)
    assert len(second) <= MAX_STATEMENTS, "\n".join(second)


def test_occupied_compartments_are_still_skipped_and_freed_by_cancelling(client, locker, farmer):
    first = client.post("/api/v1/orders", headers=key(farmer), json=order_body(locker, ("frozen", "S"))).json()
    second = client.post("/api/v1/orders", headers=key(farmer), json=order_body(locker, ("frozen", "S"))).json()
    assert (first["compartments"], second["compartments"]) == (["C1"], ["C2"])
    assert client.post(f"/api/v1/orders/{first['id']}/cancel", headers=key(farmer)).status_code == 200
    third = client.post("/api/v1/orders", headers=key(farmer), json=order_body(locker, ("frozen", "S"))).json()
    assert third["compartments"] == ["C1"]
