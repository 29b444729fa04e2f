"""Domain exceptions of the cloud service and their JSON form: `{"detail": "<a sentence a person understands>"}`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from lockers.errors import DorpskluisError


class CloudError(DorpskluisError):
    """A request the service refuses on purpose; `status_code` is its HTTP answer."""

    status_code = 400

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra  # more fields of the JSON body beside `detail` (e.g. a full locker's alternatives)


class InvalidRequest(CloudError):
    """Well-formed JSON that names something impossible (an unknown vendor, a missing field for admins)."""

    status_code = 422


class Unauthorized(CloudError):
    """No credentials, or credentials nobody issued."""

    status_code = 401


class Forbidden(CloudError):
    """Known caller, but not allowed to see or change this."""

    status_code = 403


class NotFound(CloudError):
    status_code = 404


class Conflict(CloudError):
    """The request is valid but the current state does not allow it (full locker, wrong order status)."""

    status_code = 409


class Gone(CloudError):
    """It existed once and is used up or expired (a one-time enrollment token)."""

    status_code = 410


class TooManyRequests(CloudError):
    """Too many failed attempts from one client; `retry_after_s` says when to try again."""

    status_code = 429

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class ServiceUnavailable(CloudError):
    """Something the request needs (the broker, the database) cannot be reached right now; try again later."""

    status_code = 503


class DatabaseUnavailable(ServiceUnavailable):
    """The database refused or lost the connection, or is locked: nothing was changed."""


def validation_message(errors: Sequence[Any]) -> str:
    """The first validation error as one line: `parts.0.zone: Input should be 'ambient', ...`."""
    if not errors:
        return "the request is invalid"
    first = errors[0]
    if first.get("type") == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "")
        return f"the request body is not valid JSON{': ' + str(reason) if reason else ''}"
    loc = [str(part) for part in first.get("loc", ())]
    if loc == ["body"] and first.get("type") == "value_error":
        return str(first.get("msg", "the request body is invalid")).removeprefix("Value error, ")
    if loc == ["body"]:
        # Usually JSON sent without `Content-Type: application/json`, which FastAPI then does not parse.
        return "the request body must be a JSON object, sent with Content-Type: application/json"
    if loc[:1] == ["body"]:
        loc = loc[1:]
    elif loc[:1] in (["query"], ["path"], ["header"]):
        loc = [f"{loc[0]} parameter {'.'.join(loc[1:])}"]
    where = ".".join(loc) or "body"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid value')}{more}"


async def _cloud_error(_request: Request, exc: CloudError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyRequests) else None
    body = {"detail": exc.detail} | jsonable_encoder(exc.extra)
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    return JSONResponse(
        {"detail": validation_message(errors), "errors": jsonable_encoder(errors)},
        status_code=422,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map our exceptions and FastAPI's validation errors to readable JSON bodies."""
    app.add_exception_handler(CloudError, _cloud_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
