"""Export of telemetry to InfluxDB (and anything speaking its v2 write API), off the ingest path."""

from __future__ import annotations

from cloud.export.influx import (
    Exporter,
    ExportStats,
    InfluxExporter,
    InfluxSettings,
    NullExporter,
    build_exporter,
)

__all__ = ["ExportStats", "Exporter", "InfluxExporter", "InfluxSettings", "NullExporter", "build_exporter"]
