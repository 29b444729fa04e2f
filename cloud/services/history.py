"""Applying a lifecycle transition to an order row and recording who or what caused it."""

from __future__ import annotations

from datetime import datetime

from cloud.lifecycle import OrderStatus, check_transition
from cloud.models import Order, OrderTransition


def move(order: Order, target: OrderStatus, at: datetime, cause: str) -> None:
    """Change `order.status` to `target` if the lifecycle allows it (else IllegalTransition) and record why."""
    current = OrderStatus(order.status)
    check_transition(order.id, current, target)
    order.status = target.value
    order.transitions.append(OrderTransition(from_status=current.value, to_status=target.value, at=at, cause=cause))


def start(order: Order, at: datetime, cause: str) -> None:
    """Record the birth of an order in status `created`."""
    order.status = OrderStatus.CREATED.value
    order.transitions.append(OrderTransition(from_status=None, to_status=OrderStatus.CREATED.value, at=at, cause=cause))


def note(order: Order, at: datetime, cause: str) -> None:
    """Record something that happened to the order without changing its status (e.g. a cold-chain breach)."""
    order.transitions.append(OrderTransition(from_status=order.status, to_status=order.status, at=at, cause=cause))
