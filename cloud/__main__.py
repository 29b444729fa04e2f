"""`python -m cloud` serves the API with settings from DK_* variables; `python -m cloud init` creates key files;
`python -m cloud migrate` brings the database to the newest schema (serving does so too); `python -m cloud
rotate-signing-key` replaces the code-signing key (see docs/security.md)."""

from __future__ import annotations

import argparse
import gc
import logging
import sys

from lockers.errors import ConfigError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
GC_THRESHOLD_0 = 20_000  # allocations between young-generation collections (CPython's default: 700)


def serve() -> None:
    import uvicorn

    from cloud.app import create_app
    from cloud.settings import Settings

    settings = Settings()
    app = create_app(settings)
    tune_garbage_collector()
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_level="info")


def tune_garbage_collector() -> None:
    """Collect less often: ingest makes ~20 short-lived objects per reading, and with the default thresholds
    (700, 10, 10) the collector took a third of the ingest worker's CPU (benchmarks/bench_ingest.py). What was
    imported and built at start-up is frozen out of every collection; reference counting still frees almost
    everything at once, the collector only finds cycles."""
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD_0, 20, 20)


def init() -> None:
    """Create the signing key, the resident link secret and the webhook secret when they do not exist yet."""
    from cloud.keys import load_signing_key_file
    from cloud.settings import Settings
    from cloud.tokens import load_link_secret, load_secret_file

    settings = Settings()
    signing = settings.resolved_signing_key_file()
    links = settings.resolved_link_secret_file()
    webhooks = settings.resolved_webhook_secret_file()
    load_signing_key_file(signing, create=True)
    load_link_secret(links, create=True)
    load_secret_file(webhooks, create=True, what="webhook secret")
    print(f"signing key: {signing}\nresident link secret: {links}\nwebhook secret: {webhooks}")


def rotate_signing_key() -> None:
    """Set the signing key aside and create a new one; the next start retires the old one after a rollover."""
    from cloud.keys import rotate_signing_key_file
    from cloud.settings import Settings

    settings = Settings()
    retired = rotate_signing_key_file(settings.resolved_signing_key_file())
    print(
        f"new signing key: {settings.resolved_signing_key_file()}\nprevious key kept at: {retired}\n"
        f"Restart the cloud service: it signs new codes with the new key, signs vendor codes again, and tells every "
        f"locker (desired state) to trust the old key for {settings.key_rollover_days:g} more days."
    )


def migrate() -> None:
    """Create the schema, or migrate it to the newest revision (cloud/migrations), and say which it did."""
    from cloud import reporting, schema
    from cloud.db import Database
    from cloud.settings import Settings, prepare_settings

    settings = prepare_settings(Settings())
    db = Database(settings.resolved_database_url())
    try:
        print(f"database: {schema.prepare(db)}")
        print(f"database: {reporting.refresh(db, settings.reporting_role, settings.offline_after_s)}")
    finally:
        db.dispose()


COMMANDS = {
    "serve": lambda: serve(),
    "init": lambda: init(),
    "migrate": lambda: migrate(),
    "rotate-signing-key": lambda: rotate_signing_key(),
}


def main(argv: list[str] | None = None) -> None:
    """Run a command (default `serve`); `argv` None means serve, whatever the process was started with."""
    parser = argparse.ArgumentParser(prog="python -m cloud", description="The Dorpskluis cloud service.")
    parser.add_argument("command", nargs="?", choices=sorted(COMMANDS), default="serve")
    args = parser.parse_args(argv or [])
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        COMMANDS[args.command]()
    except ConfigError as exc:
        print(f"dorpskluis cloud: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main(sys.argv[1:])
