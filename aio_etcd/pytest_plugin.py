"""pytest fixtures backed by real etcd processes.

Enable with ``pytest_plugins = ["aio_etcd.pytest_plugin"]`` in a ``conftest.py``
(or ``-p aio_etcd.pytest_plugin``). It needs pytest-asyncio; the async
fixture works in its strict and auto modes alike.

- ``etcd_server``: one etcd member for the whole session (an :class:`~aio_etcd.testing.EtcdCluster`).
- ``etcd_client``: a :class:`~aio_etcd.Client` on ``etcd_server``, closed after the test.
- ``etcd_prefix``: a key directory unique to the test, so tests sharing a server do not meet.
- ``etcd_v3_server``: one etcd member serving only v3 (as etcd 3.6 does), for the whole session.
- ``etcd_v3_client``: an :class:`aio_etcd.v3.Client` on ``etcd_v3_server``, closed after the test.

``pytest --etcd-api v3`` runs the same tests on the v2 keys API over a v3
store: ``etcd_server`` then serves only v3 (etcd 3.6 and later have nothing
else; ``ETCD_BIN`` may name one) and ``etcd_client`` has ``api="v3"``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from .client import Client
from .testing import EtcdCluster
from .v3 import Client as V3Client

__all__ = ["etcd_client", "etcd_prefix", "etcd_server", "etcd_v3_client", "etcd_v3_server"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--etcd-api",
        choices=("v2", "v3"),
        default="v2",
        help="v3: etcd_server serves only v3 and etcd_client has api='v3' (the v2 calls on a v3 store)",
    )


@pytest.fixture(scope="session")
def etcd_server(pytestconfig: pytest.Config) -> Iterator[EtcdCluster]:
    """One real etcd member, started once per test session (v3 only with ``--etcd-api v3``)."""
    with EtcdCluster(v2=pytestconfig.getoption("etcd_api") != "v3") as server:
        yield server


@pytest_asyncio.fixture
async def etcd_client(etcd_server: EtcdCluster) -> AsyncIterator[Client]:
    """A client of ``etcd_server`` (``api="v3"`` with ``--etcd-api v3``), closed when the test ends."""
    async with etcd_server.client() as client:
        yield client


@pytest.fixture
def etcd_prefix() -> str:
    """A key directory no other test uses (``/test-<random>``)."""
    return f"/test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def etcd_v3_server() -> Iterator[EtcdCluster]:
    """One real etcd member without the v2 API, started once per test session."""
    with EtcdCluster(v2=False) as server:
        yield server


@pytest_asyncio.fixture
async def etcd_v3_client(etcd_v3_server: EtcdCluster) -> AsyncIterator[V3Client]:
    """A v3 client of ``etcd_v3_server``, closed when the test ends."""
    async with etcd_v3_server.v3_client() as client:
        yield client
