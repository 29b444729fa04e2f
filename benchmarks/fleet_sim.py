"""Simulated lockers for the fleet benchmark: N amqtt clients on one asyncio loop in a background thread.

Each looks like a real edge agent to the broker and the cloud (edge/link.py, edge/agent.py): client id = locker
id, persistent session, Last Will `offline` on its retained `state`, retained birth `online`, subscribed to its
`desired` and `cmd`, a `reported` once it holds its desired state and then every `heartbeat_s` as its heartbeat.
A thread and a paho client per locker would cost ~10,000 threads; amqtt's asyncio client costs ~50 KB a locker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from amqtt.client import MQTTClient

from dorpskluis import __version__
from lockers.protocol import codec
from lockers.protocol.messages import Reported, StateMessage
from lockers.protocol.topics import Channel, topic

KEEPALIVE_S = 30  # as lockers/mqtt.py
AGENT = f"{__version__}-fleet"[:40]


class Fleet:
    """The simulated lockers; every method blocks the calling thread until the loop did the work."""

    def __init__(self, host: str, port: int, *, heartbeat_s: float = 60.0, doors: Iterable[str] = ()) -> None:
        self._uri = f"mqtt://{host}:{port}"
        self._heartbeat_s = heartbeat_s
        self._doors = {door: "closed" for door in doors}
        self._clients: dict[str, MQTTClient] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self.heartbeats = 0  # `reported` sent after the first one
        self.failures: list[str] = []  # lockers that could not connect
        self.dropped: list[str] = []  # lockers whose heartbeat failed later (e.g. a PUBACK timeout on a busy machine)
        # amqtt logs every dropped connection at WARNING: thousands of lines when we cut them on purpose
        logging.getLogger("amqtt").setLevel(logging.ERROR)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fleet-loop", daemon=True)
        self._thread.start()

    def _run(self, coroutine, timeout: float | None = None):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    # --- bringing lockers up -------------------------------------------------------------------------------

    def connect(self, lockers: list[str], *, at_once: int = 200, done: Callable[[], None] = lambda: None) -> None:
        """Connect `lockers` (at most `at_once` handshakes in flight); each calls `done` once its first `reported`
        is acknowledged. Failures are listed in `failures`."""
        self._run(self._connect_all(lockers, at_once, done))

    async def _connect_all(self, lockers: list[str], at_once: int, done: Callable[[], None]) -> None:
        gate = asyncio.Semaphore(at_once)

        async def one(locker: str) -> None:
            async with gate:
                try:
                    version = await self._bring_up(locker)
                except Exception as exc:  # counted, reported by the benchmark: a fleet figure with holes is wrong
                    self.failures.append(f"{locker}: {type(exc).__name__}: {exc}")
                    return
            self._tasks[locker] = asyncio.create_task(self._live(locker, version))
            done()

        await asyncio.gather(*(one(locker) for locker in lockers))

    async def _bring_up(self, locker: str) -> int:
        will = {"topic": topic(locker, Channel.STATE), "message": _OFFLINE.decode(), "qos": 1, "retain": True}
        # amqtt pings at keep_alive - ping_delay; plugins off: they only count and log
        config = {"keep_alive": KEEPALIVE_S + 1, "ping_delay": 1, "auto_reconnect": False, "plugins": {}, "will": will}
        client = MQTTClient(client_id=locker, config=config)
        await client.connect(self._uri, cleansession=False)
        self._clients[locker] = client
        await client.subscribe([(topic(locker, Channel.DESIRED), 1), (topic(locker, Channel.CMD), 1)])
        await client.publish(topic(locker, Channel.STATE), _ONLINE, qos=1, retain=True)
        # The cloud published the desired state retained when it registered the locker: it arrives now.
        message = await client.deliver_message(timeout_duration=60)
        version = json.loads(message.data)["version"] if message.topic.endswith("/desired") else 0
        await self._report(locker, version)
        return version

    async def _report(self, locker: str, version: int) -> None:
        reported = Reported(desired_version=version, agent=AGENT, doors=self._doors, ts=datetime.now(UTC))
        await self._clients[locker].publish(topic(locker, Channel.REPORTED), codec.encode(reported), qos=1, retain=True)

    async def _live(self, locker: str, version: int) -> None:
        """The heartbeat, at a random phase so that N lockers spread their heartbeats like a real fleet; a new
        desired state is applied and reported at once."""
        client = self._clients[locker]
        next_beat = time.monotonic() + random.uniform(0, self._heartbeat_s)
        try:
            while True:
                try:
                    message = await client.deliver_message(timeout_duration=max(next_beat - time.monotonic(), 0.01))
                except TimeoutError:
                    await self._report(locker, version)
                    self.heartbeats += 1
                    next_beat += self._heartbeat_s
                    continue
                if message is not None and message.topic.endswith("/desired"):
                    version = json.loads(message.data)["version"]
                    await self._report(locker, version)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the connection went away under it
            self.dropped.append(f"{locker} heartbeat: {type(exc).__name__}: {exc}")

    # --- taking lockers down -------------------------------------------------------------------------------

    def cut(self, lockers: list[str]) -> float:
        """Drop the connections without DISCONNECT (power cut, cable pulled): the broker publishes each Last Will.
        Returns time.monotonic() when the last one was cut."""
        return self._run(self._cut(lockers))

    async def _cut(self, lockers: list[str]) -> float:
        for locker in lockers:
            task = self._tasks.pop(locker, None)
            if task is not None:
                task.cancel()
            client = self._clients.pop(locker)
            # amqtt has no "drop the line": abort the socket under it (RST, no DISCONNECT packet)
            client._handler.writer._writer.transport.abort()
        return time.monotonic()

    @property
    def connected(self) -> int:
        return len(self._clients)

    def stop(self) -> None:
        """Drop every connection and stop the loop (the broker goes next, so nobody waits for their wills)."""
        try:
            self._run(self._cut(list(self._clients)), timeout=60)
            self._run(self._settle(), timeout=30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _settle(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


_ONLINE = codec.encode(StateMessage(state="online", agent=AGENT))
_OFFLINE = codec.encode(StateMessage(state="offline"))
