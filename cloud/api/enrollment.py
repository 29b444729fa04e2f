"""Locker onboarding: enrollment tokens and broker credentials (admin), and the locker's enrollment itself."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.deps import AdminDep, ClientDep, RuntimeDep, SessionDep
from cloud.schemas import error_responses
from cloud.schemas_provisioning import CredentialStatusOut, DeviceCredentialsOut, EnrollmentOut, EnrollRequest

router = APIRouter(prefix="/api/v1", tags=["provisioning"])


@router.post(
    "/lockers/{locker_id}/enrollments",
    status_code=201,
    summary="Issue a one-time enrollment token for a locker (admin); also how credentials are rotated",
    responses=error_responses(401, 403, 404, 503),
)
def issue_enrollment(locker_id: str, admin: AdminDep, runtime: RuntimeDep) -> EnrollmentOut:
    return runtime.enrollments.issue(locker_id, admin.describe())


@router.post(
    "/enroll",
    summary="Trade a one-time enrollment token for the locker's own broker credentials",
    responses=error_responses(401, 410, 422, 429, 503),
)
def enroll(body: EnrollRequest, runtime: RuntimeDep, client: ClientDep) -> DeviceCredentialsOut:
    with runtime.auth_limiter.attempt(client):
        return runtime.enrollments.enroll(body.token)


@router.get(
    "/lockers/{locker_id}/credentials",
    summary="Whether the locker has a broker account, and its open enrollment tokens (admin)",
    responses=error_responses(401, 403, 404),
)
def credentials(locker_id: str, _admin: AdminDep, runtime: RuntimeDep, session: SessionDep) -> CredentialStatusOut:
    return runtime.enrollments.status(session, locker_id)


@router.delete(
    "/lockers/{locker_id}/credentials",
    summary="Revoke the locker's broker account: it is disconnected and refused from now on (admin)",
    responses=error_responses(401, 403, 404, 503),
)
def revoke(locker_id: str, admin: AdminDep, runtime: RuntimeDep) -> CredentialStatusOut:
    return runtime.enrollments.revoke(locker_id, admin.describe())
