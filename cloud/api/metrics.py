"""GET /metrics: Prometheus metrics of the cloud (cloud/metrics.py), for a scraper holding DK_METRICS_TOKEN."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from cloud.api.deps import RuntimeDep
from cloud.errors import NotFound, Unauthorized
from cloud.metrics import CONTENT_TYPE, exposition
from cloud.tokens import same_secret, sha256_hex

router = APIRouter(tags=["system"])


@router.get("/metrics", summary="Prometheus metrics (Authorization: Bearer DK_METRICS_TOKEN)", response_class=Response)
def metrics(runtime: RuntimeDep, authorization: Annotated[str | None, Header()] = None) -> Response:
    token = runtime.settings.metrics_token
    if token is None:
        raise NotFound("metrics are off: set DK_METRICS_TOKEN and give Prometheus the same token")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not same_secret(given.strip(), sha256_hex(token.get_secret_value())):
        raise Unauthorized("send Authorization: Bearer <DK_METRICS_TOKEN>")
    return Response(exposition(runtime.metrics), media_type=CONTENT_TYPE)
