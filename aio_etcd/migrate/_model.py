"""What a migration reads and reports: the v2 tree, the progress key, the report."""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from .._v2.keys import key_path
from ..client import Client
from ..exceptions import EtcdKeyNotFound
from ..v2on3._layout import parent
from ..v3 import Client as V3Client
from ..v3.results import KV

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


#: What every report says about hidden keys.
HIDDEN_NOTE = (
    "v2 keys whose name starts with '_' are hidden: recursive reads and live watches never show them, "
    "so only those named with hidden= (--hidden) were copied; others cannot be seen"
)


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
    #: Keys whose v2 TTL ran out (or had less than a second left) before they were
    #: written (read again from v2: gone or going): not written, deleted in v3.
    expired: int = 0
    #: Keys whose v2 TTL had run out by their write but that v2 still held
    #: (refreshed): written with a lease of their new remaining time.
    ttl_rereads: int = 0
    changes_followed: int = 0
    ttl_moves: int = 0
    reconciled: int = 0
    #: Seconds spent reading v2 again after the follow stream lost its place in v2's history.
    reread_seconds: float = 0.0
    snapshot_index: int = 0
    last_index: int = 0
    resumed_from: int | None = None
    differences: list[Difference] | None = None
    #: Keys that expired in v2 or v3 while verify compared them: not differences.
    expired_while_verifying: int = 0
    dry_run: bool = False
    duration: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["hidden_note"] = HIDDEN_NOTE
        out["differences"] = None if self.differences is None else [str(d) for d in self.differences]
        out["duration"] = round(self.duration, 3)
        out["reread_seconds"] = round(self.reread_seconds, 3)
        return out


class _Entry:
    """A v2 key to have in v3: value, v2 modifiedIndex, and when it expires (wall clock, or None)."""

    __slots__ = ("value", "index", "expires")

    def __init__(self, value: str, index: int, expires: float | None) -> None:
        self.value = value
        self.index = index
        self.expires = expires


_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)")


def parse_expiration(stamp: str) -> float | None:
    """v2's ``expiration`` (RFC 3339 with up to nine digits of a second, as Go writes it) as a
    wall-clock time, to the digit; None when it is no such time.

    ``datetime.fromisoformat`` alone is not enough: Python 3.10 reads only
    three or six digits after the point (etcd writes one to nine), and no
    version keeps more than six.
    """
    match = _STAMP.fullmatch(stamp.strip())
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    try:
        seconds = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone)).timestamp()
    except ValueError:
        return None
    return seconds + (float(fraction) if fraction else 0.0)


def _expiry(node: dict[str, Any], now: float) -> float | None:
    """When a node expires (wall clock), from its ``expiration`` (or its whole-second ``ttl``)."""
    stamp = node.get("expiration")
    if stamp:
        expires = parse_expiration(str(stamp))
        if expires is not None:
            return expires
    ttl = node.get("ttl")
    return now + float(ttl) if ttl else None


class _Tree:
    """A v2 subtree read at one index: its keys, its empty directories, directories with a TTL."""

    def __init__(self) -> None:
        self.keys: dict[str, _Entry] = {}
        self.empty_dirs: list[str] = []
        self.dir_expiry: dict[str, float] = {}
        #: Every directory (the root left out).
        self.dirs: set[str] = set()
        self.index = 0

    def kept_dirs(self) -> list[str]:
        """The directories a :class:`~aio_etcd.Client` with ``api="v3"`` keeps a marker for:
        empty ones, ones with a TTL, and those holding keys with a TTL (so they outlive them)."""
        kept = set(self.empty_dirs) | set(self.dir_expiry)
        kept.update(parent(key) for key, entry in self.keys.items() if entry.expires is not None)
        kept.discard("/")
        return sorted(kept)

    def add(self, node: dict[str, Any], now: float, inherited: float | None = None) -> None:
        expires = _expiry(node, now)
        if inherited is not None:
            expires = inherited if expires is None else min(expires, inherited)
        key = str(node.get("key", "/"))
        if node.get("dir"):
            if key != "/":
                self.dirs.add(key)
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
    path = source.key_endpoint + key_path(key)
    resp = await source.api_execute(
        path, "GET", {"recursive": "true", "sorted": "false"}, timeout=math.inf, raise_for_status=False
    )
    if resp.status == 404 and not required and (resp.json_object() or {}).get("errorCode") == 100:
        return  # no such key: nothing to copy (a bare 404 is a server without v2, raised below)
    await source.raise_for_answer(resp)
    body = resp.json()
    tree.index = max(tree.index, resp.header_int("X-Etcd-Index") or 0)
    tree.add(body["node"], time.time())


async def _dest_keys(dest: V3Client, dest_prefix: str, prefix: str, *, keys_only: bool = False) -> AsyncIterator[KV]:
    """The v3 keys a v2 subtree maps to: the key itself and everything under ``key/``."""
    root = (dest_prefix + prefix.rstrip("/")).encode()
    if prefix.rstrip("/"):
        kv = await dest.get(root)
        if kv is not None:
            yield kv
    async for kv in dest.scan(root + b"/", prefix=True, keys_only=keys_only, page=5000):
        yield kv


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


