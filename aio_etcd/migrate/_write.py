"""Writing to v3: leases per second of expiry, guarded batches with the progress record, the copy."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..v3 import Client as V3Client
from ..v3 import txn as T  # noqa: N812 (the documented spelling)
from ._model import MAX_OPS, MIN_LEASE, PIPELINE, Report, _dest_keys, _Tree, progress_key


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


