"""The traffic of a robustness run: workers and watchers through the public API, every call recorded.

A record is a dict:

- ``client``: the worker; ``op``: ``put``, ``get``, ``delete``, ``cas`` (the
  operations the linearizability checker knows), or ``stale-get``, ``append``,
  ``fenced-put`` (checked on their own); ``key``, ``value``, ``expect``;
- ``call`` / ``return``: ``time.monotonic_ns()`` when the call was made and
  when it returned (``None``: no answer);
- ``outcome``: ``ok``; ``failed`` (a definite answer: compare failed, key not
  found, or a read that failed: a read changes nothing); ``unknown`` (a write
  that failed any other way: it may have been applied, now or later);
- ``out``: what the call returned (``ok``, ``exists``, ``value``, ``rev``).

Values are unique (``w<worker>.<n>``), so an event in the history names the
one call that wrote it, and a write applied twice shows.

A watcher follows the prefix, reopening its watch every few seconds at the
revision (index) after the last event it got (resumable), and records each
event with the watch's progress revision as seen right after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import aio_etcd as etcd
from aio_etcd import v3
from aio_etcd._core.http1 import Http1Transport
from aio_etcd.v3 import txn as T  # noqa: N812 - the documented spelling

PREFIX = "/rb/"
LOCK = "/rb/lock"
FENCED = "/rb/fenced"
QUEUE = "/rb/q"

Record = dict[str, Any]


class History:
    """Every call of a run, in the order they were made."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def call(self, client: int, op: str, key: str, value: str = "", expect: str = "") -> Record:
        record: Record = {"client": client, "op": op, "key": key, "value": value, "expect": expect}
        record.update(call=time.monotonic_ns(), outcome=None, out=None, error=None)
        record["return"] = None
        self.records.append(record)
        return record

    @staticmethod
    def ok(record: Record, **out: Any) -> None:
        record["return"] = time.monotonic_ns()
        record["outcome"] = "ok"
        record["out"] = out

    @staticmethod
    def failed(record: Record, exc: BaseException | None = None, **out: Any) -> None:
        """A definite answer that changed nothing (``out``: what it says about the key)."""
        record["return"] = time.monotonic_ns()
        record["outcome"] = "failed"
        record["out"] = out or None
        record["error"] = type(exc).__name__ if exc is not None else None

    @staticmethod
    def unknown(record: Record, exc: BaseException) -> None:
        record["outcome"] = "unknown"
        record["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"


WRITES = {"put", "delete", "cas", "append", "fenced-put"}


def settle(record: Record, exc: BaseException) -> None:
    """A call ended with ``exc`` that is no answer: a write's outcome is unknown, a read simply failed."""
    if record["op"] in WRITES:
        History.unknown(record, exc)
    else:
        History.failed(record, exc)


class Workload:
    """Workers and watchers of one mode, for a fixed time."""

    def __init__(
        self,
        mode: str,
        endpoints: tuple[tuple[str, int], ...],
        rng: random.Random,
        *,
        workers: int = 5,
        keys: int = 6,
        rate: float = 200,
        transport: str = "auto",
        watchers: int = 2,
        shared_watch_client: bool = False,
    ) -> None:
        self.mode = mode
        self.watchers = watchers
        #: All watchers on one client (their identical watches share etcd watches), not one each.
        self.shared_watch_client = shared_watch_client
        self._watch_client: Any = None
        self.endpoints = endpoints
        #: How the v3 calls go: ``"auto"``, ``"grpc"``, ``"gateway"`` or ``"http1"`` (the gateway
        #: over aio_etcd._core.http1.Http1Transport).
        self.transport = transport
        self.rng = rng
        self.workers = workers
        self.keys = [f"{PREFIX}k{i}" for i in range(keys)]
        self.history = History()
        #: One list per watcher of ``(revision, key, type, value, progress)``; a ``None`` row marks a reopening.
        self.watched: list[list[Any]] = []
        self.watch_starts: list[int] = []
        self.watch_errors = 0
        #: What the watch errors were (kind: first message), for the summary.
        self.watch_error_kinds: dict[str, str] = {}
        #: v2 watches that fell out of etcd's 1000-event history and got a snapshot instead.
        self.watch_resyncs = 0
        #: Seconds between two calls of one worker (the workers together make ``rate`` calls a second).
        self.interval = workers / rate
        self.start_revision = 0

    # -- clients ---------------------------------------------------------------------------

    def v3_client(self) -> v3.Client:
        if self.transport == "http1":
            return v3.Client(*self.endpoints, read_timeout=10, transport=Http1Transport())
        return v3.Client(*self.endpoints, read_timeout=10, transport=self.transport)

    def keys_client(self) -> etcd.Client:
        api = "v3" if self.mode == "api-v3" else "v2"
        if self.transport == "http1":
            return etcd.Client(host=self.endpoints, api=api, read_timeout=10, transport=Http1Transport())
        if api == "v3":
            return etcd.Client(host=self.endpoints, api=api, read_timeout=10, v3_transport=self.transport)
        return etcd.Client(host=self.endpoints, api=api, read_timeout=10)

    # -- running ---------------------------------------------------------------------------

    async def run(self, seconds: float) -> None:
        stop = time.monotonic() + seconds
        await self._begin()
        if self.shared_watch_client:
            self._watch_client = self.v3_client() if self.mode == "v3" else self.keys_client()
        tasks = [asyncio.create_task(self._watcher(i, stop)) for i in range(self.watchers)]
        worker = self._v3_worker if self.mode == "v3" else self._keys_worker
        tasks += [asyncio.create_task(worker(i, stop)) for i in range(self.workers)]
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), seconds + 30)
        except asyncio.TimeoutError:
            pass
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._watch_client is not None:
                await self._watch_client.close()

    @contextlib.asynccontextmanager
    async def _watching_client(self, make: Any) -> AsyncIterator[Any]:
        """The watchers' shared client, or a client of this watcher's own (closed after)."""
        if self._watch_client is not None:
            yield self._watch_client
        else:
            async with make() as client:
                yield client

    async def _begin(self) -> None:
        """The revision (index) the watchers start from: that of a first write."""
        if self.mode == "v3":
            async with self.v3_client() as client:
                self.start_revision = (await client.put(f"{PREFIX}start", b"0")).revision
        else:
            async with self.keys_client() as client:
                self.start_revision = (await client.write(f"{PREFIX}start", "0")).modifiedIndex

    async def _v3_worker(self, me: int, stop: float) -> None:
        rng = random.Random(self.rng.random())
        seen: dict[str, str] = {}
        history = self.history
        async with self.v3_client() as client:
            pace = time.monotonic()
            for n in range(1_000_000):
                if time.monotonic() >= stop:
                    return
                pace += self.interval
                await asyncio.sleep(max(0.0, pace - time.monotonic()))
                pace = max(pace, time.monotonic() - 1)
                key = rng.choice(self.keys)
                value = f"w{me}.{n}"
                pick = rng.random()
                if pick < 0.25:
                    record = history.call(me, "put", key, value)
                    try:
                        put = await client.put(key, value)
                    except asyncio.CancelledError:
                        settle(record, TimeoutError("cancelled at the end of the run"))
                        raise
                    except Exception as exc:
                        settle(record, exc)
                    else:
                        history.ok(record, rev=put.revision)
                elif pick < 0.55:
                    stale = pick >= 0.45
                    record = history.call(me, "stale-get" if stale else "get", key)
                    try:
                        kv = await client.get(key, serializable=stale)
                    except asyncio.CancelledError:
                        settle(record, TimeoutError("cancelled"))
                        raise
                    except Exception as exc:
                        settle(record, exc)
                    else:
                        if kv is None:
                            history.ok(record, exists=False)
                        else:
                            seen[key] = kv.text
                            history.ok(record, exists=True, value=kv.text, rev=kv.mod_revision)
                elif pick < 0.65:
                    record = history.call(me, "delete", key)
                    try:
                        deleted = await client.delete(key)
                    except asyncio.CancelledError:
                        settle(record, TimeoutError("cancelled"))
                        raise
                    except Exception as exc:
                        settle(record, exc)
                    else:
                        history.ok(record, exists=deleted.deleted > 0)
                elif pick < 0.72:
                    await self._pair(client, me, rng, value)
                elif pick < 0.92:
                    expect = seen.get(key, "")
                    record = history.call(me, "cas", key, value, expect)
                    try:
                        result = await (
                            client.txn().if_(T.value(key) == expect).then(T.put(key, value)).else_(T.get(key)).commit()
                        )
                    except asyncio.CancelledError:
                        settle(record, TimeoutError("cancelled"))
                        raise
                    except Exception as exc:
                        settle(record, exc)
                    else:
                        if result.succeeded:
                            seen[key] = value
                            history.ok(record, ok=True, rev=result.revision)
                        else:
                            got = result.responses[0]
                            assert isinstance(got, v3.Range)
                            if got.kvs:
                                kv = got.kvs[0]
                                seen[key] = kv.text
                                history.ok(record, ok=False, exists=True, value=kv.text, rev=kv.mod_revision)
                            else:
                                history.ok(record, ok=False, exists=False)
                else:
                    await self._fenced(client, me, value, stop)

    async def _pair(self, client: v3.Client, me: int, rng: random.Random, value: str) -> None:
        """One transaction putting two keys: two events at one revision (what "atomic" is about)."""
        first, second = rng.sample(self.keys, 2)
        records = [self.history.call(me, "put", first, value + "a"), self.history.call(me, "put", second, value + "b")]
        try:
            result = await client.txn().then(T.put(first, value + "a"), T.put(second, value + "b")).commit()
        except asyncio.CancelledError:
            for record in records:
                settle(record, TimeoutError("cancelled"))
            raise
        except Exception as exc:
            for record in records:
                settle(record, exc)
        else:
            for record in records:
                self.history.ok(record, rev=result.revision)

    async def _fenced(self, client: v3.Client, me: int, value: str, stop: float) -> None:
        """Take the lock, write FENCED under it (``<lock key>|<value>``), let it go."""
        history = self.history
        try:
            async with client.lock(LOCK, ttl=5, timeout=max(0.5, min(5.0, stop - time.monotonic()))) as lock:
                fenced = f"{lock.key.decode()}|{value}"
                record = history.call(me, "fenced-put", FENCED, fenced)
                try:
                    result = await client.txn().if_(lock.owned()).then(T.put(FENCED, fenced)).commit()
                except asyncio.CancelledError:
                    settle(record, TimeoutError("cancelled"))
                    raise
                except Exception as exc:
                    settle(record, exc)
                else:
                    history.ok(record, ok=result.succeeded, rev=result.revision)
        except asyncio.CancelledError:
            raise
        except Exception:
            pass  # no lock this time (timeout, lease lost, member gone): nothing was written without it

    async def _keys_worker(self, me: int, stop: float) -> None:
        rng = random.Random(self.rng.random())
        seen: dict[str, str] = {}
        history = self.history
        async with self.keys_client() as client:
            pace = time.monotonic()
            for n in range(1_000_000):
                if time.monotonic() >= stop:
                    return
                pace += self.interval
                await asyncio.sleep(max(0.0, pace - time.monotonic()))
                pace = max(pace, time.monotonic() - 1)
                key = rng.choice(self.keys)
                value = f"w{me}.{n}"
                pick = rng.random()
                record: Record | None = None
                try:
                    if pick < 0.25:
                        record = history.call(me, "put", key, value)
                        result = await client.write(key, value)
                        history.ok(record, rev=result.modifiedIndex)
                    elif pick < 0.55:
                        stale = pick >= 0.45
                        record = history.call(me, "stale-get" if stale else "get", key)
                        try:
                            result = await client.read(key, quorum=not stale)
                        except etcd.EtcdKeyNotFound:
                            history.ok(record, exists=False)
                        else:
                            seen[key] = result.value
                            history.ok(record, exists=True, value=result.value, rev=result.modifiedIndex)
                    elif pick < 0.65:
                        record = history.call(me, "delete", key)
                        try:
                            await client.delete(key)
                        except etcd.EtcdKeyNotFound:
                            history.ok(record, exists=False)
                        else:
                            history.ok(record, exists=True)
                    elif pick < 0.9:
                        expect = seen.get(key, "-")  # v2 refuses an empty prevValue
                        record = history.call(me, "cas", key, value, expect)
                        try:
                            result = await client.write(key, value, prevValue=expect)
                        except etcd.EtcdCompareFailed:
                            history.ok(record, ok=False, exists=True)
                        except etcd.EtcdKeyNotFound:
                            history.ok(record, ok=False, exists=False)
                        else:
                            seen[key] = value
                            history.ok(record, ok=True, rev=result.modifiedIndex)
                    else:
                        record = history.call(me, "append", QUEUE, value)
                        result = await client.write(QUEUE, value, append=True)
                        history.ok(record, key=result.key, rev=result.modifiedIndex)
                except asyncio.CancelledError:
                    if record is not None and record["outcome"] is None:
                        settle(record, TimeoutError("cancelled at the end of the run"))
                    raise
                except Exception as exc:
                    if record is not None and record["outcome"] is None:
                        settle(record, exc)

    # -- watchers --------------------------------------------------------------------------

    async def _watcher(self, me: int, stop: float) -> None:
        rng = random.Random(self.rng.random())
        rows: list[Any] = []
        self.watched.append(rows)
        self.watch_starts.append(self.start_revision)
        next_rev = self.start_revision
        for _ in range(10_000):
            if time.monotonic() >= stop + 3:  # a little longer than the writers: the last events arrive
                return
            until = min(stop + 3, time.monotonic() + rng.uniform(3, 8))
            rows.append(None)  # a (re)opening
            try:
                if self.mode == "v3":
                    next_rev = await asyncio.wait_for(self._watch_v3(rows, next_rev), until - time.monotonic())
                else:
                    next_rev = await asyncio.wait_for(self._watch_keys(rows, next_rev), until - time.monotonic())
            except asyncio.TimeoutError:
                next_rev = self._next_after(rows, next_rev)
            except Exception as exc:
                self.watch_errors += 1
                self.watch_error_kinds.setdefault(type(exc).__name__, str(exc)[:300])
                next_rev = self._next_after(rows, next_rev)
                await asyncio.sleep(0.2)

    @staticmethod
    def _next_after(rows: list[Any], fallback: int) -> int:
        for row in reversed(rows):
            if isinstance(row, tuple):
                return int(row[0]) + 1
        return fallback

    async def _watch_v3(self, rows: list[Any], start: int) -> int:
        async with (
            self._watching_client(self.v3_client) as client,
            client.watch(PREFIX, prefix=True, start_revision=start) as events,
        ):
            async for event in events:
                kv = event.kv
                rows.append((event.mod_revision, kv.key_text, event.type, kv.text, events.revision))
        return start

    async def _watch_keys(self, rows: list[Any], start: int) -> int:
        async with self._watching_client(self.keys_client) as client:
            async for event in client.watch_iter(PREFIX.rstrip("/"), index=start, recursive=True):
                if event.action == "get":  # etcd forgot the events since start: a snapshot, then on
                    self.watch_resyncs += 1
                    rows.append("resync")
                    continue
                rows.append((event.modifiedIndex, event.key, event.action, event.value, None))
        return start

    # -- the reference history ---------------------------------------------------------------

    async def reference(self) -> list[tuple[int, str, str, str]] | None:
        """Every change under the prefix since the start, read once the faults are over (v3 mode only).

        A fresh v3 client writes an end marker, then watches from the run's
        first revision up to the marker's.
        """
        if self.mode != "v3":
            return None
        rows: list[tuple[int, str, str, str]] = []
        async with self.v3_client() as client:
            last = (await client.put(f"{PREFIX}end", b"0")).revision

            async def follow() -> None:
                async with client.watch(PREFIX, prefix=True, start_revision=self.start_revision) as events:
                    async for event in events:
                        rows.append((event.mod_revision, event.kv.key_text, event.type, event.kv.text))
                        if event.mod_revision >= last:
                            return

            await asyncio.wait_for(follow(), 120)
        return rows
