"""Comparing the two sides: keys, values, and TTLs within 2 s."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

from ..client import Client
from ..exceptions import EtcdKeyNotFound
from ..v3 import Client as V3Client
from ..v3.results import KV
from ._model import MIN_LEASE, Difference, _dest_keys, _read_tree, _Tree

__all__ = ["verify"]


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
    lease_ends: dict[int, float] = {}  # lease -> when it expires (wall clock), asked once per lease
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
            if kv.lease not in lease_ends:
                ttl = (await dest.time_to_live(kv.lease)).ttl
                lease_ends[kv.lease] = time.time() + ttl if ttl >= 0 else -1.0
            ends = lease_ends[kv.lease]
            if ends < 0:
                differences.append(Difference(key, "its v3 lease is gone"))
                continue
            now = time.time()
            # etcd's shortest lease is 2 s: a v2 TTL below that is a match at the minimum
            at_minimum = entry.expires - now < MIN_LEASE and ends - now <= MIN_LEASE + 1
            if abs(ends - entry.expires) > 2.0 and not at_minimum:
                differences.append(Difference(key, f"TTL {entry.expires - now:.0f}s in v2, {ends - now:.0f}s in v3"))
    markers = {(dest_prefix + d.rstrip("/") + "/").encode() for d in tree.empty_dirs}
    for dest_key in sorted(seen):
        if dest_key in markers:
            continue
        differences.append(Difference(dest_key.decode("utf-8", "backslashreplace"), "only in v3"))
    return differences

