"""Comparing the two sides: keys, values, and TTLs within 2 s; keys expiring meanwhile are counted apart."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Sequence

from ..client import Client
from ..exceptions import EtcdKeyNotFound
from ..v3 import Client as V3Client
from ..v3.results import KV
from ._model import MIN_LEASE, Difference, _dest_keys, _read_tree, _Tree

__all__ = ["Differences", "verify"]

#: Seconds two expiry times may differ and still match.
TTL_SLACK = 2.0
#: A key this close to its expiry (on either side) when compared may already
#: be gone on one side and not the other: it is expiring, not a difference.
EXPIRING = TTL_SLACK + 1.0


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


async def verify(
    source: Client, dest: V3Client, *, prefix: str = "/", dest_prefix: str = "", hidden: Sequence[str] = ()
) -> Differences:
    """Every difference between the v2 tree under ``prefix`` and its v3 copy (keys, values, TTLs within 2 s).

    A key whose TTL runs out while it is being compared (its v2 expiry, or its
    v3 lease, within a few seconds) is not a difference: such keys are counted
    in :attr:`Differences.expired`.
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
    lease_ends: dict[int, float] = {}  # lease -> when it expires (wall clock; -1: gone), asked once per lease

    async def lease_end(lease: int) -> float:
        if lease not in lease_ends:
            ttl = (await dest.time_to_live(lease)).ttl
            lease_ends[lease] = time.time() + ttl if ttl >= 0 else -1.0
        return lease_ends[lease]

    differences: list[Difference] = []
    missing = expired = 0
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
                differences.append(Difference(key, f"expires in {entry.expires - now:.0f}s in v2, never in v3"))
                continue
            ends = await lease_end(kv.lease)
            now = time.time()
            if ends < 0:
                if expiring or entry.expires - now <= EXPIRING:
                    expired += 1
                else:
                    differences.append(Difference(key, "its v3 lease is gone"))
                continue
            # etcd's shortest lease is 2 s: a v2 TTL below that is a match at the minimum
            at_minimum = entry.expires - now < MIN_LEASE and ends - now <= MIN_LEASE + 1
            if abs(ends - entry.expires) > TTL_SLACK and not at_minimum:
                differences.append(Difference(key, f"TTL {entry.expires - now:.0f}s in v2, {ends - now:.0f}s in v3"))
    # A directory's marker (aio_etcd.v2on3) is no difference while v2 has the directory.
    markers = {(dest_prefix + d.rstrip("/") + "/").encode() for d in tree.dirs}
    for dest_key, kv in sorted(seen.items()):
        if dest_key in markers:
            continue
        if kv.lease:
            ends = await lease_end(kv.lease)
            if ends < 0 or ends - time.time() <= EXPIRING:
                expired += 1  # gone from v2 already, its lease runs out in a moment
                continue
        differences.append(Difference(dest_key.decode("utf-8", "backslashreplace"), "only in v3"))
    return Differences(differences, v2_keys=len(tree.keys), missing=missing, expired=expired)
