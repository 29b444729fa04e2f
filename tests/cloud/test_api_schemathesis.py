"""schemathesis against the running cloud's own OpenAPI schema: whatever the schema allows (and what it does not),
no request gets a 5xx. A real server process, on a real broker and database, with the admin key."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from dorpskluis.broker import RunningBroker, free_port, mosquitto_binary
from dorpskluis.stack import CloudAdmin, CloudConfig, start_cloud
from lockers.layout import demo_layout
from tests.support import service_missing

EXAMPLES = 25  # per operation; the whole run stays around a minute


@pytest.fixture(scope="module")
def running_cloud(tmp_path_factory) -> Iterator[CloudConfig]:
    """Deployed as in production: a secured mosquitto whose accounts the cloud keeps (so enrollment works)."""
    if mosquitto_binary() is None:
        service_missing("mosquitto binary not installed")
    folder = tmp_path_factory.mktemp("schemathesis")
    broker = RunningBroker(kind="mosquitto", host="127.0.0.1", port=free_port(), workdir=folder / "broker").start()
    config = CloudConfig(
        database_url=f"sqlite:///{folder / 'db.sqlite'}",
        data_dir=folder / "cloud",
        broker=broker,
        admin_key=secrets.token_urlsafe(24),
        http_port=free_port(),
        client_id=f"dk-cloud-st-{secrets.token_hex(3)}",
        # Random enrollment tokens are failures; the limiter must not turn the rest of the run into 429s.
        settings=(("DK_AUTH_FAILURES_ALLOWED", "1000000"),),
    )
    process = start_cloud(config, folder / "logs")
    admin = CloudAdmin(config.url, config.admin_key)
    admin.register_locker("st-1", "Schemathesis", "Zwartsluis", demo_layout())
    admin.create_vendor("st-vendor", "Vendor", "farmer")
    admin.close()
    yield config
    process.stop()
    broker.stop()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_request_gets_a_server_error(running_cloud, mode):
    """Each operation gets EXAMPLES generated requests (schemathesis' strategies driven by hypothesis directly:
    its pytest plugin does not run on pytest 9); every 5xx is collected and reported together."""
    schema = schemathesis.openapi.from_url(f"{running_cloud.url}/openapi.json")
    headers = {"X-API-Key": running_cloud.admin_key}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20  # the whole API, not an empty schema

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def call(case, label=operation.label) -> None:
            try:
                case.call_and_validate(headers=headers, checks=[not_a_server_error])
            except Exception as exc:
                failures.append(f"{label}: {str(exc)[:400]}")
                raise

        # Hypothesis re-raises the shrunk failure; it is in `failures` already, and the next operation gets its turn.
        with contextlib.suppress(Exception):
            call()
    assert not failures, "server errors:\n" + "\n".join(failures[:20])
