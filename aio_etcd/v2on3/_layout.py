"""The v3 layout of a v2 key space: names, ranges, nodes built from v3 keys, v2 errors."""

from __future__ import annotations

import binascii
import bisect
import datetime
import itertools
import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._keypath import check_prefix, v2_key
from ..exceptions import EtcdError, EtcdException
from ..v3 import txn as T  # noqa: N812 (the documented spelling)

__all__ = ["Layout", "NodeTTL", "add_ttls", "empty", "error", "keep_parent", "mark_parent", "v2_key"]

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
b2a = binascii.b2a_base64


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

    def view_node(self, kv: Any, ttls: Mapping[int, NodeTTL], name: str) -> dict[str, Any]:
        """:meth:`file_node` of a key read as etcd's message or a :class:`aio_etcd.v3.KV` view."""
        node: dict[str, Any] = {
            "key": name,
            "value": kv.value.decode("utf-8", "surrogateescape"),
            "modifiedIndex": kv.mod_revision,
            "createdIndex": kv.create_revision,
        }
        if kv.lease:
            _lease_ttl(node, kv.lease, ttls)
        return node

    def dir_node(self, key: str, marker: Mapping[str, Any] | None, ttls: Mapping[int, NodeTTL]) -> dict[str, Any]:
        node: dict[str, Any] = {"key": key, "dir": True}
        if marker is not None:
            _mark_dir(node, _int(marker.get("create_revision")), _int(marker.get("lease")), ttls)
        return node

    def tree(
        self,
        key: str,
        kvs: Sequence[Any],
        ttls: Mapping[int, NodeTTL],
        *,
        views: bool = False,
        leased: list[tuple[dict[str, Any], int]] | None = None,
    ) -> dict[str, Any]:
        """The v2 directory node ``key`` with everything below it, from the v3 keys inside it (in key order):
        the gateway's key-values, or (``views``) :class:`aio_etcd.v3.KV` views, those of a
        range over gRPC above all (its bytes and integers as they are, nothing to decode).
        With ``leased``, the nodes on a lease are put there with it instead of taking
        ``ttls`` (see :func:`add_ttls`): their leases are looked up after.
        ``kvs`` is gone over once, once more when some keys are on a lease, and once
        more from the start when a name or value is not UTF-8 (see :meth:`_nodes`).

        A name starting with ``_`` is hidden, with everything under it; the
        directories above it show (as in v2, a directory holding only hidden
        keys is listed, without children). A directory without a marker takes
        its indexes from the oldest key below it. Children are in key order.
        """
        nodes, lease_at = self._nodes(kvs, views)
        names: list[str] = list(map(_BY_KEY, nodes))
        base = "" if key == "/" else key
        root: dict[str, Any] = {"dir": True} if key == "/" else {"key": key, "dir": True}
        none = 1 << 63
        dirs: dict[str, dict[str, Any]] = {base: root}  # every directory's node, parents first
        lists: dict[str, list[dict[str, Any]]] = {base: []}  # its children
        low: dict[str, int] = {base: none}  # the oldest create revision below it
        marked: dict[str, tuple[int, int]] = {}  # a directory's marker: its create revision, its lease
        in_order: set[str] = set()  # directories whose children were taken at once, in key order
        inside = len(base) + 1
        # The keys right in a directory, when nothing else is among them, are taken
        # at once, found by bisection: where the names sort as the v3 keys do (ASCII).
        whole = "".join(names).isascii()
        # The directory the last key was in: its names start with ``at`` (one
        # key after another in it costs no path splitting).
        at = ""
        at_len = 0
        at_path = base
        at_list = lists[base]
        at_low = none  # the oldest create revision met there since (written to low when it changes)
        walk = enumerate(nodes)
        for i, node in walk:
            name = names[i]
            # A visible key right in the directory of the last one.
            if (
                at_len
                and name.startswith(at)
                and len(name) > at_len
                and name[at_len] != "_"
                and name.find("/", at_len) < 0
            ):
                if lease_at:
                    self._leased(node, lease_at.get(i, 0), ttls, leased)
                at_list.append(node)
                created = node["createdIndex"]
                if created < at_low:
                    at_low = created
                continue
            if at_low < low[at_path]:
                low[at_path] = at_low
            at_len = 0
            created = node["createdIndex"]
            is_marker = name[-1:] == "/"
            rest = name[inside:-1] if is_marker else name[inside:]
            if created < low[base]:
                low[base] = created
            if not rest:  # the directory's own marker
                if key != "/":
                    marked[base] = (created, lease_at.get(i, 0))
                continue
            parts = rest.split("/")
            last = len(parts) - 1
            path = base
            for depth, part in enumerate(parts):
                if part[:1] == "_" or (depth == last and not is_marker):
                    break
                above, path = path, path + "/" + part
                if path in dirs:
                    if created < low[path]:
                        low[path] = created
                else:
                    dirs[path] = {"key": path, "dir": True}
                    lists[above].append(dirs[path])
                    lists[path] = []
                    low[path] = created
            else:  # a marker, nothing hidden on the way
                marked[path] = (created, lease_at.get(i, 0))
                continue
            if depth < last or part[:1] == "_":
                continue  # hidden
            if lease_at:
                self._leased(node, lease_at.get(i, 0), ttls, leased)
            at_list = lists[path]
            at_list.append(node)
            at_path = path
            at_low = low[path]
            at = name[: name.rindex("/") + 1]
            at_len = len(at)
            if whole and len(at_list) == 1:  # the first key met in its directory: the others with it at once?
                start = i + 1
                end = bisect.bisect_left(names, at[:-1] + "0", start)  # past every name starting with ``at``
                if end > start:
                    text = "\n".join(names[start:end])
                    hidden = at + "_"
                    if (
                        text.count("/") == (end - start) * at.count("/")  # no deeper name (nor marker)
                        and not text.startswith(hidden)
                        and "\n" + hidden not in text
                    ):
                        run = nodes[start:end]
                        at_list.extend(run)
                        in_order.add(path)  # nothing else is in it: its keys were all among them
                        oldest = min(map(_CREATED, run))
                        if oldest < at_low:
                            at_low = oldest
                        if lease_at:
                            for number, leaf in enumerate(run, start):
                                self._leased(leaf, lease_at.get(number, 0), ttls, leased)
                        next(itertools.islice(walk, end - start, end - start), None)  # go on after them
        if at_low < low[at_path]:
            low[at_path] = at_low
        for path in reversed(dirs):  # children before their parents
            node = dirs[path]
            children = lists[path]
            if children:
                if len(children) > 1 and path not in in_order:
                    children.sort(key=_BY_KEY)
                node["nodes"] = children
            oldest = low[path]
            if path != base:
                above = path.rpartition("/")[0]
                if oldest < low[above]:
                    low[above] = oldest
            marker = marked.get(path)
            if marker is not None:
                created, lease = marker
                _mark_dir(node, created, lease, ttls)
                if lease and leased is not None:
                    leased.append((node, lease))
            elif oldest != none and (path or key != "/"):
                node["modifiedIndex"] = node["createdIndex"] = oldest
        return root

    def _nodes(self, kvs: Sequence[Any], views: bool) -> tuple[list[dict[str, Any]], dict[int, int]]:
        """A file node for each key-value (markers and hidden keys too), and the leases of those on one by position."""
        cut = self._cut
        on_lease: list[Any] = []
        note = on_lease.append  # None: a key on a lease is noted and kept
        if views:
            try:
                # Names and values in UTF-8, as they nearly always are: the codec's fast
                # path (no error handler to pass: a third of a decode), no slice without a prefix.
                nodes = [
                    {
                        "key": (kv.key[cut:] if cut else kv.key).decode(),
                        "value": kv.value.decode(),
                        "modifiedIndex": kv.mod_revision,
                        "createdIndex": kv.create_revision,
                    }
                    for kv in kvs
                    if not kv.lease or not note(kv)
                ]
            except UnicodeDecodeError:
                on_lease.clear()
                nodes = [
                    {
                        "key": kv.key[cut:].decode("utf-8", "surrogateescape"),
                        "value": kv.value.decode("utf-8", "surrogateescape"),
                        "modifiedIndex": kv.mod_revision,
                        "createdIndex": kv.create_revision,
                    }
                    for kv in kvs
                    if not kv.lease or not note(kv)
                ]
            if not on_lease:
                return nodes, {}
            return nodes, {number: kv.lease for number, kv in enumerate(kvs) if kv.lease}
        nodes = [
            {
                "key": a2b(kv["key"])[cut:].decode("utf-8", "surrogateescape"),
                "value": a2b(kv.get("value") or "").decode("utf-8", "surrogateescape"),
                "modifiedIndex": int(kv["mod_revision"]),
                "createdIndex": int(kv["create_revision"]),
            }
            for kv in kvs
            if "lease" not in kv or not note(kv)
        ]
        if not on_lease:
            return nodes, {}
        return nodes, {number: lease for number, kv in enumerate(kvs) if (lease := _int(kv.get("lease")))}

    @staticmethod
    def _leased(
        node: dict[str, Any], lease: int, ttls: Mapping[int, NodeTTL], leased: list[tuple[dict[str, Any], int]] | None
    ) -> None:
        """A node on ``lease`` (0: none) takes its TTL from ``ttls``, or is put in ``leased`` with it."""
        if lease:
            if leased is None:
                _lease_ttl(node, lease, ttls)
            else:
                leased.append((node, lease))


class Listing:
    """The children of the directory ``key`` (a non-recursive read), gathered from ranges over its
    keys, at one revision, that pass over the contents of its sub-directories.

    The layout keeps a directory's keys together (``[key/, key0)``) but does
    not tell a child from a grandchild by its position: each range
    (:meth:`add`) reads from :attr:`cursor` up to :attr:`limit` keys. Where
    sub-directories are large (:attr:`hop`: on average at least
    ``hop_keys`` keys each, as the ranges' counts tell), a range that stops
    inside one is followed by one past it, with a short limit (longer after
    each range that did not stop inside one): the listing reads the
    children, and at most a range's worth of each sub-directory.
    Where they are small, reading them is cheaper than a request each: the
    ranges read on, keys only (the values of the keys found then read
    after, :attr:`runs`), and pass over only a sub-directory that fills a
    whole range. What a range passed over is asked for afterwards: the
    oldest key of each visible sub-directory without a marker (its
    indexes, :meth:`take_wanted`), and for the directory's own indexes, when
    it has no marker, that of the others (:meth:`oldest_wanted`).

    :param batch: the limit of the first range, and the most a range reads.
    :param peek: the limit after passing over a sub-directory while reading on.
    :param step: the limit after passing over a sub-directory in :attr:`hop` mode.
    :param hop_keys: from how many keys per sub-directory passing over each is cheaper.
    """

    def __init__(
        self, layout: Layout, key: str, *, batch: int = 1000, peek: int = 64, step: int = 16, hop_keys: int = 64
    ) -> None:
        self.layout = layout
        self.key = key
        self.base = "" if key == "/" else key
        self._inside = len(self.base) + 1
        self.start, self.end = layout.below(key)
        self.batch, self.peek, self.step, self.hop_keys = batch, peek, step, hop_keys
        #: Where the next range starts (``None``: all was read), how many keys it reads at most,
        #: and whether with their values.
        self.cursor: bytes | None = self.start
        self.limit = batch
        self.values = True
        #: Pass over every sub-directory a range stops in (see above).
        self.hop = True
        #: Ranges read so far.
        self.ranges = 0
        #: Anything in the directory at all.
        self.found = False
        #: The directory's own marker.
        self.marker: Mapping[str, Any] | None = None
        #: The oldest create revision read.
        self.oldest = 0
        #: Visible keys: name -> key-value (without its value when read with keys_only).
        self.files: dict[str, Mapping[str, Any]] = {}
        #: Keys read with keys_only (no value; no lease on etcd 3.6+), to read again: runs of
        #: consecutive keys, as ``[first, last]`` v3 keys.
        self.runs: list[list[bytes]] = []
        #: Visible sub-directories: path -> [marker or None, oldest create revision seen, all of it seen].
        self.dirs: dict[str, list[Any]] = {}
        self._subdirs = 0  # sub-directories met, hidden ones too
        self._dir_keys = 0  # keys in them, read or passed over
        self._left = -1  # keys from the end of the last range on, when it passed over a sub-directory
        self._wanted: list[str] = []
        #: Sub-directories passed over: path -> whether visible without a marker (its oldest key is looked up).
        self._passed: dict[str, bool] = {}
        self._below = 0  # the oldest create revision in those with a marker or hidden (when looked up)

    def add(self, kvs: Sequence[Any], more: bool, count: int, *, views: bool = False) -> None:
        """Take in a range's key-values (read from :attr:`cursor`, :attr:`limit`, :attr:`values`);
        ``more``: it stopped at its limit; ``count``: the keys from :attr:`cursor` on (etcd's count).
        ``views``: they are read as :class:`aio_etcd.v3.KV` views are (etcd's messages over
        gRPC); only those kept (the children) are turned into the gateway's shapes."""
        if self._left >= 0:  # the keys the last range passed over, known from this one's count
            self._dir_keys += max(self._left - count, 0)
            self._left = -1
        values = self.values
        cut = self.layout._cut
        prefix = self.layout.prefix
        inside = self._inside
        base = self.base
        files, dirs = self.files, self.dirs
        oldest = self.oldest
        run: list[bytes] | None = None
        below: bytes | None = None  # the v3 keys inside the sub-directory met last start so
        entry: list[Any] | None = None  # its entry in dirs (None: hidden)
        path = first_dir = ""
        raw = b""
        deep = 0  # keys read inside sub-directories
        for number, kv in enumerate(kvs):
            if views:
                raw = kv.key
                created = kv.create_revision
            else:
                raw = a2b(kv["key"])
                created = int(kv["create_revision"])
            if created < oldest or not oldest:
                oldest = created
            if below is not None and raw.startswith(below):  # deeper in the same sub-directory
                deep += 1
                if entry is not None and created < entry[1]:
                    entry[1] = created
                continue
            rest = raw[cut:].decode("utf-8", "surrogateescape")[inside:]
            child, slash, deeper = rest.partition("/")
            if not slash:
                below = None
                path = ""
                if not child:  # the directory's own marker
                    self.marker = _gateway_kv(kv) if views else kv
                    continue
                visible = child[0] != "_"
                if not values:  # its value is read afterwards, with the keys next to it
                    if run is not None:
                        run[1] = raw
                    elif visible:
                        run = [raw, raw]
                        self.runs.append(run)
                if visible:
                    files[base + "/" + child] = _gateway_kv(kv) if views else kv
                continue
            run = None
            deep += 1
            path = base + "/" + child
            if number == 0:
                first_dir = path
            below = prefix + path.encode("utf-8", "surrogateescape") + b"/"
            hidden = child[0] == "_"
            entry = None if hidden else dirs.get(path)
            if entry is None:
                self._subdirs += 1  # the first key of a sub-directory is met once: the next range starts past it
                if not hidden:
                    entry = dirs[path] = [None, created, True]
            elif created < entry[1]:
                entry[1] = created
            if not deeper and entry is not None:
                entry[0] = _gateway_kv(kv) if views else kv
                if not values:  # keys_only leaves out the lease on etcd 3.6+: read it again
                    self.runs.append([raw, raw])
        self.ranges += 1
        if kvs:
            self.found = True
        self.oldest = oldest
        self._dir_keys += deep
        if not more:
            self.cursor = None
            return
        # Read on, or pass over each sub-directory: whichever costs less for those met so far.
        self.hop = not self._subdirs or self._dir_keys >= self.hop_keys * self._subdirs
        passed = bool(path) and (self.hop or path == first_dir)  # stopped inside a sub-directory: go past it
        if passed:
            self._left = count - len(kvs)
            looked_up = entry is not None and entry[0] is None
            self._passed[path] = looked_up
            if entry is not None:
                entry[2] = False
            if looked_up:
                self._wanted.append(path)
            self.cursor = prefix + path.encode("utf-8", "surrogateescape") + b"0"
        else:
            self.cursor = raw + b"\0"
        self.values = self.hop
        if passed:  # the next thing may be another large one: a short range first
            self.limit = self.step if self.hop else self.peek
        else:  # what the range met it read whole: a longer one
            self.limit = min(self.limit * 4, self.batch)

    def take_wanted(self) -> list[tuple[str, bytes, bytes]]:
        """``(path, start, end)`` of each visible sub-directory without a marker passed over in
        part since the last call: its indexes need its oldest key."""
        wanted = [(path, *self.layout.below(path)) for path in self._wanted]
        self._wanted = []
        return wanted

    def oldest_wanted(self) -> list[tuple[str, bytes, bytes]]:
        """``(path, start, end)`` of the sub-directories passed over whose oldest keys the
        directory's own indexes need besides those :meth:`take_wanted` gave: when it has no
        marker, those with a marker and the hidden ones."""
        if self.key == "/" or self.marker is not None:
            return []
        return [(path, *self.layout.below(path)) for path, looked_up in self._passed.items() if not looked_up]

    def set_oldest(self, path: str, created: int) -> None:
        """The oldest create revision of the sub-directory ``path`` (a lookup's answer)."""
        if self._passed.get(path):
            self.dirs[path][1] = created
        elif created < self._below or not self._below:
            self._below = created

    def set_values(self, kvs: list[dict[str, Any]]) -> None:
        """The key-values (with values and leases) of the keys read with keys_only."""
        files, dirs = self.files, self.dirs
        for kv in kvs:
            name = self.layout.name(a2b(kv["key"]))
            if name in files:
                files[name] = kv
            elif name[-1:] == "/" and name[:-1] in dirs:
                dirs[name[:-1]][0] = kv

    def leases(self) -> set[int]:
        found = leases_of(self.files.values())
        markers = [self.marker] if self.marker is not None else []
        markers += [d[0] for d in self.dirs.values() if d[0] is not None]
        return found | leases_of(markers)

    def node(self, ttls: Mapping[int, NodeTTL]) -> dict[str, Any]:
        """The v2 node: the directory with its children, in key order."""
        layout = self.layout
        key = self.key
        nodes = [layout.file_node(kv, ttls, name) for name, kv in self.files.items()]
        for path, (marker, oldest, _) in self.dirs.items():
            if marker is not None:
                nodes.append(layout.dir_node(path, marker, ttls))
            else:
                nodes.append({"key": path, "dir": True, "modifiedIndex": oldest, "createdIndex": oldest})
        if key == "/":
            root: dict[str, Any] = {"dir": True}
        elif self.marker is not None:
            root = layout.dir_node(key, self.marker, ttls)
        else:  # the oldest key below it: read, or in a sub-directory passed over
            oldest = min(
                [self.oldest]
                + [self.dirs[path][1] for path in self._passed if path in self.dirs]
                + ([self._below] if self._below else [])
            )
            root = {"key": key, "dir": True, "modifiedIndex": oldest, "createdIndex": oldest}
        if nodes:
            nodes.sort(key=_BY_KEY)
            root["nodes"] = nodes
        return root


_BY_KEY = operator.itemgetter("key")
_CREATED = operator.itemgetter("createdIndex")


def _add_ttl(node: dict[str, Any], kv: Mapping[str, Any], ttls: Mapping[int, NodeTTL]) -> None:
    lease = _int(kv.get("lease"))
    if lease:
        _lease_ttl(node, lease, ttls)


def add_ttls(leased: Iterable[tuple[dict[str, Any], int]], ttls: Mapping[int, NodeTTL]) -> None:
    """Give each node on a lease (as :meth:`Layout.tree` left them in ``leased``) its TTL."""
    for node, lease in leased:
        _lease_ttl(node, lease, ttls)


def _mark_dir(node: dict[str, Any], created: int, lease: int, ttls: Mapping[int, NodeTTL]) -> None:
    """A directory with a marker: the marker's indexes, and the TTL of its lease (0: none)."""
    node["modifiedIndex"] = node["createdIndex"] = created
    if lease:
        _lease_ttl(node, lease, ttls)


def _lease_ttl(node: dict[str, Any], lease: int, ttls: Mapping[int, NodeTTL]) -> None:
    ttl = ttls.get(lease)
    if ttl is not None:
        node["expiration"] = ttl.expiration
        node["ttl"] = ttl.ttl


def _gateway_kv(kv: Any) -> dict[str, Any]:
    """A :class:`aio_etcd.v3.KV` view (or etcd's message) in the gateway's shapes (zero values left out)."""
    out: dict[str, Any] = {"key": b2a(kv.key, newline=False).decode()}
    for name in ("create_revision", "mod_revision", "version", "lease"):
        number = getattr(kv, name)
        if number:
            out[name] = str(number)
    if kv.value:
        out["value"] = b2a(kv.value, newline=False).decode()
    return out


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
