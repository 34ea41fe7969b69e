"""Move a live v2 key space to v3: copy at one index, follow changes until cut-over, verify.

::

    from aio_etcd import Client, v3
    from aio_etcd.migrate import migrate

    async with Client(host=...) as source, v3.Client(...) as dest:
        report = await migrate(source, dest, prefix="/app", follow=True, stop=stop_event)

What it does, in order (``docs/migrating.rst`` walks an operator through it):

1. With ``follow``, a recursive streaming v2 watch is opened *before* the
   snapshot, from the index just read, and buffers every change while the
   copy runs (v2 keeps only the last 1,000 events: watching from the copy's
   index afterwards would miss changes at a few hundred writes a second).
2. The v2 tree under ``prefix`` is read at one index and written to v3 (key
   ``/a/b`` becomes ``dest_prefix + "/a/b"`` as UTF-8), in transactions of at
   most 128 operations. A v3 key that changed after this run started is never
   overwritten (each put compares its ``mod_revision``) unless ``overwrite``.
3. A key with a TTL is put with a lease ending within 1 s of its v2
   ``expiration`` (keys whose expiries lie within 0.5 s of a lease's end
   share it); a key with less than 1 s left is not written (etcd's shortest
   lease, 2 s, would end more than a second late). Keys under a directory
   with a TTL expire with it.
4. With ``follow``, the buffered changes after the snapshot's index and all
   later ones are applied in order until ``stop`` is set. v2 watches do not
   show ``refresh`` writes, so the TTLs are read again every ``ttl_poll``
   seconds and a key whose expiry moved gets a lease of its own time.
5. The last applied v2 index is kept in the v3 key :func:`progress_key`, in
   the same transaction as the changes: a second run continues from there
   (or, when v2 no longer has the events, copies again at a newer index and
   removes the keys that left v2 meanwhile), never writing an older value
   after a newer one.

Empty v2 directories have no v3 form: they are dropped (and listed in the
report) unless ``keep_empty_dirs`` puts a marker key ``dir/`` for each, and
for the directories with a TTL or holding keys with one: the layout of
:mod:`aio_etcd.v2on3`, so apps can use ``Client(api="v3")`` on the copy.
Hidden keys (names starting with ``_``) never appear in recursive reads or
watches: only those named in ``hidden`` are copied, once, and the report says so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from ..client import Client
from ..exceptions import EtcdEventIndexCleared
from ..v3 import Client as V3Client
from ._follow import _Changes, _follow
from ._model import Difference, Report, _snapshot, progress_key
from ._write import _copy, _Writer
from .verify import Differences, verify

__all__ = ["Difference", "Differences", "Report", "migrate", "progress_key", "verify"]

log = logging.getLogger(__name__)


async def migrate(
    source: Client,
    dest: V3Client,
    *,
    prefix: str = "/",
    dest_prefix: str = "",
    follow: bool = False,
    verify_after: bool = False,
    dry_run: bool = False,
    overwrite: bool = False,
    keep_empty_dirs: bool = False,
    hidden: Sequence[str] = (),
    stop: asyncio.Event | None = None,
    ttl_poll: float = 5.0,
    progress: Callable[[str, int, int], None] | None = None,
) -> Report:
    """Copy the v2 tree under ``prefix`` to v3, follow it until ``stop`` is set, verify; see the module doc.

    :param progress: called as ``progress("copy", keys_done, keys_total)`` while
        copying and ``progress("follow", changes_applied, v2_index)`` while following.
    :returns: the :class:`Report` (with ``differences`` when ``verify_after``).
    """
    if not prefix.startswith("/"):
        raise ValueError("prefix is a v2 key and starts with '/'")
    if dest_prefix.endswith("/"):
        raise ValueError("dest_prefix must not end with '/': v2 keys bring their own")
    began = time.monotonic()
    report = Report(dry_run=dry_run)
    writer = _Writer(source, dest, dest_prefix, prefix, overwrite, report)
    record = await writer.begin()
    changes: _Changes | None = None
    try:
        if follow and not dry_run and record is not None and "index" in record:
            changes = _Changes(source, prefix, int(record["index"]))
            try:
                await changes.start()
            except EtcdEventIndexCleared as exc:
                log.info("%s: copying again", exc)
                changes = None
            else:  # v2 still has every change since the last run: no copy needed
                report.resumed_from = report.snapshot_index = report.last_index = int(record["index"])
        if report.resumed_from is None:
            if follow and not dry_run:
                changes = _Changes(source, prefix, 0)
                await changes.start(fresh=True)
            tree = await _snapshot(source, prefix, hidden, report)
            await _copy(tree, writer, report, keep_empty_dirs, dry_run, progress, prefix, record is not None)
            report.snapshot_index = report.last_index = tree.index
        if changes is not None:
            await _follow(source, prefix, changes, writer, report, stop, ttl_poll, progress)
    finally:
        if changes is not None:
            await changes.close()
    if verify_after:
        found = await verify(source, dest, prefix=prefix, dest_prefix=dest_prefix, hidden=hidden)
        report.differences = list(found)
        report.expired_while_verifying = found.expired
    report.duration = time.monotonic() - began
    return report


