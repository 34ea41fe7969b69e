"""Writing to v3: guarded batches with the progress record, leases chosen as each batch goes, the copy.

A key with a TTL is a :class:`_Put` that carries its v2 expiry (to the
nanosecond of v2's ``expiration``), not a lease: the lease is picked (or
granted) when the key's batch is written, so that it ends within a second of
the v2 expiry (see :class:`_Leases`). A put with less than :data:`EXPIRING`
of its v2 time left when its batch goes is read again from v2: still there
with more time (its TTL was refreshed), it is written with a lease of its new
remaining time; gone, or about to go, it counts as expired and its v3 key is
deleted. A lease that runs out between its grant and the commit is forgotten
and the batch made again. Nothing of this stops a migration: expiring keys
are the normal case in v2.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..client import Client
from ..exceptions import EtcdKeyNotFound
from ..v2on3 import Layout
from ..v3 import Client as V3Client
from ..v3 import txn as T  # noqa: N812 (the documented spelling)
from ..v3.errors import EtcdLeaseNotFound
from ._model import MAX_OPS, MIN_LEASE, PIPELINE, Report, _dest_keys, _expiry, _Tree, progress_key

#: Re-reads of expired keys under way at once.
REREADS = 16
#: Seconds: a key with less than this left in v2 is not written (its v3 key is
#: deleted) and counts as expired. etcd's shortest lease (2 s) would outlive it
#: by more than a second; gone at once, it goes less than a second early.
EXPIRING = 1.0


class _Put:
    """A v2 key to write to v3: its v2 name, value, v2 ``modifiedIndex`` and expiry (wall clock, or None)."""

    __slots__ = ("key", "value", "index", "expires")

    def __init__(self, key: str, value: str, index: int, expires: float | None) -> None:
        self.key = key
        self.value = value
        self.index = index
        self.expires = expires


#: One write of a batch: the v3 key, and a ready operation (a nested transaction too) or a put
#: whose lease is chosen on writing.
Item = tuple[bytes, "T.Op | T.Txn | _Put"]


class _Leases:
    """Leases that end when the keys using them expire in v2, granted on first use and never renewed.

    etcd's TTLs are whole seconds and count from the moment etcd grants the
    lease, somewhere between the request and its answer: a lease granted at
    ``sent`` with ``n`` seconds ends in ``[sent + n, back + n]``. A lease is
    granted with the TTL that ends nearest the key's v2 expiry (off by at
    most half a second, plus the grant's round trip), and another key uses it
    only when *all* of that span is within :attr:`REUSE` of its own expiry
    and the lease has more than :attr:`MARGIN` seconds left (so it outlives
    the transaction). Leases are not shared by the calendar second: keys
    0.1 s and 0.9 s into a second would meet a lease a second away.
    """

    #: Seconds a known lease must still have to be used for another write.
    MARGIN = 1.0
    #: Seconds a lease's end may be from a key's v2 expiry for the key to share it.
    REUSE = 0.5

    def __init__(self, dest: V3Client, report: Report) -> None:
        self.dest = dest
        self.report = report
        #: (earliest end, latest end, lease id), by earliest end.
        self._ends: list[tuple[float, float, int]] = []
        self._lock = asyncio.Lock()
        #: etcd's shortest lease (2 s unless a grant answers more: long election timeouts).
        self.shortest = MIN_LEASE
        #: Seconds the last grant took (the lease started somewhere in them).
        self._round_trip = 0.0

    def _known(self, expires: float, now: float) -> int | None:
        ends = self._ends
        del ends[: bisect.bisect_left(ends, (now + self.MARGIN,))]  # too close to their end to be used
        best: tuple[float, int] | None = None
        at = bisect.bisect_left(ends, (expires - self.REUSE,))
        while at < len(ends) and ends[at][0] <= expires + self.REUSE:
            earliest, latest, lease = ends[at]
            off = max(expires - earliest, latest - expires)
            if off <= self.REUSE and (best is None or off < best[0]):
                best = (off, lease)
            at += 1
        return None if best is None else best[1]

    async def for_expiry(self, expires: float) -> int | None:
        """A lease that ends as near as etcd allows to ``expires`` (wall clock; at least 2 s from
        now), or None when less than :data:`EXPIRING` is left by the time it would be granted."""
        async with self._lock:
            known = self._known(expires, time.time())
            if known is not None:
                return known
            sent = time.time()
            if expires - sent < EXPIRING:
                return None  # the shortest lease would end more than a second late
            ttl = max(self.shortest, round(expires - sent - self._round_trip / 2))
            grant = await self.dest.grant(ttl)
            back = time.time()
            self._round_trip = back - sent
            self.report.leases_created += 1
            granted = grant.ttl or ttl
            if granted > ttl:  # the server's shortest lease is longer than asked
                self.shortest = max(self.shortest, granted)
            bisect.insort(self._ends, (sent + granted, back + granted, grant.id))
            return grant.id

    def forget(self, ids: Iterable[int]) -> None:
        """Never use these leases again (etcd said one of them is gone)."""
        gone = set(ids)
        self._ends = [end for end in self._ends if end[2] not in gone]


class _Writer:
    """Writes batches to v3 with revision guards, recording progress in the same transaction.

    :attr:`applied` holds the v2 ``modifiedIndex`` each key was last written
    (or deleted) at, so nothing older is ever written after it.
    """

    def __init__(
        self, source: Client, dest: V3Client, dest_prefix: str, prefix: str, overwrite: bool, report: Report
    ) -> None:
        self.source = source
        self.dest = dest
        self.dest_prefix = dest_prefix
        self.progress = progress_key(prefix, dest_prefix)
        self.overwrite = overwrite
        self.report = report
        self.leases = _Leases(dest, report)
        self.start_revision = 0
        #: Revision of this run's last write of each key (its guard).
        self.ours: dict[bytes, int] = {}
        self.conflicted: set[bytes] = set()
        self.baseline = 0
        #: v2 key -> the v2 index it was last written or deleted at.
        self.applied: dict[str, int] = {}
        #: v2 directories with a TTL (their keys expire with them).
        self.ttl_dirs: set[str] = set()
        #: Keep the directory markers Client(api="v3") keeps (``keep_empty_dirs``).
        self.keep_dirs = False
        self.layout = Layout(dest_prefix)

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

    def _guarded(self, key: bytes) -> bool:
        """A directory marker is no app's data: whoever wrote it, it may be written again."""
        return not key.endswith(b"/")

    async def apply(self, items: Sequence[Item], record: dict[str, Any]) -> None:
        """Write ``items`` (at most one per key) and the progress ``record`` in one transaction.

        Keys whose guard fails are left alone and listed as conflicts.
        """
        items = [(key, what) for key, what in items if key not in self.conflicted]
        while True:
            ops, leases, stale = await self._ops(items)
            if stale:  # their v2 time ran out before this batch went: ask v2 again
                fresh = await self._reread(stale)
                items = [(key, what) for key, what in items if key not in stale] + fresh
                continue
            record = {**record, "baseline": self.baseline}
            txn = self.dest.txn()
            if not self.overwrite:
                txn.if_(*(self._guard(key) for key, _ in items if self._guarded(key)))
            txn.then(*ops, T.put(self.progress, json.dumps(record)))
            try:
                result = await txn.commit()
            except EtcdLeaseNotFound:
                self.leases.forget(leases)  # ran out between grant and commit: choose again
                continue
            if result.succeeded:
                for key, what in items:
                    self.ours[key] = result.revision
                    if isinstance(what, _Put):
                        self.applied[what.key] = max(self.applied.get(what.key, 0), what.index)
                return
            # Find the keys changed by somebody else, leave them out, try again.
            lost = []
            for key, _ in items:
                if not self._guarded(key):
                    continue
                kv = await self.dest.get(key)
                if kv is not None and kv.mod_revision > self.ours.get(key, self.start_revision):
                    lost.append(key)
            for key in lost:
                self.conflicted.add(key)
                self.report.conflicts.append(key.decode("utf-8", "backslashreplace"))
            items = [(key, what) for key, what in items if key not in self.conflicted]

    async def _ops(self, items: Sequence[Item]) -> tuple[list[T.Op | T.Txn], list[int], dict[bytes, _Put]]:
        """The operations of ``items``, the leases they use, and the puts whose v2 time ran out."""
        ops: list[T.Op | T.Txn] = []
        leases: list[int] = []
        stale: dict[bytes, _Put] = {}
        for key, what in items:
            if not isinstance(what, _Put):
                ops.append(what)
            elif what.expires is None:
                ops.append(T.put(key, what.value))
            else:
                lease = None if what.expires - time.time() < EXPIRING else await self.leases.for_expiry(what.expires)
                if lease is None:
                    stale[key] = what
                else:
                    leases.append(lease)
                    ops.append(T.put(key, what.value, lease=lease))
        return ops, leases, stale

    async def _reread(self, stale: dict[bytes, _Put]) -> list[Item]:
        """Read expired puts again from v2: a fresh put where the key lives on, a delete where it is gone."""
        slots = asyncio.Semaphore(REREADS)

        async def again(key: bytes, put: _Put) -> Item:
            async with slots:
                fresh = await self.read_key(put.key)
            if fresh is None or (fresh.expires is not None and fresh.expires - time.time() < EXPIRING):
                self.report.expired += 1
                self.applied[put.key] = max(self.applied.get(put.key, 0), put.index)
                return key, T.delete(key)
            self.report.ttl_rereads += 1
            return key, fresh

        return list(await asyncio.gather(*(again(key, put) for key, put in stale.items())))

    async def read_key(self, key: str) -> _Put | None:
        """The v2 key now (expiring no later than its directories with a TTL), or None when it is gone.

        A key ending in ``/`` is an empty directory's marker: it lives as long as the directory.
        """
        marker = key.endswith("/")
        try:
            found = await self.source.read(key.rstrip("/") if marker else key)
        except EtcdKeyNotFound:
            return None
        if found.dir != marker:
            return None  # a key became a directory, or the other way round: the events say the rest
        now = time.time()
        expires = _expiry({"expiration": found.expiration, "ttl": found.ttl}, now)
        for directory in self.ttl_dirs:
            if key.startswith(directory.rstrip("/") + "/"):
                try:
                    parent = await self.source.read(directory)
                except EtcdKeyNotFound:
                    return None
                ends = _expiry({"expiration": parent.expiration, "ttl": parent.ttl}, now)
                if ends is not None:
                    expires = ends if expires is None else min(expires, ends)
        value = "" if marker else str(found.value if found.value is not None else "")
        return _Put(key, value, found.modifiedIndex or 0, expires)


def _batches(items: Iterable[Item]) -> Iterable[list[Item]]:
    """Groups of at most ``MAX_OPS - 1`` writes, order kept: never two on one key in a group,
    and a range delete alone (etcd refuses a transaction whose writes overlap)."""
    batch: list[Item] = []
    keys: set[bytes] = set()
    for key, what in items:
        ranged = isinstance(what, T.Op) and "range_end" in what.fields.get("request_delete_range", ())
        if batch and (len(batch) == MAX_OPS - 1 or key in keys or ranged):
            yield batch
            batch, keys = [], set()
        batch.append((key, what))
        keys.add(key)
        if ranged:
            yield batch
            batch, keys = [], set()
    if batch:
        yield batch


async def _copy(
    tree: _Tree,
    writer: _Writer,
    report: Report,
    keep_empty_dirs: bool,
    dry_run: bool,
    progress: Callable[[str, int, int], None] | None,
    prefix: str,
    reconcile: bool,
) -> None:
    report.dirs_dropped = [] if keep_empty_dirs else sorted(tree.empty_dirs)
    writer.keep_dirs = keep_empty_dirs
    total = len(tree.keys) + (len(tree.kept_dirs()) if keep_empty_dirs else 0)
    if dry_run:
        report.keys_copied = len(tree.keys)
        return
    writer.ttl_dirs.update(tree.dir_expiry)
    items: list[Item] = [
        (writer.dest_key(key), _Put(key, entry.value, entry.index, entry.expires)) for key, entry in tree.keys.items()
    ]
    if keep_empty_dirs:  # the markers Client(api="v3") keeps (aio_etcd.v2on3)
        for key in tree.kept_dirs():
            marker = key.rstrip("/") + "/"
            items.append((writer.dest_key(marker), _Put(marker, "", 0, tree.dir_expiry.get(key))))
    record = {"copying": tree.index}
    done = 0
    slots = asyncio.Semaphore(PIPELINE)

    async def write(batch: list[Item]) -> None:
        nonlocal done
        async with slots:
            await writer.apply(batch, record)
        done += len(batch)
        if progress is not None:
            progress("copy", done, total)

    expired_before = report.expired
    await asyncio.gather(*(write(batch) for batch in _batches(items)))
    report.keys_copied = len(items) - (report.expired - expired_before)
    if reconcile:  # an earlier run may have copied keys that left v2 since: remove them
        wanted = {key for key, _ in items}
        stale: list[Item] = []
        async for kv in _dest_keys(writer.dest, writer.dest_prefix, prefix, keys_only=True):
            if kv.key not in wanted and kv.create_revision >= writer.baseline:
                stale.append((kv.key, T.delete(kv.key)))
        for batch in _batches(stale):
            await writer.apply(batch, record)
        report.reconciled = len(stale)
    await writer.apply([], {"index": tree.index})
