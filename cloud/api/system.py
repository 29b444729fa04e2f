"""Public endpoints: the code-signing public keys and the service health."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter

from cloud.api.deps import RuntimeDep
from cloud.schemas import ExportStatsOut, HealthOut, IngestStatsOut, KeysOut, PublicKeyOut

router = APIRouter(prefix="/api/v1", tags=["system"])


@router.get("/keys", summary="Public keys that verify pickup and vendor codes")
def keys(runtime: RuntimeDep) -> KeysOut:
    return KeysOut(keys=[PublicKeyOut(**key) for key in runtime.keys.public_keys()])


@router.get("/health", summary="Liveness, MQTT connection and ingest counters")
def health(runtime: RuntimeDep) -> HealthOut:
    return HealthOut(
        status="ok",
        role=runtime.role,
        mqtt_connected=runtime.bridge.connected,
        ingest=IngestStatsOut(**runtime.bridge.stats.snapshot()),
        export=ExportStatsOut(**dataclasses.asdict(runtime.exporter.stats())),
    )
