"""v3 watches over the gateway's streaming ``/v3/watch``, resumed without loss or repeats.

One etcd watch is one HTTP stream (on the connections kept for streams, never
the ordinary ones), or one watch id on a multiplexed stream
(:mod:`aio_etcd.v3._mux`); watches that ask for the same thing share it
(:mod:`aio_etcd.v3._shared`). Over HTTP/1.1 the gateway cannot be told to
cancel a watch, so the last watch to leave an HTTP stream closes its
connection, which etcd sees at once.

A watch is moved to another member, starting at the revision after the last
event it delivered, when its stream breaks, when etcd ends it for lack of a
leader (the watch asks for one: ``Grpc-Metadata-hasleader``), or when its
member does not answer a probe: every ``watch_probe_interval`` seconds, the
members under watches silent that long are asked for their status; one that
does not answer in an attempt's time, or has no leader, loses its watches to
another member. A frozen member (stopped, or cut off) sends nothing and
breaks nothing, so only such a probe can tell.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .._core import Call, Cluster, LineStream, NotEtcd, Response, RetryPolicy, Transport, TransportFailure
from ..exceptions import EtcdException
from ._gateway import ask_status, leads
from .errors import (
    EtcdServerError,
    EtcdWatchCanceled,
    EtcdWatchCompacted,
    error_from,
    is_transient,
    token_refused,
)
from .results import Event, revision_of

if TYPE_CHECKING:
    from ._mux import Multiplexer

__all__ = ["Probes", "Watch", "WatchClient", "ask_status", "leads"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class WatchSession(Protocol):
    """What a watch and the probes use of their client's package-internal side
    (:class:`aio_etcd.v3._session.Session`, ``client.session``)."""

    @property
    def cluster(self) -> Cluster: ...
    @property
    def transport(self) -> Transport: ...
    @property
    def mux(self) -> Multiplexer | None: ...
    @property
    def probes(self) -> Probes: ...
    @property
    def has_credentials(self) -> bool: ...
    def check(self, resp: Response) -> dict[str, Any]: ...
    async def send(self, call: Call, check: Callable[[Response], _T], *, watch: bool = ...) -> _T: ...
    async def authenticate(self, stale: str | None) -> None: ...


class WatchClient(Protocol):
    """What a watch and the probes use of their :class:`~aio_etcd.v3.Client`."""

    @property
    def session(self) -> WatchSession: ...
    @property
    def retry(self) -> RetryPolicy: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def watch_probe_interval(self) -> float: ...
    def stale_token(self, exc: EtcdServerError) -> bool: ...

_FILTERS = {"noput": "NOPUT", "nodelete": "NODELETE"}


class _Resume(Exception):
    """The stream is gone; open it again elsewhere."""


class Watch:
    """A watch: ``async with client.watch(...) as events: async for event in events``.

    :attr:`revision` is the progress: every change up to it has been
    delivered (or filtered out). It moves only as events are taken from the
    iterator: while events of a revision etcd sent together are still to be
    taken, it stays below that revision.
    """

    def __init__(
        self,
        client: WatchClient,
        fields: dict[str, str],
        *,
        start_revision: int = 0,
        prev_kv: bool = False,
        filters: Iterable[str] = (),
        progress_notify: bool = False,
    ) -> None:
        request: dict[str, Any] = dict(fields)
        if prev_kv:
            request["prev_kv"] = True
        if progress_notify:
            request["progress_notify"] = True
        wanted = []
        for name in filters:
            if name.lower() not in _FILTERS:
                raise ValueError(f"watch filters are 'noput' and 'nodelete', not {name!r}")
            wanted.append(_FILTERS[name.lower()])
        if wanted:
            request["filters"] = sorted(set(wanted))
        if start_revision < 0:
            raise ValueError("start_revision must not be negative")
        self._client = client
        self._request = request
        self._next = start_revision
        self._stream: LineStream | None = None
        self._base = ""
        self._pending: collections.deque[Event] = collections.deque()
        self._closed = False
        self._aborted: str | None = None
        self._reauthenticated = False
        #: ``time.monotonic()`` of the last line from the member (for the freeze probe).
        self.last_line = 0.0
        #: How many times the watch moved to another stream.
        self.resumes = 0
        #: The store's revision when etcd first created the watch (its ``created``
        #: answer; 0 until then): what a v2 watch answer calls its ``etcd_index``.
        self.created_revision = 0

    @property
    def revision(self) -> int:
        """Every change up to this revision has been delivered (taken from the iterator).

        ``_next`` is how far the stream has read; events read but not taken
        yet wait in ``_pending``, the oldest first, so the first of them bounds
        what was delivered (all of its revision's events are still there, or
        some of them were taken and the rest are not).
        """
        pending = self._pending
        if pending:
            return max(pending[0].mod_revision - 1, 0)
        return max(self._next - 1, 0)

    @property
    def member(self) -> str:
        """The member the watch streams from now."""
        return self._base

    async def __aenter__(self) -> Watch:
        await self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        stream = self._stream
        self.close()
        if stream is not None:
            # On a websocket etcd confirms the cancel: leaving returns once the
            # watcher is gone from the server (an HTTP stream ends at once).
            await stream.wait_closed(self._client.retry.attempt_timeout)

    def close(self) -> None:
        """Stop the watch (its connection is closed at once). Safe to call twice."""
        self._closed = True
        self._drop()

    def _drop(self) -> None:
        self._client.session.probes.discard(self)
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()

    def abort(self, reason: str) -> None:
        """Give up the current stream (the probe found its member dead); the watch moves on."""
        self._aborted = reason
        stream = self._stream
        if stream is not None:
            stream.close()

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> Event:
        pending = self._pending
        while not pending:
            stream = self._stream
            if self._closed:
                raise StopAsyncIteration
            if stream is None:
                raise EtcdException("use the watch as `async with client.watch(...) as events`")
            try:
                try:
                    line = await stream.next_line()
                except TransportFailure as exc:
                    raise _Resume(self._aborted or str(exc)) from exc
                if not line:
                    raise _Resume(self._aborted or f"{self._base} ended the watch stream")
                if self._take(line):
                    await self._client.session.authenticate(self._client.headers.get("Authorization"))
                    raise _Resume("the token was refused; renewed it")
            except _Resume as why:
                if self._closed:
                    raise StopAsyncIteration from None
                await self._resume(str(why))
        return pending.popleft()

    # -- opening ------------------------------------------------------------------------

    async def _open(self) -> None:
        client = self._client
        session = client.session
        while True:
            request = dict(self._request)
            if self._next:
                request["start_revision"] = str(self._next)
            headers = {**client.headers, "Grpc-Metadata-hasleader": "true"}
            token = headers.get("Authorization")
            call = Call(
                "POST",
                "/v3/watch",
                headers,
                body=json.dumps({"create_request": request}).encode(),
                lines=True,
                op="watch",
                key=_key_text(request),
            )
            try:
                await session.send(call, self._created, watch=True)
            except EtcdWatchCanceled as exc:
                if token_refused(exc.reason) and self._may_reauthenticate():
                    await session.authenticate(token)
                    continue
                raise
            except EtcdServerError as exc:
                if client.stale_token(exc) and self._may_reauthenticate():
                    await session.authenticate(token)
                    continue
                raise
            self._aborted = None
            session.probes.add(self)
            return

    def _may_reauthenticate(self) -> bool:
        """Once per watch, with credentials: a stale token cancels a watch in the words of a real denial."""
        if not self._client.session.has_credentials or self._reauthenticated:
            return False
        self._reauthenticated = True
        return True

    def _created(self, resp: Response) -> LineStream:
        """The first line of a watch stream: ``created`` (the watch is established) or why not."""
        if not isinstance(resp, LineStream):
            self._client.session.check(resp)  # raises the error it holds
            raise NotEtcd(resp, "a watch answer that is not a stream", "v3")
        try:
            result = self._result(resp.body, resp)
            if not result.get("created"):
                raise NotEtcd(resp, "the first line of a watch is not 'created'", "v3")
            header = result.get("header") or {}
            seen = header.get("cluster_id")
            cluster = self._client.session.cluster
            if seen is not None and seen != cluster.cluster_id:
                cluster.guard_cluster_id(seen, resp.url)
            if result.get("canceled"):
                self._canceled(result)
            if not self.created_revision:
                self.created_revision = revision_of(result)
            if not self._next:
                self._next = revision_of(result) + 1
        except BaseException:
            resp.close()
            raise
        self._stream = resp
        self._base = resp.url[: -len("/v3/watch")]
        self.last_line = time.monotonic()
        return resp

    # -- reading -------------------------------------------------------------------------

    def _result(self, line: bytes, resp: Response | None = None) -> dict[str, Any]:
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            if resp is not None:
                raise NotEtcd(resp, "a watch line that is not JSON", "v3")
            raise _Resume(f"{self._base} sent a watch line that is not JSON: {line[:200]!r}")
        result = message.get("result")
        if isinstance(result, dict):
            return result
        error = message.get("error")
        if isinstance(error, dict):
            exc = error_from(error, None, f"watch at {self._base or (resp.url if resp else '')}")
            if exc is None:
                raise EtcdException(f"the watch ended with an error etcd did not explain: {error!r}")
            if is_transient(exc)[0]:
                raise _Resume(str(exc))
            raise exc
        raise _Resume(f"{self._base} sent a watch line that is neither result nor error: {line[:200]!r}")

    def _canceled(self, result: dict[str, Any]) -> None:
        compacted = int(result.get("compact_revision") or 0)
        where = f"watch of {_key_text(self._request)!r} at {self._base or 'a member'}"
        if compacted:
            raise EtcdWatchCompacted(
                f"{where}: revision {self._next} was compacted; the oldest kept is {compacted}", compacted
            )
        reason = str(result.get("cancel_reason") or "")
        raise EtcdWatchCanceled(f"{where} was canceled by the server: {reason or 'no reason given'}", reason)

    def _take(self, line: bytes) -> bool:
        """Put the events of one line in ``_pending``; ``True`` if the token must be renewed first.

        :raises _Resume: the stream is of no further use.
        """
        self.last_line = time.monotonic()
        result = self._result(line)
        events = result.get("events")
        if events:
            floor = next_revision = self._next
            for raw in events:
                event = Event(raw)
                revision = event.mod_revision
                if revision >= floor:  # older ones were delivered before a resume
                    self._pending.append(event)
                    next_revision = revision + 1
            self._next = next_revision
        elif result.get("canceled"):
            if token_refused(str(result.get("cancel_reason") or "")) and self._may_reauthenticate():
                return True
            self._canceled(result)
        elif not result.get("created"):  # a progress report: nothing up to its revision is missing
            self._next = max(self._next, revision_of(result) + 1)
        return False

    async def _resume(self, why: str) -> None:
        base = self._base
        self._drop()
        self.resumes += 1
        log.info("watch of %r: %s; resuming at revision %d", _key_text(self._request), why, self._next)
        self._client.session.cluster.avoid(base)
        await self._open()

    def __repr__(self) -> str:
        return f"<Watch {_key_text(self._request)!r} at {self._base or '-'} revision={self.revision}>"


def _key_text(request: dict[str, Any]) -> str:
    import base64

    return base64.b64decode(request.get("key", "")).decode("utf-8", "backslashreplace")


class Probes:
    """The freeze check of a client's watches: one probe per member, only when its watches are silent."""

    def __init__(self, client: WatchClient) -> None:
        self.client = client
        self._watches: dict[str, set[Watch]] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, watch: Watch) -> None:
        self._watches.setdefault(watch.member, set()).add(watch)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, watch: Watch) -> None:
        watches = self._watches.get(watch.member)
        if watches is not None:
            watches.discard(watch)
            if not watches:
                del self._watches[watch.member]

    @property
    def watching(self) -> int:
        """How many watches are open."""
        return sum(len(w) for w in self._watches.values())

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for watches in list(self._watches.values()):
            for watch in list(watches):
                watch.close()

    async def _run(self) -> None:
        while self._watches:
            interval = self.client.watch_probe_interval
            await asyncio.sleep(interval)
            now = time.monotonic()
            silent = [
                base
                for base, watches in self._watches.items()
                if any(now - watch.last_line >= interval for watch in watches)
            ]
            if silent:
                verdicts = await asyncio.gather(*(self._probe(base) for base in silent))
                for base, trouble in zip(silent, verdicts, strict=True):
                    if trouble:
                        log.warning("moving the watches on %s: %s", base, trouble)
                        for watch in list(self._watches.get(base, ())):
                            watch.abort(f"{base}: {trouble}")
                        mux = self.client.session.mux
                        if mux is not None:
                            await mux.drop(base)

    async def _probe(self, base: str) -> str | None:
        """What is wrong with ``base`` (``None``: it answered and has a leader)."""
        client = self.client
        with contextlib.suppress(Exception):
            session = client.session
            resp = await ask_status(
                session.cluster, session.transport, base, client.headers, client.retry.attempt_timeout
            )
            if resp.status == 200 and not leads(resp):
                return "it has no leader"
            return None  # it answered: alive (auth or other refusals are not our business here)
        return f"no answer to a status probe within {client.retry.attempt_timeout:g}s"
