"""The embedded fallback broker (amqtt) for machines without mosquitto: `python -m dorpskluis.amqtt_broker CONF`.

amqtt 0.12.1 has a bug we must not inherit: when a client connects, it replays retained messages for the
subscriptions of *every* client the broker knows, not only that client's, so a locker would receive other
lockers' desired states. `FixedBroker` keeps the replay to the connecting client's own subscriptions.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from amqtt.broker import Broker
from amqtt.utils import read_yaml_config


class FixedBroker(Broker):
    """amqtt's broker, replaying retained messages only for subscriptions the client itself holds."""

    async def _publish_retained_messages_for_subscription(self, subscription, session) -> None:
        holders = self._subscriptions.get(subscription[0], ())
        if any(holder.client_id == session.client_id for holder, _qos in holders):
            await super()._publish_retained_messages_for_subscription(subscription, session)


async def serve(config: dict) -> None:
    """Run until SIGTERM or SIGINT, then shut down cleanly."""
    broker = FixedBroker(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await broker.start()
    await stop.wait()
    await broker.shutdown()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m dorpskluis.amqtt_broker CONFIG.yaml", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(read_yaml_config(Path(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
