"""An open-loop HTTP load generator: requests leave on a fixed schedule, whatever the answers, and latency is
measured from each request's scheduled send time (no coordinated omission).

A minimal HTTP/1.1 keep-alive client on asyncio streams: a general-purpose async client costs the load
generator more CPU per request than the server under test on this 2-core machine would leave it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# (method, path, JSON body or None): the request to send as number n of a run
RequestFor = Callable[[int], tuple[str, str, dict | None]]


@dataclass
class RunResult:
    """Latencies (ms, from the scheduled send time) of the answered requests, and what went wrong."""

    rate: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0  # no answer: connection refused, reset, timeout
    error_kinds: dict[str, int] = field(default_factory=dict)  # exception name → count
    bodies: list[dict] = field(default_factory=list)  # JSON answers of successful requests, when kept

    @property
    def failed(self) -> int:
        return self.errors + sum(count for status, count in self.statuses.items() if status >= 300)


class RawHttp:
    """Keep-alive connections to one server; a request takes an idle connection or opens one."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._headers = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        payload = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self._headers}Content-Length: {len(payload)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        message = head.encode() + b"\r\n" + payload
        reused = bool(self._idle)
        try:
            return await self._exchange(message)
        except (ConnectionError, asyncio.IncompleteReadError):
            if not reused:
                raise
            return await self._exchange(message)  # the server closed an idle keep-alive connection: once more

    async def _exchange(self, message: bytes) -> tuple[int, bytes]:
        if self._idle:
            reader, writer = self._idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(message)
            status_line = await reader.readuntil(b"\r\n")
            length, keep = 0, True
            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    keep = False
            data = await reader.readexactly(length) if length else b""
        except BaseException:
            writer.close()
            raise
        if keep:
            self._idle.append((reader, writer))
        else:
            writer.close()
        return int(status_line.split(b" ", 2)[1]), data

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


async def _open_loop(
    http: RawHttp, rate: float, count: int, request_for: RequestFor, keep_bodies: bool, timeout: float
) -> RunResult:
    loop = asyncio.get_running_loop()
    result = RunResult(rate)

    async def one(n: int, scheduled: float) -> None:
        method, path, body = request_for(n)
        try:
            status, data = await asyncio.wait_for(http.request(method, path, body), timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            result.errors += 1
            name = type(exc).__name__
            result.error_kinds[name] = result.error_kinds.get(name, 0) + 1
            return
        result.latencies_ms.append((loop.time() - scheduled) * 1000)
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if keep_bodies and status < 300:
            result.bodies.append(json.loads(data))

    start = loop.time() + 0.05
    tasks = []
    for n in range(count):
        scheduled = start + n / rate
        if (wait := scheduled - loop.time()) > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(n, scheduled)))
    await asyncio.gather(*tasks)
    return result


def open_loop(
    base_url: str,
    headers: dict[str, str],
    rate: float,
    count: int,
    request_for: RequestFor,
    *,
    keep_bodies: bool = False,
    timeout: float = 30.0,
) -> RunResult:
    """Send `count` requests at `rate` per second on a fixed schedule; answers never hold up the next send."""

    async def main() -> RunResult:
        http = RawHttp(base_url, headers)
        try:
            return await _open_loop(http, rate, count, request_for, keep_bodies, timeout)
        finally:
            http.close()

    return asyncio.run(main())


def closed_loop(base_url: str, headers: dict[str, str], requests: list[tuple[str, str, dict | None]], workers: int):
    """Send `requests` as fast as `workers` connections allow (housekeeping, not measured); the statuses."""

    async def main() -> list[int]:
        http = RawHttp(base_url, headers)
        pending = list(reversed(requests))
        statuses: list[int] = []

        async def worker() -> None:
            while pending:
                status, _ = await http.request(*pending.pop())
                statuses.append(status)

        try:
            await asyncio.gather(*(worker() for _ in range(workers)))
        finally:
            http.close()
        return statuses

    return asyncio.run(main())
