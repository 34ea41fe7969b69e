"""Move a live v2 key space to v3: copy at one index, follow changes until cut-over, verify.

::

    from aio_etcd import Client, v3
    from aio_etcd.migrate import migrate

    async with Client(host=...) as source, v3.Client(...) as dest:
        report = await migrate(source, dest, prefix="/app", follow=True, stop=stop_event)

What it does, in order (``docs/migrating.rst`` walks an operator through it):

1. With ``follow``, a recursive streaming v2 watch is opened *before* the
   snapshot, from the index just read, and buffers every change while the
   copy runs (v2 keeps only the last 1,000 events: watching from the copy's
   index afterwards would miss changes at a few hundred writes a second).
2. The v2 tree under ``prefix`` is read at one index and written to v3 (key
   ``/a/b`` becomes ``dest_prefix + "/a/b"`` as UTF-8), in transactions of at
   most 128 operations. A v3 key that changed after this run started is never
   overwritten (each put compares its ``mod_revision``) unless ``overwrite``.
3. A key with a TTL is put with a lease of its remaining time (etcd's shortest
   lease is 2 s); keys expiring in the same second share one lease, and keys
   under a directory with a TTL expire with it.
4. With ``follow``, the buffered changes after the snapshot's index and all
   later ones are applied in order until ``stop`` is set. v2 watches do not
   show ``refresh`` writes, so the TTLs are read again every ``ttl_poll``
   seconds and a key whose expiry moved gets a lease of its own time.
5. The last applied v2 index is kept in the v3 key :func:`progress_key`, in
   the same transaction as the changes: a second run continues from there
   (or, when v2 no longer has the events, copies again at a newer index and
   removes the keys that left v2 meanwhile), never writing an older value
   after a newer one.

Empty v2 directories have no v3 form: they are dropped (and listed in the
report) unless ``keep_empty_dirs`` puts a marker key ``dir/`` for each.
Hidden keys (names starting with ``_``) never appear in recursive reads or
watches: only those named in ``hidden`` are copied, once, and the report says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from ._http import LineStream, TransportFailure
from .client import Client, _key_path
from .exceptions import EtcdEventIndexCleared, EtcdException, EtcdKeyNotFound
from .v3 import Client as V3Client
from .v3 import txn as T  # noqa: N812 (the documented spelling)
from .v3.results import KV

__all__ = ["Difference", "Report", "migrate", "progress_key", "verify"]

log = logging.getLogger(__name__)

#: etcd's most operations in one transaction; one is the progress record.
MAX_OPS = 128
#: etcd's shortest lease.
MIN_LEASE = 2
#: Transactions under way at once while copying.
PIPELINE = 4
#: v2 key-space actions that leave a key with a value.
_PUTS = frozenset({"set", "create", "update", "compareAndSwap"})
_DELETES = frozenset({"delete", "compareAndDelete", "expire"})


def progress_key(prefix: str = "/", dest_prefix: str = "") -> bytes:
    """The v3 key holding a migration's progress: ``aio-etcd-migrate`` + dest prefix + source prefix.

    It has no leading ``/``, so no migrated v2 key (they all start with ``/``)
    can be it.
    """
    return f"aio-etcd-migrate:{dest_prefix}{prefix}".encode()


@dataclasses.dataclass
class Difference:
    """One way the two sides differ (what :func:`verify` reports)."""

    key: str
    what: str

    def __str__(self) -> str:
        return f"{self.key}: {self.what}"


@dataclasses.dataclass
class Report:
    """What a run did; :meth:`to_json` is what the command prints."""

    keys_copied: int = 0
    leases_created: int = 0
    dirs_dropped: list[str] = dataclasses.field(default_factory=list)
    hidden_copied: list[str] = dataclasses.field(default_factory=list)
    conflicts: list[str] = dataclasses.field(default_factory=list)
    removed: int = 0
    changes_followed: int = 0
    ttl_moves: int = 0
    reconciled: int = 0
    snapshot_index: int = 0
    last_index: int = 0
    resumed_from: int | None = None
    differences: list[Difference] | None = None
    dry_run: bool = False
    duration: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["differences"] = None if self.differences is None else [str(d) for d in self.differences]
        out["duration"] = round(self.duration, 3)
        return out


# -- reading v2 ------------------------------------------------------------------------------


class _Entry:
    """A v2 key to have in v3: value, v2 modifiedIndex, and when it expires (wall clock, or None)."""

    __slots__ = ("value", "index", "expires")

    def __init__(self, value: str, index: int, expires: float | None) -> None:
        self.value = value
        self.index = index
        self.expires = expires


def _expiry(node: dict[str, Any], now: float) -> float | None:
    """When a node expires (wall clock), from its ``expiration`` (or its ``ttl``)."""
    stamp = node.get("expiration")
    if stamp:
        try:
            return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    ttl = node.get("ttl")
    return now + float(ttl) if ttl else None


class _Tree:
    """A v2 subtree read at one index: its keys, its empty directories, directories with a TTL."""

    def __init__(self) -> None:
        self.keys: dict[str, _Entry] = {}
        self.empty_dirs: list[str] = []
        self.dir_expiry: dict[str, float] = {}
        self.index = 0

    def add(self, node: dict[str, Any], now: float, inherited: float | None = None) -> None:
        expires = _expiry(node, now)
        if inherited is not None:
            expires = inherited if expires is None else min(expires, inherited)
        key = str(node.get("key", "/"))
        if node.get("dir"):
            if expires is not None:
                self.dir_expiry[key] = expires
            children = node.get("nodes") or []
            if not children and key != "/":
                self.empty_dirs.append(key)
            for child in children:
                self.add(child, now, expires)
        else:
            self.keys[key] = _Entry(str(node.get("value", "")), int(node.get("modifiedIndex", 0)), expires)


async def _read_tree(source: Client, key: str, tree: _Tree, *, required: bool = True) -> None:
    """Add the v2 subtree at ``key`` to ``tree`` (its index is the answer's ``X-Etcd-Index``)."""
    path = source.key_endpoint + _key_path(key)
    resp = await source.api_execute(
        path, "GET", {"recursive": "true", "sorted": "false"}, timeout=math.inf, raise_for_status=False
    )
    if resp.status == 404 and not required:
        return
    await source.raise_for_answer(resp)
    body = resp.json()
    tree.index = max(tree.index, resp.header_int("X-Etcd-Index") or 0)
    tree.add(body["node"], time.time())


# -- the v3 side ------------------------------------------------------------------------------


class _Leases:
    """One lease per second of expiry, granted on first use and never renewed."""

    def __init__(self, dest: V3Client, report: Report) -> None:
        self.dest = dest
        self.report = report
        self._by_second: dict[int, tuple[int, float]] = {}
        self._lock = asyncio.Lock()

    async def for_expiry(self, expires: float | None) -> int:
        if expires is None:
            return 0
        second = math.ceil(expires)
        now = time.time()
        async with self._lock:
            known = self._by_second.get(second)
            if known is not None and known[1] > now:
                return known[0]
            ttl = max(MIN_LEASE, math.ceil(expires - now))
            grant = await self.dest.grant(ttl)
            self.report.leases_created += 1
            self._by_second[second] = (grant.id, now + grant.ttl)
            return grant.id


class _Writer:
    """Writes batches to v3 with revision guards, recording progress in the same transaction."""

    def __init__(self, dest: V3Client, dest_prefix: str, prefix: str, overwrite: bool, report: Report) -> None:
        self.dest = dest
        self.dest_prefix = dest_prefix
        self.progress = progress_key(prefix, dest_prefix)
        self.overwrite = overwrite
        self.report = report
        self.start_revision = 0
        #: Revision of this run's last write of each key (its guard).
        self.ours: dict[bytes, int] = {}
        self.conflicted: set[bytes] = set()
        self.baseline = 0

    def dest_key(self, key: str) -> bytes:
        return (self.dest_prefix + key).encode()

    async def begin(self) -> dict[str, Any] | None:
        """Learn the start revision; the progress an earlier run left, if any."""
        self.start_revision = await self.dest.revision()
        kv = await self.dest.get(self.progress)
        record = json.loads(kv.value) if kv is not None else None
        self.baseline = int(record.get("baseline", self.start_revision)) if record else self.start_revision
        return record

    def _guard(self, key: bytes) -> T.Compare:
        return T.mod(key) < self.ours.get(key, self.start_revision) + 1

    async def apply(self, ops: Sequence[tuple[bytes, T.Op]], record: dict[str, Any]) -> None:
        """Write ``ops`` (at most one per key) and the progress ``record`` in one transaction.

        Keys whose guard fails are left alone and listed as conflicts.
        """
        ops = [(key, op) for key, op in ops if key not in self.conflicted]
        while True:
            record = {**record, "baseline": self.baseline}
            txn = self.dest.txn()
            if not self.overwrite:
                txn.if_(*(self._guard(key) for key, _ in ops))
            txn.then(*(op for _, op in ops), T.put(self.progress, json.dumps(record)))
            result = await txn.commit()
            if result.succeeded:
                for key, _ in ops:
                    self.ours[key] = result.revision
                return
            # Find the keys changed by somebody else, leave them out, try again.
            lost = []
            for key, _ in ops:
                kv = await self.dest.get(key)
                if kv is not None and kv.mod_revision > self.ours.get(key, self.start_revision):
                    lost.append(key)
            for key in lost:
                self.conflicted.add(key)
                self.report.conflicts.append(key.decode("utf-8", "backslashreplace"))
            ops = [(key, op) for key, op in ops if key not in self.conflicted]


def _batches(ops: Iterable[tuple[bytes, T.Op]]) -> Iterable[list[tuple[bytes, T.Op]]]:
    """Groups of at most ``MAX_OPS - 1`` operations, order kept: never two on one key in a group,
    and a range delete alone (etcd refuses a transaction whose writes overlap)."""
    batch: list[tuple[bytes, T.Op]] = []
    keys: set[bytes] = set()
    for key, op in ops:
        ranged = "range_end" in op.fields.get("request_delete_range", ())
        if batch and (len(batch) == MAX_OPS - 1 or key in keys or ranged):
            yield batch
            batch, keys = [], set()
        batch.append((key, op))
        keys.add(key)
        if ranged:
            yield batch
            batch, keys = [], set()
    if batch:
        yield batch


# -- following v2 ------------------------------------------------------------------------------


class _Changes:
    """Every v2 change under a prefix after an index, in order, buffered as it arrives.

    v2 streams (``stream=true``) deliver only changes after the moment they
    are registered (from an old ``waitIndex`` they give one event and stop),
    so a stream is opened first, and the changes between the index wanted
    and the stream's own ``X-Etcd-Index`` are read from v2's history one by
    one. The same happens when a stream breaks. A gap v2's history no longer
    covers puts :class:`~aio_etcd.EtcdEventIndexCleared` in the queue.
    """

    def __init__(self, source: Client, prefix: str, after: int) -> None:
        self.source = source
        self.prefix = prefix
        #: The last index delivered (or the index to follow from).
        self.after = after
        self.queue: asyncio.Queue[dict[str, Any] | BaseException] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._path = source.key_endpoint + _key_path(prefix)

    async def start(self, *, fresh: bool = False) -> None:
        """Open the stream; changes then arrive in :attr:`queue`.

        :param fresh: follow from the stream's own start (the caller reads a
            snapshot after this); otherwise the changes after :attr:`after`
            are read first.
        :raises EtcdEventIndexCleared: v2 no longer has the changes after :attr:`after`.
        """
        stream, head = await self._open()
        try:
            if fresh:
                self.after = head
            else:
                await self._gap(head)
        except BaseException:
            stream.close()
            raise
        self.after = max(self.after, head)
        self._task = asyncio.get_running_loop().create_task(self._run(stream))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _open(self) -> tuple[LineStream, int]:
        """A stream registered at the server, and the index it starts after."""
        query = "?wait=true&recursive=true&stream=true"
        failure: BaseException | None = None
        for _ in range(10):
            for base in [self.source.base_uri, *self.source.machines_cache]:
                try:
                    resp = await self.source._transport.open_lines(
                        "GET", base + self._path + query, body=None, headers=self.source._headers,
                        timeout=self.source.retry.attempt_timeout, first_line=False,
                    )  # fmt: skip
                except TransportFailure as exc:
                    failure = exc
                    continue
                if isinstance(resp, LineStream):
                    head = resp.header_int("X-Etcd-Index")
                    if head is not None:
                        return resp, head
                    resp.close()
                await self.source.raise_for_answer(resp)
                failure = EtcdException(f"follow: no X-Etcd-Index on the v2 stream from {base}")
            await asyncio.sleep(0.5)
        raise EtcdException(f"follow: could not open a v2 watch stream on {self.prefix!r}: {failure}")

    async def _gap(self, upto: int) -> None:
        """Queue the changes after :attr:`after` up to ``upto`` from v2's history."""
        while self.after < upto:
            params = {"wait": "true", "recursive": "true", "waitIndex": str(self.after + 1)}
            resp = await self.source.api_execute(self._path, "GET", params, raise_for_status=False, timeout=10.0)
            body = resp.json_object() or {}
            if body.get("errorCode") == 401:
                raise EtcdEventIndexCleared(f"v2 no longer has the changes after index {self.after}", body)
            await self.source.raise_for_answer(resp)
            index = int(body["node"]["modifiedIndex"])
            if index > upto:
                return  # the stream has this one
            self.queue.put_nowait(body)
            self.after = index

    async def _run(self, stream: LineStream) -> None:
        try:
            while True:
                try:
                    while line := await stream.next_line():
                        event = json.loads(line)
                        index = int(event["node"]["modifiedIndex"])
                        if index > self.after:
                            self.queue.put_nowait(event)
                            self.after = index
                except (TransportFailure, ValueError, KeyError) as exc:
                    log.info("follow: the v2 stream broke (%s); again after index %d", exc, self.after)
                finally:
                    stream.close()
                stream, head = await self._open()
                await self._gap(head)
                self.after = max(self.after, head)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.queue.put_nowait(exc)


# -- the run ---------------------------------------------------------------------------------------


async def migrate(
    source: Client,
    dest: V3Client,
    *,
    prefix: str = "/",
    dest_prefix: str = "",
    follow: bool = False,
    verify_after: bool = False,
    dry_run: bool = False,
    overwrite: bool = False,
    keep_empty_dirs: bool = False,
    hidden: Sequence[str] = (),
    stop: asyncio.Event | None = None,
    ttl_poll: float = 5.0,
    progress: Callable[[str, int, int], None] | None = None,
) -> Report:
    """Copy the v2 tree under ``prefix`` to v3, follow it until ``stop`` is set, verify; see the module doc.

    :param progress: called as ``progress(phase, done, total)`` while copying.
    :returns: the :class:`Report` (with ``differences`` when ``verify_after``).
    """
    if not prefix.startswith("/"):
        raise ValueError("prefix is a v2 key and starts with '/'")
    if dest_prefix.endswith("/"):
        raise ValueError("dest_prefix must not end with '/': v2 keys bring their own")
    began = time.monotonic()
    report = Report(dry_run=dry_run)
    writer = _Writer(dest, dest_prefix, prefix, overwrite, report)
    record = await writer.begin()
    leases = _Leases(dest, report)
    changes: _Changes | None = None
    try:
        if follow and not dry_run and record is not None and "index" in record:
            changes = _Changes(source, prefix, int(record["index"]))
            try:
                await changes.start()
            except EtcdEventIndexCleared as exc:
                log.info("%s: copying again", exc)
                changes = None
            else:  # v2 still has every change since the last run: no copy needed
                report.resumed_from = report.snapshot_index = report.last_index = int(record["index"])
        if report.resumed_from is None:
            if follow and not dry_run:
                changes = _Changes(source, prefix, 0)
                await changes.start(fresh=True)
            tree = await _snapshot(source, prefix, hidden, report)
            await _copy(tree, writer, leases, report, keep_empty_dirs, dry_run, progress, prefix, record is not None)
            report.snapshot_index = report.last_index = tree.index
        if changes is not None:
            await _follow(source, prefix, changes, writer, leases, report, stop, ttl_poll)
    finally:
        if changes is not None:
            await changes.close()
    if verify_after:
        report.differences = await verify(source, dest, prefix=prefix, dest_prefix=dest_prefix, hidden=hidden)
    report.duration = time.monotonic() - began
    return report


async def _current_index(source: Client, prefix: str) -> int:
    resp = await source.api_execute(source.key_endpoint + _key_path(prefix), "GET", raise_for_status=False)
    index = resp.header_int("X-Etcd-Index")
    if index is None:
        await source.raise_for_answer(resp)
        raise EtcdException(f"no X-Etcd-Index in the answer for {prefix!r}")
    return index


async def _snapshot(source: Client, prefix: str, hidden: Sequence[str], report: Report) -> _Tree:
    tree = _Tree()
    await _read_tree(source, prefix, tree, required=False)
    for key in hidden:
        before = len(tree.keys)
        try:
            await _read_tree(source, key, tree)
        except EtcdKeyNotFound:
            log.warning("hidden key %s does not exist", key)
            continue
        if len(tree.keys) > before:
            report.hidden_copied.append(key)
    return tree


async def _copy(
    tree: _Tree,
    writer: _Writer,
    leases: _Leases,
    report: Report,
    keep_empty_dirs: bool,
    dry_run: bool,
    progress: Callable[[str, int, int], None] | None,
    prefix: str,
    reconcile: bool,
) -> None:
    report.dirs_dropped = [] if keep_empty_dirs else sorted(tree.empty_dirs)
    total = len(tree.keys) + (len(tree.empty_dirs) if keep_empty_dirs else 0)
    if dry_run:
        report.keys_copied = len(tree.keys)
        return
    ops: list[tuple[bytes, T.Op]] = []
    for key, entry in tree.keys.items():
        dest_key = writer.dest_key(key)
        ops.append((dest_key, T.put(dest_key, entry.value, lease=await leases.for_expiry(entry.expires))))
    if keep_empty_dirs:
        for key in tree.empty_dirs:
            marker = writer.dest_key(key.rstrip("/") + "/")
            ops.append((marker, T.put(marker, b"", lease=await leases.for_expiry(tree.dir_expiry.get(key)))))
    record = {"copying": tree.index}
    done = 0
    slots = asyncio.Semaphore(PIPELINE)

    async def write(batch: list[tuple[bytes, T.Op]]) -> None:
        nonlocal done
        async with slots:
            await writer.apply(batch, record)
        done += len(batch)
        if progress is not None:
            progress("copy", done, total)

    await asyncio.gather(*(write(batch) for batch in _batches(ops)))
    report.keys_copied = len(ops)
    if reconcile:  # an earlier run may have copied keys that left v2 since: remove them
        wanted = {key for key, _ in ops}
        stale = []
        async for kv in _dest_keys(writer.dest, writer.dest_prefix, prefix, keys_only=True):
            if kv.key not in wanted and kv.create_revision >= writer.baseline:
                stale.append((kv.key, T.delete(kv.key)))
        for batch in _batches(stale):
            await writer.apply(batch, record)
        report.reconciled = len(stale)
    await writer.apply([], {"index": tree.index})


async def _dest_keys(dest: V3Client, dest_prefix: str, prefix: str, *, keys_only: bool = False) -> AsyncIterator[KV]:
    """The v3 keys a v2 subtree maps to: the key itself and everything under ``key/``."""
    root = (dest_prefix + prefix.rstrip("/")).encode()
    if prefix.rstrip("/"):
        kv = await dest.get(root)
        if kv is not None:
            yield kv
    async for kv in dest.scan(root + b"/", prefix=True, keys_only=keys_only):
        yield kv


async def _follow(
    source: Client,
    prefix: str,
    changes: _Changes,
    writer: _Writer,
    leases: _Leases,
    report: Report,
    stop: asyncio.Event | None,
    ttl_poll: float,
) -> None:
    """Apply the changes after the snapshot, in order, until ``stop``; re-read TTLs every ``ttl_poll`` s."""
    stop = stop or asyncio.Event()
    known: dict[str, int] = {}  # key -> modifiedIndex last applied (from events or the TTL poll)
    dirs: dict[str, float] = {}  # directory -> expiry, as the last poll saw it
    next_poll = time.monotonic() + ttl_poll
    while not stop.is_set():
        events: list[dict[str, Any]] = []
        timeout = max(0.0, min(next_poll - time.monotonic(), 0.5))
        try:
            item = await asyncio.wait_for(changes.queue.get(), timeout)
        except asyncio.TimeoutError:
            item = None
        while item is not None:
            if isinstance(item, BaseException):
                if isinstance(item, EtcdEventIndexCleared):
                    await _reconcile_after_gap(source, prefix, changes, writer, leases, report)
                    break
                raise item
            events.append(item)
            item = changes.queue.get_nowait() if not changes.queue.empty() and len(events) < 500 else None
        if events:
            await _apply(events, writer, leases, report, known)
        if time.monotonic() >= next_poll:
            if changes.queue.empty():  # everything read so far is applied: the poll is newer
                await _poll_ttls(source, prefix, writer, leases, report, known, dirs)
            next_poll = time.monotonic() + ttl_poll


async def _apply(
    events: list[dict[str, Any]], writer: _Writer, leases: _Leases, report: Report, known: dict[str, int]
) -> None:
    ops: list[tuple[bytes, T.Op]] = []
    last = report.last_index
    for event in events:
        node = event.get("node") or {}
        index = int(node.get("modifiedIndex", 0))
        if index <= report.snapshot_index:
            continue  # the copy has it
        key = str(node.get("key", ""))
        action = event.get("action")
        dest_key = writer.dest_key(key)
        if node.get("dir"):
            if action in _DELETES:
                ops.append((dest_key + b"/", T.delete(dest_key + b"/", prefix=True)))
        elif known.get(key, 0) >= index:
            pass  # the TTL poll already wrote this key as it was at a later index
        elif action in _PUTS:
            lease = await leases.for_expiry(_expiry(node, time.time()))
            ops.append((dest_key, T.put(dest_key, str(node.get("value", "")), lease=lease)))
            known[key] = index
        elif action in _DELETES:
            ops.append((dest_key, T.delete(dest_key)))
            known.pop(key, None)
        last = max(last, index)
        report.changes_followed += 1
    for batch in _batches(ops):
        await writer.apply(batch, {"index": last})
    if not ops and last > report.last_index:
        await writer.apply([], {"index": last})
    report.last_index = last


async def _poll_ttls(
    source: Client,
    prefix: str,
    writer: _Writer,
    leases: _Leases,
    report: Report,
    known: dict[str, int],
    dirs: dict[str, float],
) -> None:
    """Refreshed TTLs (v2 shows no event for them): a key whose expiry moved gets a lease of its own time.

    The key is written as the poll read it (value and lease), and counts as
    applied at its ``modifiedIndex``, so a change at an older index that
    arrives later is not applied over it. A directory whose TTL moved moves
    all its keys.
    """
    tree = _Tree()
    await _read_tree(source, prefix, tree, required=False)
    moved_dirs = [d for d, when in tree.dir_expiry.items() if abs(dirs.get(d, when) - when) >= 1.0]
    dirs.clear()
    dirs.update(tree.dir_expiry)
    ops: list[tuple[bytes, T.Op]] = []
    for key, entry in tree.keys.items():
        newer = entry.expires is not None and entry.index > max(known.get(key, 0), report.snapshot_index)
        if not newer and not any(key.startswith(d.rstrip("/") + "/") for d in moved_dirs):
            continue
        dest_key = writer.dest_key(key)
        lease = await leases.for_expiry(entry.expires)
        ops.append((dest_key, T.put(dest_key, entry.value, lease=lease)))
        known[key] = max(known.get(key, 0), entry.index)
        report.ttl_moves += 1
    for batch in _batches(ops):
        await writer.apply(batch, {"index": report.last_index})


async def _reconcile_after_gap(
    source: Client, prefix: str, changes: _Changes, writer: _Writer, leases: _Leases, report: Report
) -> None:
    """The stream lost its place in v2's history: copy again at a newer index and follow from there."""
    began = time.monotonic()
    await changes.close()
    changes.queue = asyncio.Queue()
    await changes.start(fresh=True)
    tree = await _snapshot(source, prefix, (), report)
    copied = report.keys_copied
    await _copy(tree, writer, leases, report, True, False, None, prefix, reconcile=True)
    report.keys_copied = copied
    report.snapshot_index = report.last_index = tree.index
    log.warning("followed again after re-reading v2 at index %d in %.1fs", tree.index, time.monotonic() - began)


# -- verify ----------------------------------------------------------------------------------------


async def verify(
    source: Client, dest: V3Client, *, prefix: str = "/", dest_prefix: str = "", hidden: Sequence[str] = ()
) -> list[Difference]:
    """Every difference between the v2 tree under ``prefix`` and its v3 copy (keys, values, TTLs within 2 s)."""
    tree = _Tree()
    await _read_tree(source, prefix, tree, required=False)
    for key in hidden:
        with contextlib.suppress(EtcdKeyNotFound):
            await _read_tree(source, key, tree)
    now = time.time()
    seen: dict[bytes, KV] = {}
    for root in (prefix, *hidden):
        async for kv in _dest_keys(dest, dest_prefix, root):
            seen[kv.key] = kv
    lease_ttl: dict[int, int] = {}
    differences = []
    for key, entry in sorted(tree.keys.items()):
        dest_key = (dest_prefix + key).encode()
        if dest_key not in seen:
            differences.append(Difference(key, "missing in v3"))
            continue
        kv = seen.pop(dest_key)
        if kv.value != entry.value.encode():
            differences.append(Difference(key, f"v2 has {entry.value[:40]!r}, v3 has {kv.value[:40]!r}"))
        if entry.expires is None and kv.lease:
            differences.append(Difference(key, "no TTL in v2, a lease in v3"))
        elif entry.expires is not None:
            if not kv.lease:
                differences.append(Difference(key, f"expires in {entry.expires - now:.0f}s in v2, never in v3"))
                continue
            if kv.lease not in lease_ttl:
                lease_ttl[kv.lease] = (await dest.time_to_live(kv.lease)).ttl
            left = entry.expires - now
            if abs(lease_ttl[kv.lease] - left) > 2.0 and not (left < MIN_LEASE and lease_ttl[kv.lease] <= MIN_LEASE):
                differences.append(Difference(key, f"TTL {left:.0f}s in v2, {lease_ttl[kv.lease]}s in v3"))
    markers = {(dest_prefix + d.rstrip("/") + "/").encode() for d in tree.empty_dirs}
    for dest_key in sorted(seen):
        if dest_key in markers:
            continue
        differences.append(Difference(dest_key.decode("utf-8", "backslashreplace"), "only in v3"))
    return differences

