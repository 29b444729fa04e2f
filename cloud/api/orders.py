"""/api/v1/orders: create, list, show, cancel, the pickup code, and returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query

from cloud.api.deps import CallerDep, ClientDep, OptionalCallerDep, RuntimeDep, SessionDep
from cloud.errors import Unauthorized
from cloud.lifecycle import OrderStatus
from cloud.ratelimit import LINK_FAILURES
from cloud.runtime import CloudRuntime
from cloud.schemas import OrderColdChainOut, OrderCreate, OrderOut, PickupOut, ReturnCreate, error_responses
from cloud.services.access import Caller

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])
T = TypeVar("T")


def _caller_or_link(
    caller: Caller | None, token: str | None, client: str, runtime: CloudRuntime, call: Callable[[], T]
) -> T:
    """Run `call` for an API caller, or for whoever holds the resident link; wrong links count against the client
    (guessing them is rate-limited like guessing keys)."""
    if caller is None and token is None:
        raise Unauthorized("send your API key in the X-API-Key header, or open the resident link")
    if token is None:
        return call()
    with runtime.auth_limiter.attempt(client, LINK_FAILURES):
        return call()


@router.post(
    "",
    status_code=201,
    summary="Create an order and reserve its compartments",
    responses=error_responses(401, 403, 404, 409, 422),
)
def create_order(body: OrderCreate, caller: CallerDep, runtime: RuntimeDep) -> OrderOut:
    """Best fit per part within its zone; all parts get a compartment or the order is refused with 409."""
    return runtime.orders.create(caller, body)


@router.get("", summary="List orders (a vendor sees its own)", responses=error_responses(401))
def list_orders(
    caller: CallerDep,
    runtime: RuntimeDep,
    session: SessionDep,
    status: OrderStatus | None = None,
    locker: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[OrderOut]:
    return runtime.orders.list(session, caller, status=status, locker=locker, limit=limit)


@router.get("/{order_id}", summary="An order with its full history", responses=error_responses(401, 403, 404))
def get_order(order_id: str, caller: CallerDep, runtime: RuntimeDep, session: SessionDep) -> OrderOut:
    return runtime.orders.get(session, caller, order_id)


@router.get(
    "/{order_id}/pickup",
    summary="The pickup code (QR token and PIN) of a ready order",
    responses=error_responses(401, 403, 404, 409, 410, 429),
)
def get_pickup(
    order_id: str,
    caller: OptionalCallerDep,
    client: ClientDep,
    runtime: RuntimeDep,
    session: SessionDep,
    token: Annotated[str | None, Query(max_length=200, description="the resident link's token")] = None,
) -> PickupOut:
    """For the order's vendor, an admin, or the resident through the link (`?token=`)."""
    return _caller_or_link(
        caller, token, client, runtime, lambda: runtime.pickups.show(session, order_id, caller, token)
    )


@router.post(
    "/{order_id}/returns",
    status_code=201,
    summary="Book a compartment for the resident to return crates, jars or packaging of a collected order",
    responses=error_responses(401, 403, 404, 409, 410, 422, 429),
)
def book_return(
    order_id: str,
    body: ReturnCreate,
    caller: OptionalCallerDep,
    client: ClientDep,
    runtime: RuntimeDep,
    token: Annotated[str | None, Query(max_length=200, description="the resident link's token")] = None,
) -> OrderOut:
    """The return is an order of kind `return`: its deposit code (`GET /api/v1/orders/{return}/pickup`) opens
    the compartment in its window; the vendor is told once it is in and takes it back with its vendor code.
    409 with `alternatives` when the locker is full then."""
    # With a link, the booking is the resident's, whoever else is signed in.
    who = (caller, None) if token is None else (None, token)
    return _caller_or_link(caller, token, client, runtime, lambda: runtime.returns.book(order_id, body, *who))


@router.get(
    "/{order_id}/coldchain",
    summary="Whether the goods stayed cold, and the cold-chain record once collected or expired",
    responses=error_responses(401, 403, 404, 410, 429),
)
def get_coldchain(
    order_id: str,
    caller: OptionalCallerDep,
    client: ClientDep,
    runtime: RuntimeDep,
    session: SessionDep,
    token: Annotated[str | None, Query(max_length=200, description="the resident link's token")] = None,
) -> OrderColdChainOut:
    """For the order's vendor, an admin, or the resident through the link (`?token=`), at any status."""
    return _caller_or_link(
        caller, token, client, runtime, lambda: runtime.pickups.coldchain(session, order_id, caller, token)
    )


@router.post("/{order_id}/cancel", summary="Cancel an order", responses=error_responses(401, 403, 404, 409))
def cancel_order(order_id: str, caller: CallerDep, runtime: RuntimeDep) -> OrderOut:
    """Frees the compartments and revokes the pickup code at the locker."""
    return runtime.orders.cancel(caller, order_id)


@router.delete(
    "/{order_id}", summary="Cancel an order (same as POST …/cancel)", responses=error_responses(401, 403, 404, 409)
)
def delete_order(order_id: str, caller: CallerDep, runtime: RuntimeDep) -> OrderOut:
    return runtime.orders.cancel(caller, order_id)
