"""The v2 keys API on a v3 store: what ``aio_etcd.Client(api="v3")`` runs on.

etcd 3.6 has no v2 API. With ``api="v3"`` the v2 client keeps its calls,
results and exceptions, and stores the keys in v3 through the JSON gateway.
The layout is stable, and ``aio-etcd migrate`` writes the same one, so an
application moves from a v2 server to this mode after a migration without a
change of code. With ``prefix`` P (``v3_prefix=`` of the client, ``--dest-prefix``
of the migrator; empty by default):

- The v2 key ``/a/b`` holding ``V`` is the v3 key ``P/a/b`` holding ``V`` (UTF-8).
- The v2 directory ``/a`` exists while any v3 key starts with ``P/a/``.
  A directory with nothing in it is kept by its *marker*, the v3 key ``P/a/``
  with an empty value: it is written when a directory is made
  (``dir=True``), when a directory's last key is deleted, and for the
  directory of a key with a TTL (so it outlives its keys, as in v2). A marker
  may stay beside keys.
- A key (or directory) with a TTL is attached to a lease granted for that TTL
  when it was written; a refresh with the same TTL renews that lease, one
  with another TTL (or of a lease this client did not grant: the migrator's
  are shared by keys whose v2 expiry lies within 0.5 s of its end) moves the
  key to a new lease.
- ``modifiedIndex`` and ``createdIndex`` are the v3 ``mod_revision`` and
  ``create_revision``; a result's ``etcd_index`` is the store revision when
  it was answered (a watch's: when the watch began, as in v2).
- In-order keys (``append=True``) are named by 20 digits, each above every
  name made before in its directory (the store revision before the write).
- Names starting with ``_`` are hidden from listings and from recursive
  watches, live or answered from history (a v2 server shows them to a
  recursive watch answered from its history; here they stay hidden).
- The *action record*, the v3 key ``P!aio_etcd/action`` (outside the key
  space: v2 listings, ranges of ``P/`` and the migrator never meet it): a
  write whose v2 action is not ``set`` or ``delete`` (``create``, ``update``,
  ``compareAndSwap``, ``compareAndDelete``; appends and ``dir=True`` writes
  with ``prevExist=False`` are ``create``, with ``prevExist=True``
  ``update``; refreshes are ``refresh``, which watches pass over) puts its
  action there in its own transaction, so a watch reads it at the write's
  revision. Besides, a ``set`` with a TTL records ``set`` (else a watch
  would take a same-value write with a new TTL for a refresh), the delete
  of a key ``delete`` (else a watch that reads it after the key's lease ran
  out would take it for an expiry), and the delete of a directory ``delete
  <directory>`` (its one event in watches). Data written before the record
  existed, by the migrator, or by plain v3 programs, has none: its events
  are ``set`` and ``delete`` (or ``expire``), a put that keeps the value and
  moves the key to another lease is a refresh, and a range delete one
  ``delete`` per key.
- *Fence keys*, ``P!aio_etcd/fence/<client>/<n>`` (outside the key space
  too), are written only after a write of unknown outcome, on a 24-hour
  lease (``docs/clusters.rst``).

Every v2 rule is kept by v3 transactions (see :mod:`aio_etcd.v2on3._keys`);
``docs/v2-on-v3.rst`` lists what differs from a v2 server, and why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._keys import KeysOnV3
    from ._layout import Layout

__all__ = ["KeysOnV3", "Layout"]


def __getattr__(name: str) -> Any:
    # Imported on first use: this package needs the v3 client, which
    # ``import aio_etcd`` does not load until a client uses a v3 store.
    if name == "KeysOnV3":
        from ._keys import KeysOnV3

        return KeysOnV3
    if name == "Layout":
        from ._layout import Layout

        return Layout
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
