"""Watches that ask for the same thing share one etcd watch, as etcd's gRPC proxy shares them.

An etcd watch here is one ``create_request`` on a member's multiplexed
stream (a websocket, or gRPC's Watch stream: :mod:`aio_etcd.v3._mux`), or
one HTTP stream (:class:`StreamShares`). Its messages go to every watch that
joined it, each through a :class:`Queue` of its own, so etcd sends and the
client reads each event once, whatever the number of watches.

A watch joins only where that gives what a watch of its own would (see
:func:`join`): it joins first, then asks the member for its revision (a
status call), so every event after that revision reaches it; it reads from
the revision after (or from its ``start_revision``), dropping what came
before, as every watch drops what it has already delivered. A watch with a
``start_revision`` joins an etcd watch that starts no later and has handed
out no event at or past it (the last message it handed out tells: its last
event, or the revision it reported); otherwise it gets a watch of its own.
The etcd watch ends when the last watch on it leaves.
"""

from __future__ import annotations

import asyncio
import collections
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from .._core import Cluster, LineStream, Response, Transport, TransportFailure, WebSocket, quarter_up, within
from ._gateway import ask_status

__all__ = [
    "CANCELED",
    "BACKLOG",
    "WATCH",
    "Hub",
    "Queue",
    "Shared",
    "Sharing",
    "StreamShares",
    "join",
    "no_leader",
    "share_key",
]

WATCH = "/v3/watch"
CANCELED = re.compile(rb'"canceled":\s*true')
#: Messages a watch may fall behind its etcd watch: past them its queue is emptied and the watch
#: reads on from a watch of its own, from the revision after the last message it took (no loss:
#: what it drops it had not read), so a watch nobody reads cannot grow without end.
BACKLOG = 10_000


class Queue:
    """The messages of one watch, and the failure that ended its etcd watch."""

    __slots__ = ("items", "waiter", "failure", "first")

    def __init__(self, first: int = 0) -> None:
        self.items: collections.deque[Any] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None
        self.failure: TransportFailure | None = None
        #: The first revision its watch reads (0 until known).
        self.first = first

    def put(self, item: Any) -> None:
        self.items.append(item)
        self._wake()

    def fail(self, failure: TransportFailure) -> None:
        if self.failure is None:
            self.failure = failure
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self.items:
            if self.failure is not None:
                raise self.failure
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.items.popleft()


class Shared:
    """One etcd watch, and the queues of the watches that share it."""

    __slots__ = ("watch_id", "key", "url", "queues", "last", "start", "ready", "dead")

    def __init__(self, watch_id: int, key: str, url: str) -> None:
        self.watch_id = watch_id
        self.url = url
        #: What the watches sharing it asked for (the create request without its start revision).
        self.key = key
        self.queues: list[Queue] = []
        #: The last message it handed out (its ``created`` answer, at first).
        self.last: Any = None
        #: The first revision it reports (0 until etcd created it).
        self.start = 0
        #: Done when etcd answered its create request (or it failed).
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        #: Whether etcd has ended it (or its stream): no watch may join it any more.
        self.dead = False

    def put(self, item: Any) -> None:
        self.last = item
        for queue in self.queues:
            if queue.failure is not None:
                continue
            if len(queue.items) >= BACKLOG:
                queue.items.clear()
                behind = ConnectionAbortedError(f"the watch fell {BACKLOG} messages behind; reading on by itself")
                queue.fail(TransportFailure(self.url, behind, sent=True))
                continue
            queue.put(item)

    def fail(self, failure: TransportFailure) -> None:
        self.dead = True
        for queue in self.queues:
            queue.fail(failure)


class Hub:
    """The etcd watches of one member, by id, and those new watches may join, by what they ask for."""

    def __init__(self, base: str) -> None:
        self.base = base
        #: The etcd watches, by watch id.
        self.queues: dict[int, Shared] = {}
        #: The etcd watch new watches may join, by what they ask for.
        self.joinable: dict[str, Shared] = {}
        self._next_id = 1

    def register(self, key: str) -> tuple[Shared, Queue]:
        """A new etcd watch (its id chosen here) with one queue, open to watches asking for ``key``."""
        watch_id = self._next_id
        self._next_id += 1
        shared = self.queues[watch_id] = Shared(watch_id, key, self.base + WATCH)
        if key not in self.joinable:  # a live one stays where new watches find it
            self.joinable[key] = shared
        queue = Queue()
        shared.queues.append(queue)
        return shared, queue

    def created(self, shared: Shared, first: int) -> None:
        """etcd answered ``shared``'s create request: it reports from revision ``first`` (0: it was refused)."""
        shared.start = first
        if shared.queues and not shared.queues[0].first:
            shared.queues[0].first = first  # its creator's
        if not first:
            self.retire(shared)
        elif not shared.ready.done():
            shared.ready.set_result(None)

    def canceled(self, shared: Shared, message: Any) -> None:
        """etcd ended ``shared``; ``message`` says why. Where it is for compaction, a watch that
        reads from the compaction revision or later, which etcd would have served, is not told
        it: it reads on from a watch of its own."""
        self.retire(shared)
        shared.last = message
        compacted = self.compacted(message)
        moved = TransportFailure(
            shared.url,
            ConnectionAbortedError(f"the shared watch was compacted (at {compacted}) below this watch's start"),
            sent=True,
        )
        for queue in shared.queues:
            if compacted and queue.first >= compacted:
                queue.fail(moved)
            elif queue.failure is None:
                queue.put(message)

    def hand_out(self, shared: Shared, line: bytes) -> None:
        """A gateway result line of ``shared``: to its watches (a cancel, as :meth:`canceled` says)."""
        if b'"canceled"' in line and CANCELED.search(line):
            self.canceled(shared, line)
        else:
            shared.put(line)

    def retire(self, shared: Shared) -> None:
        """No watch may join ``shared`` any more (etcd ended it, or is asked to)."""
        shared.dead = True
        if self.joinable.get(shared.key) is shared:
            del self.joinable[shared.key]
        if not shared.ready.done():
            shared.ready.set_result(None)

    def leave(self, shared: Shared, queue: Queue) -> asyncio.Future[None] | None:
        """One watch stops: its reader wakes with a failure; the last to leave ends the etcd watch.

        :returns: a future done when etcd confirmed the end, where it does.
        """
        if queue in shared.queues:
            shared.queues.remove(queue)
            queue.fail(self.closed())
        if shared.queues:
            return None
        return self.cancel(shared.watch_id)

    def cancel(self, watch_id: int) -> asyncio.Future[None] | None:
        """End one etcd watch (its watches' readers wake with a failure)."""
        raise NotImplementedError

    # What the hub reads of an etcd watch's messages: gateway lines here; gRPC's messages
    # in aio_etcd.v3._grpc.watch.

    def first_revision(self, created: Any, start: int) -> int:
        """The first revision an etcd watch reports, from its ``created`` answer (0: it was not created)."""
        if not created.startswith(b'{"result"'):
            return 0
        result = json.loads(created)["result"]
        if not result.get("created") or result.get("canceled"):
            return 0
        return start or int(result.get("header", {}).get("revision", 0)) + 1

    def compacted(self, message: Any) -> int:
        """The compaction revision a canceled message of an etcd watch gives (0: none)."""
        try:
            return int(json.loads(message)["result"].get("compact_revision") or 0)
        except (ValueError, KeyError, TypeError, AttributeError):
            return 0

    def reached(self, message: Any) -> int:
        """How far the events an etcd watch handed out went, from the last message it handed
        out: that message's last event's revision; the revision a progress report reports (no
        event of its watch up to it is still to come); 0 for its created answer (no event
        yet). Any other message (an error) reaches everything."""
        if not message.startswith(b'{"result"'):
            return 1 << 62
        result = json.loads(message)["result"]
        events = result.get("events")
        if events:
            return max(int(event.get("kv", {}).get("mod_revision", 0)) for event in events)
        if result.get("created"):
            return 0
        return int(result.get("header", {}).get("revision", 0))

    def closed(self) -> TransportFailure:
        """What a watch that left reads."""
        return TransportFailure(self.base + WATCH, ConnectionAbortedError("closed by the client"), sent=True)


def share_key(create: Mapping[str, Any]) -> tuple[str, int]:
    """What a create request asks for, as text (all but its start revision), and its start revision."""
    key = json.dumps({name: value for name, value in create.items() if name != "start_revision"}, sort_keys=True)
    return key, int(create.get("start_revision") or 0)


def no_leader(status: Response) -> Response:
    """The refusal etcd gives a require-leader watch at a member without a leader."""
    refusal = json.dumps({"error": {"code": 14, "message": "etcdserver: no leader"}}).encode()
    return Response.build(503, refusal, status.url)


def end_of(loop: asyncio.AbstractEventLoop, timeout: float | None) -> float | None:
    """The loop time at which ``timeout`` seconds from now run out (``None``: no limit)."""
    return None if timeout is None or math.isinf(timeout) else loop.time() + timeout


def left_until(loop: asyncio.AbstractEventLoop, end: float | None) -> float | None:
    """What is left until ``end`` (see :func:`end_of`), rounded up to a quarter second (the
    transports keep a timer per distinct limit); 0 once it has passed."""
    if end is None:
        return None
    left = end - loop.time()
    return quarter_up(left) if left > 0 else 0.0


def _rest(loop: asyncio.AbstractEventLoop, end: float | None, url: str) -> float | None:
    """What is left of an attempt's limit for its next step; none left: the attempt timed out
    (before the step sent anything)."""
    left = left_until(loop, end)
    if left == 0:
        raise TransportFailure(url, asyncio.TimeoutError(), sent=False, timed_out=True)
    return left


async def join(
    cluster: Cluster,
    transport: Transport,
    hub: Hub,
    shared: Shared,
    url: str,
    start: int,
    headers: Mapping[str, str],
    timeout: float | None,
) -> Response | None:
    """A watch that reads what the etcd watch ``shared`` sends, as one of its own would.

    :returns: its stream (the first line a ``created`` answer at the
        member's current revision), a refusal (the member has no leader), or
        ``None`` where joining would not give what a watch of its own would
        (the caller opens one).
    """
    if shared.dead:
        return None
    loop = asyncio.get_running_loop()
    end = end_of(loop, timeout)
    # Joined first, then the member asked: what it sends after its answer reaches this queue.
    # Joined before it is even created, where it is not yet: what it hands out from its
    # first message on (a catch-up from history, after a failover) reaches this queue too.
    queue = Queue()
    shared.queues.append(queue)
    handed_out = 0 if shared.last is None else hub.reached(shared.last)  # nothing past it came before
    try:
        if not shared.ready.done():
            try:
                await within(asyncio.shield(shared.ready), timeout)
            except asyncio.TimeoutError:
                hub.leave(shared, queue)
                return None
        if shared.dead:
            hub.leave(shared, queue)
            return None
        resp = await ask_status(cluster, transport, hub.base, headers, _rest(loop, end, url))
    except BaseException:
        hub.leave(shared, queue)
        raise
    status = resp.json_object() if resp.status == 200 else None
    if status is None or not status.get("leader"):
        hub.leave(shared, queue)
        return resp if resp.status != 200 else no_leader(resp)
    header = status.get("header") or {}
    revision = int(header.get("revision") or 0)
    first = start or revision + 1
    if shared.dead or not 0 < shared.start <= first or handed_out >= first:
        hub.leave(shared, queue)
        return None
    queue.first = first
    created = json.dumps({"result": {"header": header, "created": True}}).encode()
    return LineStream(200, {}, created, url, queue.get, lambda: hub.leave(shared, queue))


class _Streams(Hub):
    """One member's HTTP-stream watches: each etcd watch an HTTP stream, read by a task into its queues."""

    def __init__(self, base: str) -> None:
        super().__init__(base)
        self.readers: dict[int, tuple[LineStream, asyncio.Task[None]]] = {}

    def start(self, shared: Shared, stream: LineStream) -> None:
        task = asyncio.get_running_loop().create_task(self._read(shared, stream))
        self.readers[shared.watch_id] = (stream, task)

    def cancel(self, watch_id: int) -> asyncio.Future[None] | None:
        shared = self.queues.pop(watch_id, None)
        if shared is not None:
            self.retire(shared)
            shared.fail(self.closed())
        found = self.readers.pop(watch_id, None)
        if found is not None:
            stream, task = found
            stream.close()  # over HTTP/1.1, how etcd is told
            task.cancel()
        return None

    async def _read(self, shared: Shared, stream: LineStream) -> None:
        failure: TransportFailure | None = None
        try:
            while True:
                line = await stream.next_line()
                if not line:
                    break
                if line.startswith(b'{"result"'):
                    self.hand_out(shared, line)
                else:  # an error ends the stream: no one joins it now
                    self.retire(shared)
                    shared.put(line)
        except TransportFailure as exc:
            failure = exc
        except Exception as exc:  # next_line promises TransportFailure; never leave the watches hanging
            failure = TransportFailure(stream.url, exc, sent=True)
        finally:
            self.readers.pop(shared.watch_id, None)
            self.queues.pop(shared.watch_id, None)
            stream.close()
            self.retire(shared)
            shared.fail(
                failure
                or TransportFailure(stream.url, ConnectionResetError("the member ended the watch stream"), sent=True)
            )


class Sharing:
    """Stands in for the transport of watch calls, so that the cluster's attempt loop
    (failover, backoff, deadline) opens shared watches as it opens any: a watch's
    ``/v3/watch`` joins an etcd watch on its member's :class:`Hub` (:func:`join`), or opens
    one of its own there (:meth:`_own`); every other call goes to the transport below.
    """

    def __init__(self, transport: Transport, cluster: Cluster) -> None:
        self.transport = transport
        self.cluster = cluster
        #: Whether :meth:`websocket` opens websockets (it forwards them to the transport below).
        self.websockets: bool = getattr(transport, "websockets", False)

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float | None,
        stream: bool = False,
        foreign: bool = False,
    ) -> Response:
        """Ordinary requests (the cluster's member list) go to the transport below."""
        return await self.transport.exchange(
            method, url, body=body, headers=headers, timeout=timeout, stream=stream, foreign=foreign
        )

    async def websocket(self, url: str, *, headers: Mapping[str, str], timeout: float | None) -> WebSocket:
        """A websocket of the transport below."""
        return await self.transport.websocket(url, headers=headers, timeout=timeout)

    async def open_lines(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float | None,
        foreign: bool = False,
        first_line: bool = True,
    ) -> Response:
        if not url.endswith(WATCH) or body is None or not first_line:
            return await self.transport.open_lines(
                method, url, body=body, headers=headers, timeout=timeout, foreign=foreign, first_line=first_line
            )
        # One time limit for the attempt, whatever steps it takes: each gets what is left.
        loop = asyncio.get_running_loop()
        end = end_of(loop, timeout)
        hub = await self._hub(url[: -len(WATCH)], headers, timeout)
        if isinstance(hub, Response):
            return hub  # the member's refusal
        request = json.loads(body)
        key, start = share_key(request["create_request"])
        shared = hub.joinable.get(key)
        if shared is not None:
            joined = await join(self.cluster, self.transport, hub, shared, url, start, headers, _rest(loop, end, url))
            if joined is not None:
                return joined
        return await self._own(hub, key, start, request, method, url, body, headers, _rest(loop, end, url), foreign)

    async def _hub(self, base: str, headers: Mapping[str, str], timeout: float | None) -> Hub | Response:
        """The hub of member ``base`` (or why a watch may not be opened there)."""
        raise NotImplementedError

    async def _own(
        self,
        hub: Hub,
        key: str,
        start: int,
        request: dict[str, Any],
        method: str,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: float | None,
        foreign: bool,
    ) -> Response:
        """A new etcd watch on ``hub`` for ``request`` (``body`` as sent; ``key`` is what it asks
        for, ``start`` its start revision): its stream."""
        raise NotImplementedError


class StreamShares(Sharing):
    """Watches on HTTP streams (the gateway's ``watch_transport="http"``), identical ones sharing a stream."""

    def __init__(self, transport: Transport, cluster: Cluster) -> None:
        super().__init__(transport, cluster)
        self._hubs: dict[str, _Streams] = {}

    async def _hub(self, base: str, headers: Mapping[str, str], timeout: float | None) -> Hub | Response:
        hub = self._hubs.get(base)
        if hub is None:
            hub = self._hubs[base] = _Streams(base)
        return hub

    async def _own(
        self,
        hub: Hub,
        key: str,
        start: int,
        request: dict[str, Any],
        method: str,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: float | None,
        foreign: bool,
    ) -> Response:
        assert isinstance(hub, _Streams)
        shared, queue = hub.register(key)
        try:
            resp = await self.transport.open_lines(
                method, url, body=body, headers=headers, timeout=timeout, foreign=foreign
            )
        except BaseException:
            hub.cancel(shared.watch_id)
            raise
        if not isinstance(resp, LineStream):
            hub.cancel(shared.watch_id)
            return resp  # etcd's refusal, read by the watch
        hub.created(shared, hub.first_revision(resp.body, start))
        if not shared.start:  # not created: the watch reads why from the stream itself
            hub.queues.pop(shared.watch_id, None)
            return resp
        shared.last = resp.body  # its created line, read here
        hub.start(shared, resp)
        return LineStream(resp.status, resp.headers, resp.body, resp.url, queue.get, lambda: hub.leave(shared, queue))

    async def close(self) -> None:
        """End every watch's stream."""
        tasks = []
        for hub in self._hubs.values():
            tasks += [task for _, task in hub.readers.values()]
            for watch_id in list(hub.readers):
                hub.cancel(watch_id)
        self._hubs.clear()
        await asyncio.gather(*tasks, return_exceptions=True)
