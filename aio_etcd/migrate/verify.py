"""Comparing the two sides: keys, values, and each lease's end within 1 s of the v2 expiry;
keys expiring meanwhile are counted apart.

How a lease's end is measured: etcd's TimeToLive answers whole seconds,
truncated, so an answer ``n`` read between ``sent`` and ``back`` (wall clock)
only says the lease ends in ``[sent + n, back + n + 1)``: a second of doubt,
as much as the tolerance. Where that span does not settle a key (part of it
within the tolerance, part beyond), the lease is asked again at moments
chosen so that a whole-second boundary falls in the middle of what is still
unknown, which halves it each time, down to :data:`PRECISION`. The v2 side is
``expiration``, to its nanosecond, not the whole-second ``ttl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterable, Sequence

from ..client import Client
from ..exceptions import EtcdKeyNotFound
from ..v3 import Client as V3Client
from ..v3.results import KV
from ._model import Difference, _dest_keys, _read_tree, _Tree

__all__ = ["Differences", "verify"]

#: Seconds a v3 lease's end may be from the v2 expiry of a key it holds and still match.
TOLERANCE = 1.0
#: A key this close to its expiry (on either side) when compared may already
#: be gone on one side and not the other: it is expiring, not a difference.
EXPIRING = TOLERANCE + 1.0
#: Seconds to which a lease's end is narrowed down when the first answer leaves it in doubt.
PRECISION = 0.05
#: TimeToLive requests under way at once.
ASKING = 16


class Differences(list[Difference]):
    """What :func:`verify` found: the differences (this list itself) and what it compared."""

    def __init__(self, found: Iterable[Difference] = (), *, v2_keys: int = 0, missing: int = 0, expired: int = 0):
        super().__init__(found)
        #: Keys in the v2 tree.
        self.v2_keys = v2_keys
        #: Of these, how many were missing in v3 (counted among the differences).
        self.missing = missing
        #: Keys that expired on one side while they were compared (not differences).
        self.expired = expired


class _LeaseEnds:
    """When leases end (wall clock), each as a span ``(earliest, latest)`` that narrows when asked again."""

    def __init__(self, dest: V3Client) -> None:
        self.dest = dest
        #: lease -> (earliest, latest) end; None once it is gone.
        self.spans: dict[int, tuple[float, float] | None] = {}
        self._slots = asyncio.Semaphore(ASKING)

    async def _ask(self, lease: int) -> None:
        async with self._slots:
            sent = time.time()
            ttl = (await self.dest.time_to_live(lease)).ttl
            back = time.time()
        if ttl < 0:
            self.spans[lease] = None
            return
        # etcd truncates toward zero, and a lease lives on until its revocation (up to half a second
        # and a raft round after its end): 0 is anything from a second ago to a second ahead.
        earliest, latest = (sent + ttl, back + ttl + 1) if ttl > 0 else (sent - 1, back + 1)
        span = self.spans.get(lease)
        if span is not None and max(span[0], earliest) < min(span[1], latest):
            earliest, latest = max(span[0], earliest), min(span[1], latest)  # both answers hold
        # (else the first answer, or the lease was kept alive since: the new one alone)
        self.spans[lease] = (earliest, latest)

    async def read(self, leases: Iterable[int]) -> None:
        """Ask each lease not known yet once."""
        await asyncio.gather(*(self._ask(lease) for lease in set(leases) if lease not in self.spans))

    async def narrow(self, lease: int, expiries: Sequence[float]) -> None:
        """Ask ``lease`` again until it surely ends within the tolerance of each of the v2
        ``expiries`` of its keys, or its span is :data:`PRECISION` wide (so that a
        difference is reported with the figure measured, not a second's doubt).

        Each time at the moment ``middle - k`` (``k`` whole seconds): an answer
        of ``k`` or more puts the end after ``middle``, less puts it before.
        """
        while True:
            span = self.spans.get(lease)
            if span is None or span[1] - span[0] <= PRECISION or all(_within(span, e) for e in expiries):
                return
            middle = (span[0] + span[1]) / 2
            whole = math.floor(middle - time.time() - 0.02)
            if whole < 0:  # ends within a second: too late to time a question
                return
            await asyncio.sleep(max(0.0, middle - whole - time.time()))  # waits for a moment on the clock
            await self._ask(lease)


def _beyond(span: tuple[float, float], expires: float) -> bool:
    """The lease surely ends more than :data:`TOLERANCE` from ``expires``, early or late."""
    return span[0] - expires > TOLERANCE or expires - span[1] > TOLERANCE


def _within(span: tuple[float, float], expires: float) -> bool:
    """The lease surely ends within :data:`TOLERANCE` of ``expires``."""
    return span[1] - expires <= TOLERANCE and expires - span[0] <= TOLERANCE


async def verify(
    source: Client, dest: V3Client, *, prefix: str = "/", dest_prefix: str = "", hidden: Sequence[str] = ()
) -> Differences:
    """Every difference between the v2 tree under ``prefix`` and its v3 copy: missing or extra
    keys, values, and leases ending more than :data:`TOLERANCE` (1 s) from the v2 ``expiration``.

    A key whose TTL runs out while it is being compared (its v2 expiry, or its
    v3 lease, within :data:`EXPIRING` seconds) is not a difference: such keys
    are counted in :attr:`Differences.expired`. See the module doc for how a
    lease's end is measured.
    """
    tree = _Tree()
    await _read_tree(source, prefix, tree, required=False)
    for key in hidden:
        with contextlib.suppress(EtcdKeyNotFound):
            await _read_tree(source, key, tree)
    seen: dict[bytes, KV] = {}
    for root in (prefix, *hidden):
        async for kv in _dest_keys(dest, dest_prefix, root):
            seen[kv.key] = kv
    ends = _LeaseEnds(dest)
    differences: list[Difference] = []
    missing = expired = 0
    timed: list[tuple[str, float, int]] = []  # (v2 key, v2 expiry, v3 lease): compared below
    for key, entry in sorted(tree.keys.items()):
        dest_key = (dest_prefix + key).encode()
        now = time.time()
        expiring = entry.expires is not None and entry.expires - now <= EXPIRING
        if dest_key not in seen:
            if expiring:
                expired += 1
            else:
                missing += 1
                differences.append(Difference(key, "missing in v3"))
            continue
        kv = seen.pop(dest_key)
        if kv.value != entry.value.encode():
            differences.append(Difference(key, f"v2 has {entry.value[:40]!r}, v3 has {kv.value[:40]!r}"))
        if entry.expires is None and kv.lease:
            differences.append(Difference(key, "no TTL in v2, a lease in v3"))
        elif entry.expires is not None:
            if not kv.lease:
                differences.append(Difference(key, f"expires in {entry.expires - now:.1f}s in v2, never in v3"))
            else:
                timed.append((key, entry.expires, kv.lease))
    await ends.read(lease for _, _, lease in timed)

    by_lease: dict[int, list[float]] = {}
    for _, expires, lease in timed:
        by_lease.setdefault(lease, []).append(expires)
    await asyncio.gather(*(ends.narrow(lease, expiries) for lease, expiries in by_lease.items()))
    for key, expires, lease in timed:
        span = ends.spans[lease]
        now = time.time()
        if span is None:
            if expires - now <= EXPIRING:
                expired += 1  # ran out on both sides, or is about to in v2
            else:
                differences.append(Difference(key, f"its v3 lease is gone, {expires - now:.1f}s left in v2"))
        elif not _beyond(span, expires):
            if expires <= now:
                expired += 1  # v2 has let it go meanwhile, and its lease ends with it
        else:
            off = (span[0] + span[1]) / 2 - expires
            differences.append(
                Difference(
                    key,
                    f"its v3 lease ends {abs(off):.1f}s {'after' if off > 0 else 'before'} its v2 expiry "
                    f"({expires - now:.1f}s left in v2, {span[0] - now:.1f}-{span[1] - now:.1f}s in v3)",
                )
            )
    # A directory's marker (aio_etcd.v2on3) is no difference while v2 has the directory.
    markers = {(dest_prefix + d.rstrip("/") + "/").encode() for d in tree.dirs}
    extra = [(dest_key, kv) for dest_key, kv in sorted(seen.items()) if dest_key not in markers]
    await ends.read(kv.lease for _, kv in extra if kv.lease)
    for dest_key, kv in extra:
        if kv.lease:
            span = ends.spans[kv.lease]
            if span is None or span[1] - time.time() <= EXPIRING:
                expired += 1  # gone from v2 already, its lease runs out in a moment
                continue
        differences.append(Difference(dest_key.decode("utf-8", "backslashreplace"), "only in v3"))
    return Differences(differences, v2_keys=len(tree.keys), missing=missing, expired=expired)
