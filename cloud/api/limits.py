"""/api/v1/lockers/{id}/limits: the alarm limits of each zone of a locker (admin; changes are audited)."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.deps import AdminDep, RuntimeDep, SessionDep
from cloud.schemas import error_responses
from cloud.schemas_monitoring import LockerLimitsOut, ZoneLimitsOut, ZoneLimitsUpdate
from lockers.layout import Zone

router = APIRouter(prefix="/api/v1/lockers", tags=["limits"])


@router.get("/{locker_id}/limits", summary="Alarm limits per zone (admin)", responses=error_responses(401, 403, 404))
def get_limits(locker_id: str, _admin: AdminDep, runtime: RuntimeDep, session: SessionDep) -> LockerLimitsOut:
    return runtime.limits.view(session, locker_id)


@router.put(
    "/{locker_id}/limits/{zone}",
    summary="Change some limits of a zone (admin)",
    responses=error_responses(401, 403, 404, 422),
)
def put_limits(
    locker_id: str, zone: Zone, body: ZoneLimitsUpdate, admin: AdminDep, runtime: RuntimeDep
) -> ZoneLimitsOut:
    """Only the fields sent change; the alarm rules use the new limits from the next reading on."""
    return runtime.limits.update(admin.describe(), locker_id, zone, body)
