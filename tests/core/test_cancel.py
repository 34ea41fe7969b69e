"""A cancelled call or watch stops, even when what it waited for completes at the same moment.

:func:`asyncio.wait_for` before Python 3.12 loses the cancellation then
(CPython gh-86296): it returns the result. The library waits with
:func:`aio_etcd._core.timeouts.within` instead. These tests make the two
meet in the same turn of the event loop: the answer arrives, and the task is
cancelled ``turns`` iterations of the loop later (``asyncio.sleep(0)`` steps
the loop by one iteration; nothing here waits for time to pass), for every
``turns`` around the moment the answer is handed over.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from scripted import A, Scripted, Sent

from aio_etcd import v3
from aio_etcd._core import Response, within
from aio_etcd._core.timeouts import _within_task
from aio_etcd._core.transport import uncancel

pytestmark = pytest.mark.timeout(30)

#: Turns of the loop between the answer and the cancellation: covers the turn the waiting ends in.
TURNS = range(6)

Within = Callable[..., Awaitable[Any]]


async def _within_on_310(aw: Awaitable[Any], timeout: float | None, *, discard: Any = None) -> Any:
    assert timeout is not None
    return await _within_task(aw, timeout, discard)


#: The helper as this Python runs it, and the implementation Python 3.10 runs (tested here on any version).
HELPERS = pytest.mark.parametrize("helper", [within, _within_on_310], ids=["this-python", "python-3.10"])


async def _turns(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def _ended(task: asyncio.Task[Any]) -> bool:
    """Whether ``task`` ended (a lost cancellation leaves it waiting: 5 s are plenty for it to end)."""
    done, _ = await asyncio.wait({task}, timeout=5)
    return bool(done)


# -- the helper ----------------------------------------------------------------------------------


@HELPERS
@pytest.mark.parametrize("turns", TURNS)
async def test_a_cancellation_at_the_moment_the_result_arrives_is_not_lost(helper: Within, turns: int) -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    discarded: list[str] = []
    returned: list[str] = []

    async def waiter() -> None:
        returned.append(await helper(queue.get(), 60, discard=discarded.append))
        await asyncio.get_running_loop().create_future()  # a cancellation after the call ends here

    task = asyncio.ensure_future(waiter())
    await _turns(2)  # it waits for the queue
    queue.put_nowait("answer")
    await _turns(turns)
    task.cancel()
    assert await _ended(task)
    assert task.cancelled()


async def test_asyncio_wait_for_loses_that_cancellation_before_python_3_12() -> None:
    """What the library works around (when this starts failing on 3.10/3.11, the workaround may go)."""
    lost = 0
    for turns in TURNS:
        queue: asyncio.Queue[str] = asyncio.Queue()
        task = asyncio.ensure_future(asyncio.wait_for(queue.get(), 60))
        await _turns(2)
        queue.put_nowait("answer")
        await _turns(turns)
        waiting = not task.done()  # (on 3.12+ it has often returned already: nothing to lose then)
        task.cancel()
        await asyncio.wait({task})
        lost += waiting and not task.cancelled()
    assert (lost > 0) == (sys.version_info < (3, 12))


async def test_a_result_that_arrives_after_its_caller_was_cancelled_is_discarded() -> None:
    """On 3.10 the awaitable runs in a task of its own; the result of a cancelled caller goes to ``discard``.

    (On 3.11+ it runs in the caller's task: an awaitable that swallows the
    cancellation swallows it there, as with any await.)
    """
    closed: list[str] = []
    gate = asyncio.get_running_loop().create_future()

    async def opening() -> str:
        try:
            await gate
        except asyncio.CancelledError:
            return "a connection opened all the same"  # as a library may, ignoring a late cancellation
        return "a connection"

    async def close(conn: str) -> None:
        closed.append(conn)

    task = asyncio.ensure_future(_within_task(opening(), 60, close))
    await _turns(2)
    task.cancel()
    assert await _ended(task)
    assert task.cancelled()
    assert closed == ["a connection opened all the same"]


@HELPERS
async def test_the_limit_raises_timeout_error_and_stops_the_awaitable(helper: Within) -> None:
    stopped = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            stopped.set()

    with pytest.raises(asyncio.TimeoutError):
        await helper(forever(), 0.01)
    assert stopped.is_set()  # ended before the helper returned
    assert await helper(asyncio.sleep(0, "done"), 5) == "done"
    assert await within(asyncio.sleep(0, "no limit"), None) == "no limit"


@HELPERS
async def test_the_limit_leaves_no_cancellation_behind(helper: Within) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await helper(asyncio.Event().wait(), 0.01)
    task = asyncio.current_task()
    assert task is not None and getattr(task, "cancelling", lambda: 0)() == 0
    await asyncio.sleep(0)  # a cancellation left pending would be delivered here


@HELPERS
async def test_a_caller_cancelled_while_the_limit_ran_out_is_cancelled(helper: Within) -> None:
    """The limit stops the awaitable; a cancellation that arrives while it ends wins over TimeoutError."""
    ending = asyncio.Event()
    release = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            ending.set()
            await release.wait()  # cleaning up
            raise

    task = asyncio.ensure_future(helper(slow_to_stop(), 0.01))
    await ending.wait()  # the limit ran out; the awaitable is ending
    task.cancel()
    release.set()
    assert await _ended(task)
    assert task.cancelled()


# -- a v3 websocket watch --------------------------------------------------------------------------

HEADER = {"cluster_id": "7", "member_id": "1", "revision": "5", "raft_term": "2"}


class _FakeSocket:
    """A member's ``/v3/watch`` websocket, answered by the test."""

    url = A + "/v3/watch"

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.requests: list[dict[str, Any]] = []
        self.asked = asyncio.Event()
        self._closed = False

    async def send(self, text: str) -> None:
        self.requests.append(json.loads(text))
        self.asked.set()

    async def receive(self) -> bytes | None:
        return await self.incoming.get()

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        self._closed = True
        self.incoming.put_nowait(None)


class _SocketTransport(Scripted):
    websockets = True

    def __init__(self) -> None:
        super().__init__(self._answer)
        self.socket = _FakeSocket()

    def _answer(self, sent: Sent) -> Response:
        if sent.path == "/v3/maintenance/status":
            body: dict[str, Any] = {"header": HEADER, "leader": "1"}
        elif sent.path == "/v3/cluster/member/list":
            body = {"header": HEADER, "members": [{"ID": "1", "clientURLs": [A]}]}
        else:
            raise AssertionError(f"unexpected request {sent.path}")
        return Response.build(200, json.dumps(body).encode(), sent.url)

    async def websocket(self, url: str, *, headers: Any, timeout: float | None) -> _FakeSocket:
        return self.socket


@pytest.mark.parametrize("turns", TURNS)
async def test_a_websocket_watch_cancelled_as_it_opens_stops(turns: int) -> None:
    transport = _SocketTransport()
    sock = transport.socket
    async with v3.Client(A, transport=transport, watch_transport="websocket", read_timeout=60) as etcd:

        async def watcher() -> None:
            async with etcd.watch("/k") as events:
                async for _ in events:
                    pass

        task = asyncio.ensure_future(watcher())
        await sock.asked.wait()
        created = {"result": {"header": HEADER, "watch_id": sock.requests[0]["create_request"]["watch_id"],
                              "created": True}}  # fmt: skip
        sock.incoming.put_nowait(json.dumps(created).encode())
        await _turns(turns)
        task.cancel()
        assert await _ended(task), "the cancelled watch waits for its next event"
        assert task.cancelled()


# -- a v3 lock waiter ------------------------------------------------------------------------------


@pytest.mark.parametrize("turns", range(12))
async def test_a_lock_waiter_cancelled_as_its_turn_comes_does_not_hold_the_lock(turns: int) -> None:
    loop = asyncio.get_running_loop()
    granted: asyncio.Future[Response] = loop.create_future()
    asked = asyncio.Event()
    key = base64.b64encode(b"name/694d").decode()

    def answer(sent: Sent) -> Response | Awaitable[Response]:
        body: dict[str, Any] = {"header": HEADER}
        if sent.path == "/v3/lock/lock":
            asked.set()
            return granted
        if sent.path == "/v3/lease/grant":
            body.update(ID="1234", TTL="60")
        elif sent.path == "/v3/kv/range":
            body.update(count="1", kvs=[{"key": key, "create_revision": "5", "mod_revision": "5", "version": "1"}])
        elif sent.path == "/v3/cluster/member/list":
            body["members"] = [{"ID": "1", "clientURLs": [A]}]
        elif sent.path not in ("/v3/lease/revoke", "/v3/lock/unlock"):
            raise AssertionError(f"unexpected request {sent.path}")
        return Response.build(200, json.dumps(body).encode(), sent.url)

    transport = Scripted(answer)
    async with v3.Client(A, transport=transport, read_timeout=60) as etcd:

        async def waiter() -> None:
            async with etcd.lock("name", timeout=60):
                await loop.create_future()  # holds it until cancelled

        task = asyncio.ensure_future(waiter())
        await asked.wait()
        granted.set_result(Response.build(200, json.dumps({"header": HEADER, "key": key}).encode(), A))
        await _turns(turns)
        task.cancel()
        assert await _ended(task), "the cancelled waiter holds the lock"
        assert task.cancelled()
    paths = [sent.path for sent in transport.sent]
    assert paths[-1] == "/v3/lease/revoke"  # its key is gone with its lease


# -- the core's own cancellations (watchdog, vigil) meeting a caller's timeout ---------------------


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout and counted cancellations: Python 3.11+")
async def test_a_timeout_that_expires_with_the_watchdog_is_a_timeout_not_a_cancellation() -> None:
    """The watchdog (or a vigil) cancels the attempt's task as the caller's limit runs out on it."""
    task = asyncio.current_task()
    assert task is not None
    taken_back = None
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0):  # its cancellation comes in the next turn of the loop
            task.cancel()  # the watchdog's, at the same moment
            try:
                await asyncio.sleep(1)
            except asyncio.CancelledError:
                taken_back = uncancel(task)
                if not taken_back:
                    raise
    assert taken_back is False  # the limit's cancellation stood...
    assert task.cancelling() == 0  # ...and only it: the caller got TimeoutError, nothing is left over
