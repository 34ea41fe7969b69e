"""Shared fixtures. The real-etcd fixtures come from aio_etcd.pytest_plugin
(loaded through pytest's addopts): ``etcd_server``, ``etcd_client``, ``etcd_prefix``.
Here: ``three`` and ``cluster`` (a 3-member cluster of a module's own) and
``auth_server`` (an etcd of a module's own for auth, which is server-wide); a
module that sets ``V2 = False`` gets them without the v2 API (v3 only).
For the command-line tests: ``today`` (today's etcd, no v2 API) and
``tls_server`` (an etcd serving https, with the files a client needs).

A test module that sets ``BOTH_APIS = True`` runs each test that uses
``etcd_client`` (or ``make_client``) twice: ``[v2]`` on the v2 API of
``etcd_server``, ``[v3]`` with ``Client(api="v3")`` on ``etcd_v3_server`` (the
v2 keys API on a v3 store; etcd 3.6+ when ``ETCD_BIN`` names one).
``AIO_ETCD_TEST_APIS=v3`` keeps only one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
from cli import Tls, newest_etcd

import aio_etcd as etcd
from aio_etcd._dev import _certificates
from aio_etcd.testing import EtcdCluster

#: Builds a client of the test's server in the test's api mode (``async with make_client() as c``).
MakeClient = Callable[..., contextlib.AbstractAsyncContextManager[etcd.Client]]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    uses = {"etcd_client", "make_client"} & set(metafunc.fixturenames)
    if uses and getattr(metafunc.module, "BOTH_APIS", False):
        modes = os.environ.get("AIO_ETCD_TEST_APIS", "v2,v3").split(",")
        metafunc.parametrize("api", [m.strip() for m in modes if m.strip()], indirect=True)


@pytest.fixture
def api(request: pytest.FixtureRequest) -> str:
    """``"v2"`` or ``"v3"``: how ``etcd_client`` reaches its keys."""
    return str(getattr(request, "param", "v2"))


@pytest.fixture
def make_client(api: str, request: pytest.FixtureRequest) -> MakeClient:
    """A factory of clients like ``etcd_client`` (other options, other processes)."""
    if api == "v3":
        server: EtcdCluster = request.getfixturevalue("etcd_v3_server")
    else:
        server = request.getfixturevalue("etcd_server")

    def make(**options: Any) -> contextlib.AbstractAsyncContextManager[etcd.Client]:
        if api == "v3":
            options.setdefault("api", "v3")
        return server.client(**options)

    return make


@pytest_asyncio.fixture
async def etcd_client(make_client: MakeClient) -> AsyncIterator[etcd.Client]:
    """The plugin's fixture, in the test's api mode."""
    async with make_client() as client:
        yield client


@pytest.fixture(autouse=True)
async def _no_loop_errors() -> AsyncIterator[None]:
    """Fail a test whose event loop reported an unhandled error (an unclosed
    session, a task exception never retrieved, ...)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield
    # Let finalizers of the test's objects run while the handler listens.
    await asyncio.sleep(0)
    loop.set_exception_handler(previous)
    if os.environ.get("AIO_ETCD_V3_TRANSPORT") == "grpc":
        seen = [context for context in seen if not stale_grpc_event(context)]
    assert not seen, f"the event loop reported: {seen}"


def stale_grpc_event(context: dict[str, Any]) -> bool:
    """grpc.aio's poller handing an event of an earlier test's call to that test's closed loop.

    grpc.aio serves every event loop of the process from one completion queue: the last events
    of a call cancelled in one test can reach its loop after that loop closed, and the next
    test's loop then reports "Event loop is closed" from ``PollerCompletionQueue._handle_events``
    (tests/v3/test_v3_grpc_protocol.py says more). Only that report is let through, only when the
    v3 tests run on the gRPC transport (``AIO_ETCD_V3_TRANSPORT=grpc``).
    """
    # The handle is named in the message too: its repr is "<Handle cancelled>" once cancelled.
    where = repr(context.get("handle", "")) + str(context.get("message", ""))
    exc = context.get("exception")
    return "PollerCompletionQueue._handle_events" in where and "Event loop is closed" in str(exc)


def _v2(request: pytest.FixtureRequest) -> bool:
    """Whether the module's own servers serve the v2 API (a module sets ``V2 = False`` for v3 only)."""
    return bool(getattr(request.module, "V2", True))


@pytest.fixture(scope="module")
def three(request: pytest.FixtureRequest) -> Iterator[EtcdCluster]:
    """A 3-member cluster of the test module's own: its tests stop, pause and kill members."""
    with EtcdCluster(size=3, v2=_v2(request)) as cluster:
        yield cluster


@pytest_asyncio.fixture
async def cluster(three: EtcdCluster) -> AsyncIterator[EtcdCluster]:
    """``three``, with every member running and the cluster healthy again after the test."""
    yield three
    for index, member in enumerate(three.members):
        if member.running:
            three.resume_member(index)
    stopped = [i for i, member in enumerate(three.members) if not member.running]
    for index in stopped:
        three.start_member(index, wait=False)
    await asyncio.to_thread(three.wait_healthy)


@pytest.fixture(scope="module")
def auth_server(request: pytest.FixtureRequest) -> Iterator[EtcdCluster]:
    """An etcd of the test module's own: users, roles and auth's switch are server-wide."""
    with EtcdCluster(v2=_v2(request)) as server:
        yield server


@pytest.fixture(scope="module")
def today() -> Iterator[EtcdCluster]:
    """Today's etcd without a v2 API (3.7 where tools/etcd/build.sh built it, else 3.5.1 v3-only)."""
    with newest_etcd() as server:
        yield server


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tls]:
    """An etcd of the module's own serving https (no client certificate required)."""
    ca, server, server_key, cert, key = _certificates(tmp_path_factory.mktemp("tls"), "127.0.0.1")
    other_ca = _certificates(tmp_path_factory.mktemp("other"), "127.0.0.1")[0]
    with EtcdCluster(tls=(server, server_key, ca)) as cluster:
        yield Tls(cluster, ca, cert, key, other_ca)


async def no_watchers(client: etcd.Client) -> int:
    """Wait until the server holds no watcher (earlier tests' are dropped a moment after they
    close), so that a count from here on counts this test's own: 0."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while int((await client.store_stats()).get("watchers", 0)):
        assert loop.time() < deadline, "watchers of earlier tests stayed registered on the server"
        await asyncio.sleep(0.02)
    return 0
