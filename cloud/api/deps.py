"""Dependencies of the HTTP handlers: the runtime, a read session, settings and the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from cloud.runtime import CloudRuntime
from cloud.services.access import Admin, Caller, VendorCaller, require_admin, require_vendor, resolve_caller
from cloud.settings import Settings

_api_key = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="the admin key of the foundation, or a vendor's API key",
)


def get_runtime(request: Request) -> CloudRuntime:
    return request.app.state.runtime


RuntimeDep = Annotated[CloudRuntime, Depends(get_runtime)]


def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """A read-only session for the request; writes go through services that own their transactions."""
    with runtime.db.read() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
ApiKey = Annotated[str | None, Security(_api_key)]


def get_client(request: Request) -> str:
    """Who is calling, for rate limits: the peer address (behind a proxy, uvicorn's --forwarded-allow-ips)."""
    return request.client.host if request.client else "unknown"


ClientDep = Annotated[str, Depends(get_client)]


def get_caller(runtime: RuntimeDep, api_key: ApiKey, client: ClientDep) -> Caller:
    if not api_key:
        return resolve_caller(None, runtime.settings.admin_key_value(), api_key)
    # Guessing keys costs a client its access for a while (429) once it failed too often.
    with runtime.auth_limiter.attempt(client), runtime.db.read() as session:
        # A session of its own, closed at once: holding the request's read connection while a service waits for
        # a write connection would let a burst of requests take every pooled connection and wait for each other.
        return resolve_caller(session, runtime.settings.admin_key_value(), api_key)


def get_optional_caller(runtime: RuntimeDep, api_key: ApiKey, client: ClientDep) -> Caller | None:
    """The caller when an API key is sent (an unknown key is still refused), else None."""
    if not api_key:
        return None
    return get_caller(runtime, api_key, client)


CallerDep = Annotated[Caller, Depends(get_caller)]
OptionalCallerDep = Annotated[Caller | None, Depends(get_optional_caller)]


def get_admin(caller: CallerDep) -> Admin:
    return require_admin(caller)


def get_vendor(caller: CallerDep) -> VendorCaller:
    return require_vendor(caller)


AdminDep = Annotated[Admin, Depends(get_admin)]
VendorDep = Annotated[VendorCaller, Depends(get_vendor)]
