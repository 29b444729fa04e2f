"""Webhooks go out through one kept HTTP client (building one per POST cost 150+ ms on a busy host, which
was most of the alert → webhook latency); it is closed when the notifier stops."""

from __future__ import annotations

from cloud.notify.delivery import Notifier
from cloud.notify.senders import post_webhook, webhook_client
from tests.cloud.servers import webhook_server

SECRET = b"s" * 32


def test_one_client_delivers_several_signed_webhooks():
    with webhook_server(SECRET) as (receiver, url), webhook_client() as client:
        for n in (1, 2):
            post_webhook(url, SECRET, "alert.raised", n, {"n": n}, 1_800_000_000, client)
        assert [(d.delivery_id, d.payload, d.signature_valid) for d in receiver.received()] == [
            ("1", {"n": 1}, True),
            ("2", {"n": 2}, True),
        ]


def test_the_notifier_keeps_one_client_and_closes_it_on_stop():
    notifier = Notifier(db=None, settings=None, webhook_secret=SECRET)  # neither is touched by this
    client = notifier._client()
    assert notifier._client() is client
    notifier.stop()  # never started: only the client to close
    assert client.is_closed
    assert notifier._client() is not client  # a restarted notifier builds a new one
