"""Prometheus metrics of the edge agent (GET /metrics on `[metrics]` host:port, 127.0.0.1 by default): read from
the agent's status when scraped. Off unless edge.toml has a `[metrics]` section, and prometheus_client is only
imported then: a Pi that is not scraped does not carry it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

COUNTERS = ("scans", "unlocks", "rejections", "events", "telemetry_batches", "malformed", "commands_done")


def families(status: dict) -> Iterator:
    """The metric families of one status answer (edge.agent.Agent.status)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily  # noqa: PLC0415

    locker = status["locker"]
    yield InfoMetricFamily(
        "dorpskluis_agent", "The agent's version.", value={"locker": locker, "version": status["agent"]}
    )
    gauges = [
        ("dorpskluis_agent_connected", "1 while the agent's MQTT session is connected.", int(status["connected"])),
        ("dorpskluis_agent_desired_version", "The desired-state version applied.", status["desired_version"] or 0),
        (
            "dorpskluis_agent_doors_open",
            "Compartment doors open now.",
            sum(1 for d in status["doors"].values() if d == "open"),
        ),
        ("dorpskluis_agent_locks_energised", "Lock relays energised now.", len(status["locks_energised"])),
        ("dorpskluis_agent_keypad_locked", "1 while wrong PINs keep the keypad locked.", int(status["keypad_locked"])),
        ("dorpskluis_agent_alarms", "Cold-chain alarms the locker's rules hold active.", len(status["alarms"])),
        ("dorpskluis_agent_outbox_rows", "Messages waiting in the outbox for the broker.", status["outbox"]["rows"]),
    ]
    for name, text, value in gauges:
        family = GaugeMetricFamily(name, text, labels=["locker"])
        family.add_metric([locker], value)
        yield family
    counted = CounterMetricFamily("dorpskluis_agent", "What the agent did since it started.", labels=["locker", "what"])
    for what in COUNTERS:
        counted.add_metric([locker, what], status["stats"].get(what, 0))
    yield counted


class MetricsServer:
    """Serves /metrics from `status()` until `stop`."""

    def __init__(self, status: Callable[[], dict], host: str = "127.0.0.1", port: int = 9101) -> None:
        from prometheus_client import CollectorRegistry  # noqa: PLC0415 - only when metrics are on

        class _Collector:
            def collect(self) -> Iterator:
                try:
                    yield from families(status())
                except Exception:  # the agent busy or stopping: an empty scrape, the reason in the log
                    log.exception("edge metrics: the agent's status could not be read")

        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_Collector())
        self._host, self._port = host, port
        self._server = None
        self._thread = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2] if self._server else (self._host, self._port)
        return f"http://{host}:{port}/metrics"

    def start(self) -> None:
        from prometheus_client import start_http_server  # noqa: PLC0415

        self._server, self._thread = start_http_server(self._port, addr=self._host, registry=self._registry)
        log.info("edge metrics at %s", self.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
