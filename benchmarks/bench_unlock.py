"""2. Unlock latency: a code typed or scanned → the lock relay on, at the edge with its uplink cut.

The real agent (worker thread, SQLite store with synchronous=FULL, control socket) over gpiozero MockFactory
pins whose relay pins note the time they turn on. The locker gets its desired state from a private mosquitto,
then its uplink is cut (`Agent.set_uplink(False)`, as `dorpskluis sim uplink down`) for every scan. Each round
delivers one ready order per compartment (12, as a full demo cabinet holds), so the PIN is looked up among
as many hashes as a real locker has. Codes go in two ways: from a kiosk in its own process over the control
socket (what a kiosk uses; one connection per code), and by calling `Agent.scan` in-process. The PIN baseline
is the same path with PIN hashes at the previous scrypt cost (N=2^12), in interleaved rounds of this run.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.context import BenchContext
from benchmarks.edge_rig import UnlockRig
from benchmarks.results import Figure
from lockers import codes

BENCH = "2. Unlock"
GOAL_MS = 20.0
GOAL = f"p99 ≤ {GOAL_MS:g} ms"


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile of raw samples."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def hash_ms(cost: codes.ScryptCost, repeats: int) -> float:
    """Median milliseconds of one PIN hash at `cost` on this machine."""
    salt = codes.new_pin_salt()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        codes.hash_pin("482913", salt, cost)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(ctx: BenchContext) -> list[Figure]:
    rounds = ctx.pick(17, 1)  # 12 codes per round and kind: ~200 samples per path in the full run
    samples: dict[tuple[str, str], list[float]] = {}
    with ctx.broker() as broker, tempfile.TemporaryDirectory(prefix="dk-unlock-") as short:
        rig = UnlockRig(Path(short), broker)  # a short folder: Unix socket paths hold 107 bytes
        try:
            sends = {"socket": rig.over_socket, "in-process": rig.in_process}
            progress = ctx.task("2. unlock: codes → relay", total=len(sends) * rounds * 3 * len(rig.compartments))
            rig.over_socket(rig.token(rig.compartments[0]))  # start the kiosk process before measuring
            for path, send in sends.items():
                for _ in range(rounds):
                    # Interleaved, so the baseline sees the same conditions as the new cost.
                    for kind, cost in (("pin", codes.PIN_COST), ("pin-legacy", codes.LEGACY_PIN_COST)):
                        for pin, compartment in rig.load_pins(cost):
                            samples.setdefault((path, kind), []).append(rig.unlock_ms(pin, compartment, send))
                            progress.advance()
                    for compartment in rig.compartments:
                        token = rig.token(compartment)
                        samples.setdefault((path, "qr"), []).append(rig.unlock_ms(token, compartment, send))
                        progress.advance()
        finally:
            rig.close()
    return _figures(samples, hash_ms(codes.PIN_COST, 20), hash_ms(codes.LEGACY_PIN_COST, 20))


def _figures(samples: dict[tuple[str, str], list[float]], new_hash: float, old_hash: float) -> list[Figure]:
    figures = []
    legacy = f"scrypt N=2^{codes.LEGACY_PIN_COST.log_n} PIN hashes (previous cost), same path"
    cost = codes.PIN_COST
    pin_how = f"scrypt N=2^{cost.log_n}, r={cost.r}: {new_hash:.1f} ms per hash here (was {old_hash:.1f} ms)"
    where = {
        "socket": "kiosk process → control socket (a new connection per code)",
        "in-process": "Agent.scan called in the agent's process",
    }
    for path in ("socket", "in-process"):
        qr, pin, old = samples[(path, "qr")], samples[(path, "pin")], samples[(path, "pin-legacy")]
        common = f"{where[path]}; uplink cut; relay on = mock pin's change; n={len(qr)} QR, {len(pin)} PIN"
        for q in (50, 99) if path == "socket" else (99,):
            goal = GOAL if q == 99 else ""
            met = (percentile(qr, 99) <= GOAL_MS) if q == 99 else None
            figures.append(
                Figure(
                    BENCH,
                    f"QR token → relay on, p{q} ({path})",
                    percentile(qr, q),
                    "ms",
                    goal=goal,
                    met=met,
                    note=f"{common}; Ed25519 verify; p50 {percentile(qr, 50):.1f} ms",
                )
            )
            figures.append(
                Figure(
                    BENCH,
                    f"PIN → relay on, p{q} ({path})",
                    percentile(pin, q),
                    "ms",
                    baseline=percentile(old, q),
                    baseline_label=legacy,
                    goal=goal,
                    met=(percentile(pin, 99) <= GOAL_MS) if q == 99 else None,
                    note=f"{common}; {pin_how}; p50 {percentile(pin, 50):.1f} ms; see docs/security.md",
                )
            )
    return figures
