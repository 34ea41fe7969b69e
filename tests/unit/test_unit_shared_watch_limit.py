"""Opening a watch that may share an etcd watch keeps to one time limit, whatever steps it takes.

The steps (the member's hub, waiting for the shared watch to be created, the
status call of a join, a watch of its own) are scripted here: each records the
limit it was given, and the slow ones take part of the attempt's time.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest

from aio_etcd._core import Response, TransportFailure
from aio_etcd.v3 import _shared
from aio_etcd.v3._shared import Hub, Sharing

BASE = "http://127.0.0.1:1"
URL = BASE + "/v3/watch"
BODY = json.dumps({"create_request": {"key": "L2E="}}).encode()
LIMIT = 1.0
SLOW = 0.3  # what a slow step takes of the limit


def at_most(seconds: float) -> float:
    """``seconds`` as a step is given it: rounded up to a quarter second."""
    return math.ceil(seconds * 4) / 4


class Scripted(Sharing):
    """A sharing whose hub comes after ``SLOW`` seconds and whose own watches only record their limit."""

    def __init__(self) -> None:
        super().__init__(transport=None, cluster=None)  # type: ignore[arg-type]  # neither is reached
        self.hub = Hub(BASE)
        self.limits: dict[str, list[float | None]] = {"hub": [], "own": [], "status": []}

    async def _hub(self, base: str, headers: Any, timeout: float | None) -> Hub:
        self.limits["hub"].append(timeout)
        await asyncio.sleep(SLOW)  # a quorum check that takes a while
        return self.hub

    async def _own(self, hub: Hub, key: str, start: int, *args: Any) -> Response:
        self.limits["own"].append(args[-2])
        return Response(200, {}, b"", URL)


async def open_watch(sharing: Scripted) -> Response:
    return await sharing.open_lines("POST", URL, body=BODY, headers={}, timeout=LIMIT)


async def test_a_watch_of_its_own_gets_what_the_hub_left_of_the_limit() -> None:
    sharing = Scripted()
    await open_watch(sharing)
    ((hub,), (own,)) = sharing.limits["hub"], sharing.limits["own"]
    assert hub == LIMIT
    assert own is not None and own <= at_most(LIMIT - SLOW) < LIMIT


async def test_a_join_that_waits_out_the_limit_ends_the_attempt() -> None:
    """A shared watch never created in time: the join waits for what is left, then the attempt
    has timed out, without a watch of its own sent (the attempt loop moves on)."""
    sharing = Scripted()
    key, _ = _shared.share_key({"key": "L2E="})
    sharing.hub.register(key)  # an identical watch, its creation still on its way
    with pytest.raises(TransportFailure) as failed:
        await open_watch(sharing)
    assert failed.value.timed_out and not failed.value.sent
    assert sharing.limits["own"] == []


async def test_the_status_call_of_a_join_gets_what_the_wait_left(monkeypatch: pytest.MonkeyPatch) -> None:
    sharing = Scripted()
    key, _ = _shared.share_key({"key": "L2E="})
    shared, _queue = sharing.hub.register(key)
    loop = asyncio.get_running_loop()
    loop.call_later(SLOW + SLOW, shared.ready.set_result, None)  # created after a while

    async def status(cluster: Any, transport: Any, base: str, headers: Any, timeout: float | None) -> Response:
        sharing.limits["status"].append(timeout)
        return Response(200, {}, b'{"header": {"revision": "5"}, "leader": "1"}', base)

    monkeypatch.setattr(_shared, "ask_status", status)
    shared.start = 1
    await open_watch(sharing)
    (asked,) = sharing.limits["status"]
    assert asked is not None and asked <= at_most(LIMIT - 2 * SLOW) < LIMIT, asked
    assert sharing.limits["own"] == []  # joined


async def test_the_websocket_gets_what_the_quorum_check_left() -> None:
    from aio_etcd.v3._mux import Multiplexer

    opened: list[float | None] = []

    class Slow(Multiplexer):
        async def _check_quorum(self, base: str, headers: Any, timeout: float | None) -> None:
            await asyncio.sleep(SLOW)

        async def _socket(self, base: str, headers: Any, timeout: float | None) -> Any:
            opened.append(timeout)
            return Hub(base)

    mux = Slow(transport=None, cluster=None)  # type: ignore[arg-type]  # neither is reached
    await mux._hub(BASE, {}, LIMIT)
    (limit,) = opened
    assert limit is not None and limit <= at_most(LIMIT - SLOW) < LIMIT
