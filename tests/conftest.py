"""Shared fixtures. The real-etcd fixtures come from aio_etcd.pytest_plugin
(loaded through pytest's addopts): ``etcd_server``, ``etcd_client``, ``etcd_prefix``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest


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
    assert not seen, f"the event loop reported: {seen}"
