"""Order state machine (pure): which status may follow which, and which statuses hold a compartment."""

from __future__ import annotations

from enum import StrEnum

from cloud.errors import Conflict


class OrderKind(StrEnum):
    """Which way goods go: a delivery is loaded by vendors and collected by the resident; a return (crates, jars,
    packaging) is put in by the resident and taken back by its vendor. Both follow the same lifecycle."""

    DELIVERY = "delivery"
    RETURN = "return"


class OrderStatus(StrEnum):
    """Where an order is in its life; see DESIGN.md "Orders and compartments"."""

    CREATED = "created"
    ASSIGNED = "assigned"  # compartments reserved, waiting for the vendor
    LOADED = "loaded"  # every part is in the locker
    READY = "ready"  # pickup code issued
    COLLECTED = "collected"
    EXPIRED = "expired"  # not collected before the pickup deadline; goods still inside
    RETURNED = "returned"  # expired goods taken back by the vendor
    CANCELLED = "cancelled"


_NEXT: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.CREATED: frozenset({OrderStatus.ASSIGNED, OrderStatus.CANCELLED}),
    OrderStatus.ASSIGNED: frozenset({OrderStatus.LOADED, OrderStatus.CANCELLED}),
    OrderStatus.LOADED: frozenset({OrderStatus.READY, OrderStatus.CANCELLED}),
    OrderStatus.READY: frozenset({OrderStatus.COLLECTED, OrderStatus.EXPIRED, OrderStatus.CANCELLED}),
    # Collected after all: the locker reported a pickup made before the deadline only after the expiry ran.
    OrderStatus.EXPIRED: frozenset({OrderStatus.RETURNED, OrderStatus.COLLECTED}),
    OrderStatus.COLLECTED: frozenset(),
    OrderStatus.RETURNED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}

# An order in one of these holds its compartments: goods are expected, inside, or not yet taken back.
HOLDS_COMPARTMENTS = frozenset({OrderStatus.ASSIGNED, OrderStatus.LOADED, OrderStatus.READY, OrderStatus.EXPIRED})
FINAL = frozenset(status for status, nxt in _NEXT.items() if not nxt)


class IllegalTransition(Conflict):
    """A status change the lifecycle does not allow."""

    def __init__(self, order: str, current: OrderStatus, target: OrderStatus) -> None:
        if current in FINAL:
            detail = f"order {order} is {current} and can no longer become {target}"
        else:
            allowed = ", ".join(sorted(_NEXT[current]))
            detail = f"order {order} is {current}: it can become {allowed}, not {target}"
        super().__init__(detail)
        self.current = current
        self.target = target


def allowed_next(current: OrderStatus) -> frozenset[OrderStatus]:
    return _NEXT[current]


def check_transition(order: str, current: OrderStatus, target: OrderStatus) -> OrderStatus:
    """Return `target` when `current -> target` is allowed, else raise IllegalTransition."""
    if target not in _NEXT[current]:
        raise IllegalTransition(order, current, target)
    return target


def holds_compartments(status: OrderStatus) -> bool:
    return status in HOLDS_COMPARTMENTS
