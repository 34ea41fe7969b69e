"""Following v2 after the copy: a stream of changes, applied in order, and the TTL poll."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from .._core import within
from .._v2.follow import Changes
from ..client import Client
from ..exceptions import EtcdEventIndexCleared
from ..result import EtcdResult
from ..v2on3 import Layout
from ..v2on3._layout import keep_parent, mark_parent, parent
from ..v3 import txn as T  # noqa: N812 (the documented spelling)
from ._model import _DELETES, _PUTS, Report, _expiry, _read_tree, _snapshot, _Tree
from ._write import Item, _batches, _copy, _Put, _Writer

log = logging.getLogger(__name__)


class _Changes(Changes):
    """Every v2 change under a prefix after an index, in order, buffered as it arrives: the v2
    follow engine's stream (:class:`aio_etcd._v2.follow.Changes`) on the source's backend.

    A gap v2's history no longer covers puts :class:`~aio_etcd.EtcdEventIndexCleared`
    in the queue (or raises it from :meth:`start`).
    """

    def __init__(self, source: Client, prefix: str, after: int) -> None:
        super().__init__(source.backend, prefix, after, recursive=True)


async def _follow(
    source: Client,
    prefix: str,
    changes: _Changes,
    writer: _Writer,
    report: Report,
    stop: asyncio.Event | None,
    ttl_poll: float,
    progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """Apply the changes after the snapshot, in order, until ``stop``; re-read TTLs every ``ttl_poll`` s."""
    stop = stop or asyncio.Event()
    dirs: dict[str, float] = {}  # directory -> expiry, as the last poll saw it
    next_poll = time.monotonic() + ttl_poll
    while True:
        events: list[EtcdResult] = []
        if stop.is_set():  # apply what was read already, then end
            if changes.queue.empty():
                return
            item = changes.queue.get_nowait()
        else:
            timeout = max(0.0, min(next_poll - time.monotonic(), 0.5))
            try:
                item = await within(changes.queue.get(), timeout)
            except asyncio.TimeoutError:
                item = None
        while item is not None:
            if isinstance(item, BaseException):
                if isinstance(item, EtcdEventIndexCleared):
                    await _reconcile_after_gap(source, prefix, changes, writer, report)
                    break
                raise item
            events.append(item)
            item = changes.queue.get_nowait() if not changes.queue.empty() and len(events) < 500 else None
        if events:
            await _apply(events, writer, report)
            if progress is not None:
                progress("follow", report.changes_followed, report.last_index)
        if time.monotonic() >= next_poll and not stop.is_set():
            if changes.queue.empty():  # everything read so far is applied: the poll is newer
                await _poll_ttls(source, prefix, writer, report, dirs)
            next_poll = time.monotonic() + ttl_poll


async def _apply(events: list[EtcdResult], writer: _Writer, report: Report) -> None:
    items: list[Item] = []
    applied = writer.applied
    last = report.last_index
    now = time.time()
    for event in events:
        index = int(event.modifiedIndex or 0)
        if index <= report.snapshot_index:
            continue  # the copy has it
        key = str(event.key or "")
        action = event.action
        dest_key = writer.dest_key(key)
        node = {"expiration": event.expiration, "ttl": event.ttl}
        if event.dir:
            if action in _DELETES:
                items.append((dest_key + b"/", T.delete(dest_key + b"/", prefix=True)))
                items.extend(_kept(writer, key, keep_parent))
            elif writer.keep_dirs and action in _PUTS:
                marker = key + "/"
                items.append((writer.dest_key(marker), _Put(marker, "", index, _expiry(node, now))))
        elif applied.get(key, 0) >= index:
            pass  # already written as it was at a later index (the TTL poll, or a re-read)
        elif action in _PUTS:
            expires = _expiry(node, now)
            items.append((dest_key, _Put(key, str(event.value or ""), index, expires)))
            if expires is not None:
                items.extend(_kept(writer, key, mark_parent))
        elif action in _DELETES:
            items.append((dest_key, T.delete(dest_key)))
            items.extend(_kept(writer, key, keep_parent))
            applied[key] = index
        last = max(last, index)
        report.changes_followed += 1
    for batch in _batches(items):
        await writer.apply(batch, {"index": last})
    if not items and last > report.last_index:
        await writer.apply([], {"index": last})
    report.last_index = last


def _kept(writer: _Writer, key: str, keeper: Callable[[Layout, str], T.Txn | None]) -> list[Item]:
    """With ``keep_empty_dirs``: the marker upkeep of ``key``'s directory, as Client(api="v3") does it."""
    if not writer.keep_dirs:
        return []
    nested = keeper(writer.layout, key)
    return [] if nested is None else [(writer.layout.marker(parent(key)), nested)]


async def _poll_ttls(source: Client, prefix: str, writer: _Writer, report: Report, dirs: dict[str, float]) -> None:
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
    writer.ttl_dirs.update(tree.dir_expiry)
    applied = writer.applied
    items: list[Item] = []
    for key, entry in tree.keys.items():
        newer = entry.expires is not None and entry.index > max(applied.get(key, 0), report.snapshot_index)
        if not newer and not any(key.startswith(d.rstrip("/") + "/") for d in moved_dirs):
            continue
        if applied.get(key, 0) > entry.index:
            continue  # written since at a later index
        items.append((writer.dest_key(key), _Put(key, entry.value, entry.index, entry.expires)))
        report.ttl_moves += 1
    for batch in _batches(items):
        await writer.apply(batch, {"index": report.last_index})


async def _reconcile_after_gap(
    source: Client, prefix: str, changes: _Changes, writer: _Writer, report: Report
) -> None:
    """The stream lost its place in v2's history: copy again at a newer index and follow from there."""
    began = time.monotonic()
    await changes.close()
    changes.queue = asyncio.Queue()
    await changes.start(fresh=True)
    tree = await _snapshot(source, prefix, (), report)
    copied = report.keys_copied
    await _copy(tree, writer, report, True, False, None, prefix, reconcile=True)
    report.keys_copied = copied
    report.snapshot_index = report.last_index = tree.index
    took = time.monotonic() - began
    report.reread_seconds += took
    log.warning("v2's history lost the stream's place: read v2 again at index %d in %.1fs", tree.index, took)


