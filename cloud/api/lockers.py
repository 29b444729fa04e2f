"""/api/v1/lockers: onboarding (admin), status for every caller, and recorded edge events and gaps (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cloud.api.deps import AdminDep, CallerDep, RuntimeDep, SessionDep
from cloud.schemas import EventsOut, LockerCreate, LockerOut, LockerUpdate, error_responses
from cloud.schemas_edge import EventGapsOut
from lockers.protocol.messages import EventKind

router = APIRouter(prefix="/api/v1/lockers", tags=["lockers"])


@router.post(
    "", status_code=201, summary="Register a locker with its layout (admin)", responses=error_responses(401, 403, 409)
)
def register_locker(body: LockerCreate, _admin: AdminDep, runtime: RuntimeDep) -> LockerOut:
    return runtime.lockers.register(body)


@router.patch(
    "/{locker_id}",
    summary="Change a locker's name or where residents find it (admin, audited)",
    responses=error_responses(401, 403, 404),
)
def update_locker(locker_id: str, body: LockerUpdate, admin: AdminDep, runtime: RuntimeDep) -> LockerOut:
    return runtime.lockers.update(admin.describe(), locker_id, body)


@router.get("", summary="All lockers with their status", responses=error_responses(401))
def list_lockers(caller: CallerDep, runtime: RuntimeDep, session: SessionDep) -> list[LockerOut]:
    return runtime.lockers.list(session, caller)


@router.get(
    "/{locker_id}",
    summary="A locker: online, doors, temperatures and compartment occupancy",
    responses=error_responses(401, 404),
)
def get_locker(locker_id: str, caller: CallerDep, runtime: RuntimeDep, session: SessionDep) -> LockerOut:
    return runtime.lockers.status(session, caller, locker_id)


@router.get(
    "/{locker_id}/events",
    summary="Events the locker reported, newest first (admin)",
    responses=error_responses(401, 403, 404),
)
def locker_events(
    locker_id: str,
    _admin: AdminDep,
    runtime: RuntimeDep,
    session: SessionDep,
    kind: EventKind | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventsOut:
    return runtime.lockers.events(session, locker_id, kind, limit)


@router.get(
    "/{locker_id}/events/gaps",
    summary="Which of the locker's events are missing, and since when (admin)",
    responses=error_responses(401, 403, 404),
)
def locker_event_gaps(locker_id: str, _admin: AdminDep, runtime: RuntimeDep, session: SessionDep) -> EventGapsOut:
    return runtime.lockers.gaps(session, locker_id)
