"""What every benchmark gets: smoke or full size, a work folder, progress bars, brokers and a database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.progress import Progress, TaskID

from dorpskluis.broker import RunningBroker, start_broker

POSTGRES_URL = os.environ.get("DK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class ProgressTask:
    """One progress bar of a benchmark."""

    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self._progress = progress
        self._task = task

    def advance(self, steps: float = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, steps)

    def update(self, *, completed: float | None = None, description: str | None = None) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=completed, description=description)


@dataclass
class BenchContext:
    """Passed to every benchmark's `run`; sizes come from `pick(full, smoke)`."""

    workdir: Path
    smoke: bool = False
    progress: Progress | None = None

    def pick(self, full, smoke):
        """The full-size value, or the tiny one in a smoke run."""
        return smoke if self.smoke else full

    def task(self, description: str, total: float | None) -> ProgressTask:
        """A progress bar (nothing when running without a console, e.g. under pytest)."""
        if self.progress is None:
            return ProgressTask(None, None)
        return ProgressTask(self.progress, self.progress.add_task(description, total=total))

    def folder(self, name: str) -> Path:
        """A fresh folder for one benchmark's files."""
        path = self.workdir / f"{name}-{uuid.uuid4().hex[:6]}"
        path.mkdir(parents=True)
        return path

    @contextmanager
    def broker(self, *, tcp_nodelay: bool = True, secured: bool = False) -> Iterator[RunningBroker]:
        """A private broker with the project's config (without `tcp_nodelay`: Mosquitto's default Nagle), open to
        anonymous clients unless `secured` (accounts and ACL, as deployed)."""
        running = start_broker(self.folder("broker"), secured=secured, tcp_nodelay=tcp_nodelay)
        try:
            yield running
        finally:
            running.stop()

    @contextmanager
    def database(self) -> Iterator[tuple[str, str]]:
        """(SQLAlchemy URL, "PostgreSQL"|"SQLite"): a fresh PostgreSQL schema when the server answers, else a
        SQLite file; dropped afterwards."""
        try:
            import psycopg

            plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
            admin = psycopg.connect(plain, autocommit=True, connect_timeout=3)
        except Exception:  # no server: SQLite, and the figure's note says so
            yield f"sqlite:///{self.folder('sqlite') / 'bench.sqlite'}", "SQLite"
            return
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin.execute(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in POSTGRES_URL else "?"
        try:
            yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}", "PostgreSQL"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            admin.close()
