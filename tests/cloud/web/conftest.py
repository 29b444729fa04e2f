"""Fixtures for the pages: the real app served over HTTP (uvicorn in a thread); the browser fixtures are in
tests/conftest.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from cloud.app import create_app
from dorpskluis.broker import free_port
from tests.cloud.conftest import ADMIN, DEMO_LAYOUT, cloud_settings, forget_session
from tests.support import wait_until


@dataclass
class Live:
    """The cloud served on a real port: `http` is an admin client, `app` the running application."""

    url: str
    app: object
    http: httpx.Client

    def register_locker(self, locker: str, name: str, address: str, **extra) -> None:
        """A demo cabinet in Zwartsluis at `address`, by the church (its map point)."""
        body = {"id": locker, "name": name, "village": "Zwartsluis", "address": address, "layout": DEMO_LAYOUT}
        response = self.http.post("/api/v1/lockers", json=body | {"location": {"lat": 52.6376, "lon": 6.0712}} | extra)
        assert response.status_code == 201, response.text


@pytest.fixture
def live(broker, sqlite_url, tmp_path) -> Iterator[Live]:
    settings = cloud_settings(sqlite_url, broker, tmp_path / "data")
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="live-cloud", daemon=True)
    thread.start()
    wait_until(lambda: server.started, 30, "the live cloud to serve")
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, headers=ADMIN, timeout=10) as http:
        yield Live(url, app, http)
    server.should_exit = True
    thread.join(15)
    forget_session(broker, settings.mqtt_client_id)
