"""Fixtures shared by the edge tests: a fresh locker id and the test-side cloud for it."""

from __future__ import annotations

import pytest

from tests.edge.harness import CloudSide, new_locker_id


@pytest.fixture
def locker() -> str:
    return new_locker_id()


@pytest.fixture
def cloud(broker, locker):
    side = CloudSide(broker, locker)
    yield side
    side.close()
