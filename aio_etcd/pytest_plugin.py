"""pytest fixtures backed by real etcd processes.

Enable with ``pytest_plugins = ["aio_etcd.pytest_plugin"]`` in a ``conftest.py``
(or ``-p aio_etcd.pytest_plugin``). It needs pytest-asyncio; the async
fixture works in its strict and auto modes alike.

- ``etcd_server``: one etcd member for the whole session (an :class:`~aio_etcd.testing.EtcdCluster`).
- ``etcd_client``: a :class:`~aio_etcd.Client` on ``etcd_server``, closed after the test.
- ``etcd_prefix``: a key directory unique to the test, so tests sharing a server do not meet.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from .client import Client
from .testing import EtcdCluster

__all__ = ["etcd_client", "etcd_prefix", "etcd_server"]


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdCluster]:
    """One real etcd member, started once per test session."""
    with EtcdCluster() as server:
        yield server


@pytest_asyncio.fixture
async def etcd_client(etcd_server: EtcdCluster) -> AsyncIterator[Client]:
    """A client of ``etcd_server``, closed when the test ends."""
    async with etcd_server.client() as client:
        yield client


@pytest.fixture
def etcd_prefix() -> str:
    """A key directory no other test uses (``/test-<random>``)."""
    return f"/test-{uuid.uuid4().hex[:12]}"
