"""Remote commands (admin): unlock compartments of a locker, audited, and follow the locker's answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cloud.api.deps import AdminDep, RuntimeDep, SessionDep
from cloud.schemas import error_responses
from cloud.schemas_edge import CommandOut, CommandsOut, UnlockRequest

router = APIRouter(prefix="/api/v1", tags=["commands"])


@router.post(
    "/lockers/{locker_id}/unlock",
    status_code=202,
    summary="Unlock compartments remotely (admin, audited)",
    responses=error_responses(401, 403, 404, 422, 503),
)
def unlock(locker_id: str, body: UnlockRequest, admin: AdminDep, runtime: RuntimeDep) -> CommandOut:
    """Accepted means sent: the locker answers on its own (`acknowledged` or `refused`); a command not answered
    before `expires_at` shows `expired`, and a locker that gets it later ignores it."""
    actor = admin.describe() + (f" ({body.by})" if body.by else "")
    return runtime.commands.unlock(actor, locker_id, body)


@router.get(
    "/lockers/{locker_id}/commands",
    summary="Remote commands sent to a locker, newest first (admin)",
    responses=error_responses(401, 403, 404),
)
def locker_commands(
    locker_id: str,
    _admin: AdminDep,
    runtime: RuntimeDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> CommandsOut:
    return runtime.commands.of_locker(session, locker_id, limit)


@router.get("/commands/{command_id}", summary="One remote command (admin)", responses=error_responses(401, 403, 404))
def get_command(command_id: str, _admin: AdminDep, runtime: RuntimeDep, session: SessionDep) -> CommandOut:
    return runtime.commands.get(session, command_id)
