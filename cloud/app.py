"""The FastAPI application: routes, error mapping, and a lifespan that runs the cloud runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from cloud.api import (
    alerts,
    audit,
    commands,
    contacts,
    enrollment,
    integrations,
    limits,
    lockers,
    metrics,
    orders,
    system,
    vendors,
)
from cloud.errors import install_error_handlers
from cloud.runtime import open_runtime
from cloud.settings import Settings, prepare_settings
from cloud.web import STATIC_DIR, auth, dashboard, resident, vendor

MAX_BODY_BYTES = 1024 * 1024


async def _to_login(request: Request, exc: auth.LoginRequired) -> RedirectResponse:
    query = urlencode(
        {"next": exc.path, **({"lang": request.query_params["lang"]} if "lang" in request.query_params else {})}
    )
    return RedirectResponse(f"/login?{query}", status_code=303)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; settings are checked here, so a bad production config fails before serving (ConfigError)."""
    settings = prepare_settings(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Start-up does blocking I/O (database, key files, MQTT); keep it off the event loop.
        runtime = await run_in_threadpool(open_runtime, settings)
        app.state.runtime = runtime
        try:
            await run_in_threadpool(runtime.start)
            yield
        finally:
            await run_in_threadpool(runtime.close)

    app = FastAPI(
        title="Dorpskluis cloud",
        summary="Orders, compartment assignment, pickup codes and locker monitoring for village lockers",
        version="0.1.0",
        lifespan=lifespan,
        max_body_size=MAX_BODY_BYTES,
    )
    install_error_handlers(app)
    for module in (
        orders,
        vendors,
        integrations,
        lockers,
        enrollment,
        commands,
        limits,
        alerts,
        contacts,
        audit,
        system,
        metrics,
    ):
        app.include_router(module.router)
    for module in (resident, auth, dashboard, vendor):
        app.include_router(module.router)
    app.add_exception_handler(auth.LoginRequired, _to_login)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
