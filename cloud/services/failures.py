"""Messages whose processing raised (a bug, not bad input): kept exactly as received for a replay after the fix."""

from __future__ import annotations

from cloud.db import Database, utcnow
from cloud.models_edge import IngestFailure


class FailedMessages:
    """The `ingest_failures` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def keep(self, topic: str, payload: bytes, error: str) -> None:
        """Store one message; raises (e.g. DatabaseUnavailable) when even that fails."""
        with self._db.write() as session:
            session.add(IngestFailure(received_at=utcnow(), topic=topic[:200], payload=payload, error=error[:2000]))
