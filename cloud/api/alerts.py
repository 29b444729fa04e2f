"""/api/v1/alerts: the foundation's view of alarms (admin only for now) and acknowledging them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from cloud.api.deps import AdminDep, RuntimeDep, SessionDep
from cloud.schemas import error_responses
from cloud.schemas_monitoring import AlertAck, AlertKind, AlertOut, AlertState

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


@router.get("", summary="Alerts, newest first (admin)", responses=error_responses(401, 403))
def list_alerts(
    _admin: AdminDep,
    runtime: RuntimeDep,
    session: SessionDep,
    locker: str | None = None,
    state: AlertState | None = None,
    kind: AlertKind | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AlertOut]:
    """`kind` tells temperature alarms from sensor faults and offline lockers."""
    return runtime.alerts.list(session, locker=locker, state=state, kind=kind, limit=limit)


@router.get("/{alert_id}", summary="One alert (admin)", responses=error_responses(401, 403, 404))
def get_alert(alert_id: int, _admin: AdminDep, runtime: RuntimeDep, session: SessionDep) -> AlertOut:
    return runtime.alerts.get(session, alert_id)


@router.post("/{alert_id}/ack", summary="Acknowledge an alert (admin)", responses=error_responses(401, 403, 404, 409))
def acknowledge(
    alert_id: int, admin: AdminDep, runtime: RuntimeDep, body: Annotated[AlertAck | None, Body()] = None
) -> AlertOut:
    """Stops escalation; recorded in the audit trail. A cleared alert may still be acknowledged (it stays
    cleared); acknowledging twice is refused with 409."""
    body = body or AlertAck()
    actor = admin.describe() + (f" ({body.by})" if body.by else "")
    return runtime.alerts.acknowledge(actor, alert_id, body.note)
