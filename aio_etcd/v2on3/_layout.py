"""The v3 layout of a v2 key space: names, ranges, nodes built from v3 keys, v2 errors."""

from __future__ import annotations

import binascii
import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from .._keypath import check_prefix, v2_key
from ..exceptions import EtcdError, EtcdException
from ..v3 import txn as T  # noqa: N812 (the documented spelling)

__all__ = ["Layout", "NodeTTL", "empty", "error", "keep_parent", "mark_parent", "v2_key"]

#: v2's words for its error codes, as its answers carry them.
MESSAGES = {
    100: "Key not found",
    101: "Compare failed",
    102: "Not a file",
    104: "Not a directory",
    105: "Key already exists",
    107: "Root is read only",
    108: "Directory not empty",
    201: "PrevValue is Required in POST form",
    401: "The event in requested index is outdated and cleared",
}
_STATUS = {100: 404, 101: 412, 102: 403, 105: 412, 108: 403}
a2b = binascii.a2b_base64


def error(code: int, cause: str, index: int) -> EtcdException:
    """The exception a v2 server answers for ``code``, with its payload."""
    payload = {"errorCode": code, "message": MESSAGES[code], "cause": cause, "index": index}
    return EtcdError.exception_for(payload, _STATUS.get(code, 400))


def hidden(rest: str) -> bool:
    """Whether a path (below the directory listed or watched) has a hidden segment: one starting with ``_``."""
    return rest.startswith("_") or "/_" in rest


def parent(key: str) -> str:
    """The directory holding ``key`` (``"/"`` for a top-level key)."""
    return key.rsplit("/", 1)[0] or "/"


def ancestors(key: str) -> list[str]:
    """The directories above ``key``, outermost first, the root left out."""
    parts = key.split("/")[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def unb64(text: str | None) -> bytes:
    return a2b(text) if text else b""


def _int(raw: Any) -> int:
    return int(raw) if raw else 0


class NodeTTL:
    """What a lease says of a node's TTL: seconds left, and when it ends."""

    __slots__ = ("ttl", "expiration")

    def __init__(self, ttl: int, now: datetime.datetime) -> None:
        self.ttl = ttl
        ends = now + datetime.timedelta(seconds=ttl)
        self.expiration = ends.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Layout:
    """Where a v2 key space lives in v3 (see :mod:`aio_etcd.v2on3`).

    :param prefix: put before every key (``""``: the v2 key ``/a/b`` is the v3 key ``/a/b``).
    """

    def __init__(self, prefix: str = "") -> None:
        self.prefix = check_prefix(prefix).encode()
        self._cut = len(self.prefix)
        #: The action record: written (with the v2 action as value) by every write whose
        #: action is not ``set`` or ``delete``, at that write's revision, so that a watch
        #: can tell ``create``, ``update``, ``compareAndSwap``, ``compareAndDelete``
        #: (and ``set`` with a TTL, ``delete``, ``delete <directory>``: see :mod:`aio_etcd.v2on3`).
        self.action = self.prefix + b"!aio_etcd/action"

    def file(self, key: str) -> bytes:
        """The v3 key holding the v2 key ``key``."""
        return self.prefix + key.encode()

    def marker(self, key: str) -> bytes:
        """The v3 key that keeps the v2 directory ``key`` while it is empty."""
        return self.prefix + key.encode() + b"/"

    def below(self, key: str) -> tuple[bytes, bytes]:
        """``[start, end)`` of every v3 key inside the directory ``key`` (its marker first)."""
        start = self.prefix + (b"/" if key == "/" else key.encode() + b"/")
        return start, start[:-1] + b"0"

    def name(self, raw: bytes) -> str:
        """The v2 name of the v3 key ``raw`` (a marker keeps its trailing ``/``)."""
        return raw[self._cut :].decode("utf-8", "surrogateescape")

    # -- nodes -------------------------------------------------------------------------

    def file_node(
        self, kv: Mapping[str, Any], ttls: Mapping[int, NodeTTL], name: str | None = None
    ) -> dict[str, Any]:
        """The v2 node of a v3 key-value (as the gateway's JSON has it); ``name`` if already decoded."""
        node: dict[str, Any] = {
            "key": self.name(unb64(kv.get("key"))) if name is None else name,
            "value": unb64(kv.get("value")).decode("utf-8", "surrogateescape"),
            "modifiedIndex": _int(kv.get("mod_revision")),
            "createdIndex": _int(kv.get("create_revision")),
        }
        if "lease" in kv:
            _add_ttl(node, kv, ttls)
        return node

    def dir_node(self, key: str, marker: Mapping[str, Any] | None, ttls: Mapping[int, NodeTTL]) -> dict[str, Any]:
        node: dict[str, Any] = {"key": key, "dir": True}
        if marker is not None:
            node["modifiedIndex"] = node["createdIndex"] = _int(marker.get("create_revision"))
            _add_ttl(node, marker, ttls)
        return node

    def tree(
        self, key: str, kvs: Iterable[Mapping[str, Any]], recursive: bool, ttls: Mapping[int, NodeTTL]
    ) -> dict[str, Any]:
        """The v2 directory node ``key`` from the v3 keys inside it.

        Names starting with ``_`` are hidden, with everything under them. A
        directory without a marker takes its indexes from the oldest key in
        it. Without ``recursive``, sub-directories come without their contents.
        Children are in key order.
        """
        base = "" if key == "/" else key
        root: dict[str, Any] = {"dir": True} if key == "/" else {"key": key, "dir": True}
        root["nodes"] = []
        dirs: dict[str, dict[str, Any]] = {base: root}
        marked: set[str] = set()  # directories whose indexes come from their marker
        cut = self._cut
        inside = len(base) + 1
        for kv in kvs:
            name = a2b(kv["key"])[cut:].decode("utf-8", "surrogateescape")
            is_marker = name.endswith("/")
            rest = name[inside:-1] if is_marker else name[inside:]
            if not rest:  # the directory's own marker
                if key != "/":
                    root.update(self.dir_node(key, kv, ttls))
                    marked.add(base)
                continue
            if hidden(rest):
                continue
            if not recursive and "/" in rest:  # deeper down: only the child directory shows
                self._directory(dirs, name[: inside + rest.index("/")])
                continue
            if is_marker:
                path = name[:-1]
                self._directory(dirs, path).update(self.dir_node(path, kv, ttls))
                marked.add(path)
                continue
            above = name.rpartition("/")[0]
            holder = dirs.get(above) or self._directory(dirs, above)
            holder["nodes"].append(self.file_node(kv, ttls, name))
        for directory in dirs.values():
            if directory["nodes"]:
                directory["nodes"].sort(key=_by_key)
            else:
                del directory["nodes"]
        if key != "/":
            _index_unmarked(root, marked, base)
        return root

    @staticmethod
    def _directory(dirs: dict[str, dict[str, Any]], path: str) -> dict[str, Any]:
        """The node of the directory ``path``, made (with its parents) on first sight."""
        node = dirs.get(path)
        if node is None:
            node = dirs[path] = {"key": path, "dir": True, "nodes": []}
            holder = dirs.get(path.rpartition("/")[0])
            if holder is None:
                holder = Layout._directory(dirs, path.rpartition("/")[0])
            holder["nodes"].append(node)
        return node


def _by_key(node: dict[str, Any]) -> str:
    return str(node.get("key", ""))


def _add_ttl(node: dict[str, Any], kv: Mapping[str, Any], ttls: Mapping[int, NodeTTL]) -> None:
    lease = _int(kv.get("lease"))
    if lease:
        ttl = ttls.get(lease)
        if ttl is not None:
            node["expiration"] = ttl.expiration
            node["ttl"] = ttl.ttl


def _index_unmarked(node: dict[str, Any], marked: set[str], path: str) -> int:
    """Give each directory without a marker the indexes of the oldest node in it; the oldest index."""
    oldest = [
        _index_unmarked(child, marked, child["key"]) if child.get("dir") else int(child["createdIndex"])
        for child in node.get("nodes", ())
    ]
    if path in marked or ("createdIndex" in node and not oldest):
        return int(node.get("createdIndex", 0))
    if oldest:
        node["modifiedIndex"] = node["createdIndex"] = min(oldest)
        return min(oldest)
    return int(node.get("createdIndex", 0))


def empty(start: bytes, end: bytes) -> T.Compare:
    """True when nothing is stored in ``[start, end)`` (an empty range compares as a version-0 key)."""
    return T.version(start, range_end=end) == 0


def keep_parent(layout: Layout, name: str) -> T.Txn | None:
    """A nested transaction that leaves a marker in ``name``'s directory if it would be empty
    without ``name`` (v2 keeps emptied directories; v3 has only keys).

    It must come after the change of ``name`` in its transaction, so that a
    watch sees that change first at this revision.
    """
    above = parent(name)
    if above == "/":
        return None
    start, end = layout.below(above)
    own = layout.file(name)
    inside, inside_end = layout.below(name)
    return (
        T.txn()
        .if_(empty(start, own), empty(own + b"\0", inside), empty(inside_end, end))
        .then(T.put(layout.marker(above), b""))
    )


def mark_parent(layout: Layout, name: str) -> T.Txn | None:
    """A nested transaction that gives ``name``'s directory a marker if it has none
    (a key with a TTL: its directory must outlive it). After the change of ``name``."""
    above = parent(name)
    if above == "/":
        return None
    marker = layout.marker(above)
    return T.txn().if_(T.version(marker) == 0).then(T.put(marker, b""))


def leases_of(kvs: Iterable[Mapping[str, Any]]) -> set[int]:
    """The leases the key-values are attached to."""
    return {int(kv["lease"]) for kv in kvs if kv.get("lease")}
