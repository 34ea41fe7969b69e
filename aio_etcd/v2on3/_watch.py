"""v2 watches on a v3 store: the next change of a key (or a directory's subtree) at or after an index.

A v2 watch gives one event; its caller asks again from ``modifiedIndex + 1``.
Here :func:`changes` turns one v3 watch from that revision (``prev_kv`` on)
into the v2 events of the key, for as long as its caller reads them
(``watch_iter`` and ``eternal_watch`` follow one v3 watch, not one per event:
etcd catches up a watch that starts in the past only every 100 ms), and
:func:`next_change` (``watch``) takes the first of them:

- ``PUT`` is ``set``, ``DELETE`` is ``delete``, or ``expire`` when the key's
  lease is gone, unless the write recorded its action (``create``, ``update``,
  ``compareAndSwap``, ``compareAndDelete``, ``set``, ``delete``) in the action
  record at its revision (:attr:`~aio_etcd.v2on3.Layout.action`), read once
  per revision.
- Refreshes (their action record says ``refresh``) are not events, as v2's
  refreshes are not, nor are puts without a record that keep the value and
  move the key to another lease (an older aio_etcd's refreshes, the
  migrator's TTL updates).
- A directory's delete (the record ``delete <directory>``) is one event, the
  directory's, to a watch of it, of anything in it, or a recursive one
  above it; its keys' deletes at that revision are not events.
- A directory marker written together with a change inside its directory
  (bookkeeping: the directory must outlive its keys) is not an event; one
  written alone (a ``dir=True`` write) is.
- A revision the store compacted raises
  :class:`~aio_etcd.EtcdEventIndexCleared`, as v2 does when an index left its
  1,000-event window.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any

from ..exceptions import EtcdEventIndexCleared, EtcdException
from ..result import EtcdResult
from ..v3.errors import EtcdCompacted
from ..v3.results import Event, b64
from ._layout import MESSAGES, hidden

if TYPE_CHECKING:
    from ._keys import KeysOnV3

__all__ = ["changes", "next_change"]

#: The actions a put records (``set`` only with a TTL).
_PUTS = frozenset({"set", "create", "update", "compareAndSwap"})


async def next_change(keys: KeysOnV3, name: str, index: int | None, recursive: bool) -> EtcdResult:
    """The first v2 event of ``name`` (its subtree with ``recursive``) at or after ``index``."""
    async with contextlib.aclosing(changes(keys, name, index, recursive)) as stream:
        return await anext(stream)


async def changes(keys: KeysOnV3, name: str, index: int | None, recursive: bool) -> AsyncGenerator[EtcdResult, None]:
    """The v2 events of ``name`` (its subtree with ``recursive``) from ``index`` on, from one v3 watch.

    :raises EtcdEventIndexCleared: ``index`` (or a revision the watch still
        had to deliver) was compacted.
    :raises EtcdException: the watch was closed with the client.
    """
    layout = keys.layout
    own = layout.file(name)
    marker = layout.marker(name)
    inside, end = layout.below(name)
    first = inside if name == "/" else own
    # Non-recursive watches read the subtree too: a change inside the directory
    # is how its marker's bookkeeping is told from a dir=True write.
    try:
        async with keys.v3.watch(first, range_end=end, start_revision=index or 0, prev_kv=True) as events:
            changed = 0  # the revision of the last change of a key (not a marker) seen
            gone = 0  # the last revision at which the directory was seen deleted
            # v2's etcd_index: the store's index when the watch began (or, for
            # an answer from history, when it was asked for); a follow-up of
            # watch_iter asks at the earliest after the event before it.
            asked = events.created_revision
            swept = 0  # the revision of a recursive delete already told (or not this watch's)
            async for event in events:
                raw = event.kv.key
                if raw != own and not raw.startswith(inside):
                    continue  # a sibling whose name only begins like this one
                is_marker = raw.endswith(b"/")
                revision = event.mod_revision
                if not is_marker:
                    changed = revision
                elif event.type == "PUT" and revision == changed:
                    continue  # a directory kept alive beside a change inside it
                result: EtcdResult | None
                if event.type == "DELETE":
                    if revision == swept:
                        continue  # one of the keys of a directory deleted at once
                    recorded = await keys.action_at(revision)
                    if recorded.startswith("delete "):
                        # A recursive delete (or a dir=True one): one event, the directory's.
                        swept = gone = revision
                        result = await _tree_deleted(keys, name, recursive, recorded[7:], event)
                        if result is not None:
                            result.etcd_index = asked or revision
                            asked = max(asked, revision)
                            yield result
                        continue
                if raw not in (own, marker):
                    if not recursive:
                        if event.type == "DELETE" and revision != gone and name != "/":
                            gone = revision  # one look per revision
                            # This version's deletes of one key keep the directory (with
                            # a marker); only deletes of others may have left it empty.
                            recorded = await keys.action_at(revision)
                            if recorded in ("delete", "compareAndDelete"):
                                continue
                            result = await _directory_gone(keys, name, event, inside, end)
                            if result is not None:
                                result.etcd_index = asked or revision
                                asked = max(asked, revision)
                                yield result
                        continue
                    shown = layout.name(raw)
                    if hidden(shown[len(name) :] if name != "/" else shown):  # "/b/_c": "/_" finds it
                        continue
                else:
                    shown = layout.name(raw)
                    if raw == marker and event.type == "DELETE":
                        gone = revision  # the directory's own event: its keys' deletes are not
                result = await _v2_event(keys, event, shown, is_marker)
                if result is not None:
                    result.etcd_index = asked or revision
                    asked = max(asked, revision)
                    yield result
    except EtcdCompacted as exc:
        oldest = exc.compact_revision
        payload = {
            "errorCode": 401,
            "message": MESSAGES[401],
            "cause": f"the requested history has been cleared [{oldest}/{index}]",
            "index": oldest,
        }
        raise EtcdEventIndexCleared(f"[401] {payload['message']} : {payload['cause']}", payload) from exc
    # A v3 watch ends only when it is closed: with its client.
    raise EtcdException(f"the watch of {name!r} ended: the client was closed")


def _fields(event: Event, which: str) -> dict[str, Any] | None:
    """The ``kv`` or ``prev_kv`` of ``event`` in the gateway's JSON shape, which the layout reads.

    A gateway event holds that JSON: it is read as it is (its private ``_raw``,
    as this module read it before gRPC; a public accessor in
    :mod:`aio_etcd.v3.results` would replace it). Any other (a gRPC event,
    which holds a message) is read through the public view (zero fields left
    out, as the gateway leaves them out), about 5 us more per event.
    """
    raw = event._raw
    if isinstance(raw, dict):
        found = raw.get(which)
        return found if isinstance(found, dict) else None
    kv = event.kv if which == "kv" else event.prev_kv
    if kv is None:
        return None
    fields: dict[str, Any] = {
        "key": b64(kv.key),
        "create_revision": kv.create_revision,
        "mod_revision": kv.mod_revision,
        "version": kv.version,
    }
    value = kv.value
    if value:
        fields["value"] = b64(value)
    lease = kv.lease
    if lease:
        fields["lease"] = lease
    return fields


def _concerns(name: str, recursive: bool, tree: str) -> bool:
    """Whether v2 tells a watch of ``name`` that the directory ``tree`` was deleted: a watch
    of the directory, of anything in it, or a recursive one above it (hidden names left out)."""
    if tree == name or name.startswith(tree + "/"):
        return True
    if recursive and (name == "/" or tree.startswith(name + "/")):
        return not hidden(tree if name == "/" else tree[len(name) :])
    return False


async def _tree_deleted(keys: KeysOnV3, name: str, recursive: bool, tree: str, event: Event) -> EtcdResult | None:
    """The ``delete`` of the directory ``tree``, deleted at ``event``'s revision, if it is an
    event of the watch of ``name``; its ``createdIndex`` is its marker's or its oldest key's,
    as the delete's own answer has it."""
    if not _concerns(name, recursive, tree):
        return None
    revision = event.mod_revision
    prev = event.prev_kv
    created = (prev.create_revision if prev is not None else 0) or revision
    start, end = keys.layout.below(tree)
    if event.kv.key == start:
        return _deleted_dir(tree, revision, created)  # its marker (the first of its keys a delete removes)
    try:
        marker, oldest = await asyncio.gather(
            keys.v3.range(start, revision=revision - 1, keys_only=True),
            keys.v3.range(start, range_end=end, revision=revision - 1, limit=1, sort=("create", "asc"), keys_only=True),
        )
    except EtcdCompacted:
        pass  # the directory's keys seen by this watch are all there is
    else:
        found = marker.kvs or oldest.kvs
        if found:
            created = found[0].create_revision
    return _deleted_dir(tree, revision, created)


def _deleted_dir(name: str, revision: int, created: int) -> EtcdResult:
    node = {"key": name, "dir": True, "modifiedIndex": revision, "createdIndex": created}
    body = {"action": "delete", "node": node, "prevNode": {**node, "modifiedIndex": created}}
    return EtcdResult.from_response(body, etcd_index=revision, raft_index=None)


async def _directory_gone(
    keys: KeysOnV3, name: str, event: Event, inside: bytes, end: bytes
) -> EtcdResult | None:
    """The ``delete`` of the directory ``name`` if a delete inside it (``event``) left it
    empty: a directory without a marker exists only through its keys, and v2 reports a
    recursive delete to a watch of the directory itself."""
    revision = event.mod_revision
    try:
        left = await keys.v3.range(inside, range_end=end, revision=revision, count_only=True)
    except EtcdCompacted:
        return None  # long past: the directory's later history is what the watch reads next
    if left.count:
        return None
    prev = event.prev_kv
    return _deleted_dir(name, revision, (prev.create_revision if prev is not None else 0) or revision)


def _lease_only(prev: Mapping[str, Any] | None, kv: Mapping[str, Any]) -> bool:
    """Whether a put kept the value and moved the key to another lease (not off its lease:
    refreshes never do that, and v2 writes copied by the migrator may)."""
    if prev is None or prev.get("value") != kv.get("value"):
        return False
    lease = int(kv.get("lease") or 0)
    return lease != 0 and lease != int(prev.get("lease") or 0)


async def _v2_event(keys: KeysOnV3, event: Event, shown: str, is_marker: bool) -> EtcdResult | None:
    """The v2 event a v3 event stands for, or ``None`` when it is not one."""
    layout = keys.layout
    kv: Mapping[str, Any] = _fields(event, "kv") or {}
    prev: Mapping[str, Any] | None = _fields(event, "prev_kv")
    revision = event.mod_revision
    key = shown[:-1] if is_marker else shown
    prev_node = None
    if prev is not None:
        prev_node = layout.dir_node(key, prev, {}) if is_marker else layout.file_node(prev, {}, key)
    if event.type == "PUT":
        action = await keys.action_at(revision)
        if action == "refresh":
            return None  # a refresh takes an index but wakes no watcher, as in v2
        if not action and _lease_only(prev, kv):
            # Only the lease changed, and no action says why (this version's sets
            # with a TTL record one): a refresh by an older aio_etcd, the migrator's
            # TTL update, or a plain v3 program's lease change.
            return None
        if action not in _PUTS:
            action = "set"
        lease = int(kv.get("lease") or 0)
        ttls = await keys.ttls({lease}) if lease else {}
        node = layout.dir_node(key, kv, ttls) if is_marker else layout.file_node(kv, ttls, key)
        node["modifiedIndex"] = revision
    else:
        node = {"key": key, "modifiedIndex": revision}
        if is_marker:
            node["dir"] = True
        action = "delete"
        if prev_node is not None:
            node["createdIndex"] = prev_node.get("createdIndex", 0)
            lease = int(prev.get("lease") or 0) if prev is not None else 0
            recorded = "" if is_marker else await keys.action_at(revision)
            if recorded in ("compareAndDelete", "delete"):
                action = recorded  # a deleted key's lease may have run out since: not an expiry
            elif lease and lease not in await keys.ttls({lease}):
                action = "expire"
    body: dict[str, Any] = {"action": action, "node": node}
    if prev_node is not None:
        body["prevNode"] = prev_node
    return EtcdResult.from_response(body, etcd_index=revision, raft_index=None)
