"""Property: a pickup code opens once. Whatever order of scans and typed PINs, at whatever moments inside its
validity, through the locker's own Scanner and SQLite store (even reopened, as after a power cut), the first
presentation opens and every later one of the same order (QR or PIN) is refused `already_used`."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.codecheck import Decision, Refusal
from edge.scanning import Scanner
from edge.store import EdgeStore
from lockers.layout import demo_layout
from lockers.protocol.messages import RejectReason
from tests.edge.codes_fixture import NOW, CodeBook, desired, grant

BOOK = CodeBook()
COMPARTMENTS = frozenset(c.id for c in demo_layout().compartments)
PIN = "482913"
TOKEN = BOOK.pickup("ord-replay", ["A2", "B2"], code_id="ab000001")
STATE = desired(pickups=[grant("ord-replay", "ab000001", PIN, ["A2", "B2"])])
_runs = itertools.count()

presentations = st.lists(
    st.tuples(st.sampled_from(["qr", "pin"]), st.integers(min_value=0, max_value=22 * 60)), min_size=2, max_size=6
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attempts=presentations, reopen_after=st.integers(min_value=0, max_value=5))
def test_a_code_opens_once_and_is_refused_as_used_ever_after(tmp_path: Path, attempts, reopen_after):
    path = tmp_path / f"run-{next(_runs)}" / "edge.sqlite"
    store = EdgeStore(path)
    scanner = Scanner("demo-1", BOOK.public_keys, store, COMPARTMENTS)
    outcomes = []
    for index, (kind, minutes) in enumerate(sorted(attempts, key=lambda a: a[1])):
        if index == reopen_after:  # the locker restarts: what was consumed is read back from disk
            store.close()
            store = EdgeStore(path)
            scanner = Scanner("demo-1", BOOK.public_keys, store, COMPARTMENTS)
        verdict = scanner.check(TOKEN if kind == "qr" else PIN, STATE, NOW + timedelta(minutes=minutes))
        outcomes.append(verdict)
    store.close()
    first, *later = outcomes
    assert isinstance(first, Decision) and first.compartments == ("A2", "B2")
    for verdict in later:
        assert isinstance(verdict, Refusal) and verdict.reason is RejectReason.ALREADY_USED, verdict
