"""How one v3 watch event becomes a v2 event on a v3 store (pure mapping; the store's
action records and leases are stubbed, no etcd needed)."""

from __future__ import annotations

import datetime
from typing import Any

from gateway_json import kv

from aio_etcd.v2on3._layout import Layout, NodeTTL
from aio_etcd.v2on3._watch import _v2_event
from aio_etcd.v3.results import Event


class Store:
    """What the mapping asks the store: the action recorded at a revision, and live leases."""

    def __init__(self, actions: dict[int, str] | None = None, leases: dict[int, int] | None = None) -> None:
        self.layout = Layout()
        self.actions = actions or {}
        self.leases = leases or {}
        self.asked: list[int] = []

    async def action_at(self, revision: int) -> str:
        self.asked.append(revision)
        return self.actions.get(revision, "")

    async def ttls(self, leases: set[int]) -> dict[int, NodeTTL]:
        now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
        return {lease: NodeTTL(self.leases[lease], now) for lease in leases if lease in self.leases}


def put(key: bytes, value: bytes, rev: int, prev: dict[str, Any] | None = None, **kw: Any) -> Event:
    raw: dict[str, Any] = {"type": "PUT", "kv": kv(key, value, create=kw.pop("create", rev), mod=rev, **kw)}
    if prev is not None:
        raw["prev_kv"] = prev
    return Event(raw)


def delete(key: bytes, rev: int, prev: dict[str, Any] | None = None) -> Event:
    raw: dict[str, Any] = {"type": "DELETE", "kv": {"key": kv(key)["key"], "mod_revision": str(rev)}}
    if prev is not None:
        raw["prev_kv"] = prev
    return Event(raw)


async def test_a_plain_put_is_set_and_recorded_actions_win() -> None:
    store = Store(actions={6: "compareAndSwap"})
    first = await _v2_event(store, put(b"/a", b"1", 5), "/a", False)  # type: ignore[arg-type]
    assert first is not None and first.action == "set" and first.value == "1" and first.modifiedIndex == 5
    swapped = await _v2_event(store, put(b"/a", b"2", 6, prev=kv(b"/a", b"1", create=5)), "/a", False)  # type: ignore[arg-type]
    assert swapped is not None and swapped.action == "compareAndSwap"
    assert swapped._prev_node is not None and swapped._prev_node.value == "1"


async def test_a_refresh_is_no_event() -> None:
    store = Store(actions={8: "refresh"}, leases={4: 30})
    # only the lease changed: not an event, whatever the record says
    same = put(b"/a", b"1", 8, prev=kv(b"/a", b"1", create=5, lease=3), lease=4, create=5)
    assert await _v2_event(store, same, "/a", False) is None  # type: ignore[arg-type]
    # the value is the same and so is the lease, but the record says refresh
    recorded = put(b"/a", b"1", 8, prev=kv(b"/a", b"1", create=5, lease=4), lease=4, create=5)
    assert await _v2_event(store, recorded, "/a", False) is None  # type: ignore[arg-type]


async def test_deletes_expiries_and_compare_and_delete() -> None:
    store = Store(actions={11: "compareAndDelete"}, leases={7: 5})
    plain = await _v2_event(store, delete(b"/a", 10, prev=kv(b"/a", b"1", create=3)), "/a", False)  # type: ignore[arg-type]
    assert plain is not None and plain.action == "delete" and plain.createdIndex == 3 and plain.modifiedIndex == 10
    cad = await _v2_event(store, delete(b"/a", 11, prev=kv(b"/a", b"1", create=3)), "/a", False)  # type: ignore[arg-type]
    assert cad is not None and cad.action == "compareAndDelete"
    expired = await _v2_event(store, delete(b"/t", 12, prev=kv(b"/t", b"1", create=4, lease=99)), "/t", False)  # type: ignore[arg-type]
    assert expired is not None and expired.action == "expire"  # its lease is gone
    alive = await _v2_event(store, delete(b"/t", 13, prev=kv(b"/t", b"1", create=4, lease=7)), "/t", False)  # type: ignore[arg-type]
    assert alive is not None and alive.action == "delete"


async def test_a_marker_is_a_directory() -> None:
    store = Store(leases={5: 10})
    made = await _v2_event(store, put(b"/d/", b"", 20, lease=5), "/d/", True)  # type: ignore[arg-type]
    assert made is not None and made.dir and made.key == "/d" and made.ttl == 10 and made.action == "set"
    gone = await _v2_event(store, delete(b"/d/", 21, prev=kv(b"/d/", create=20)), "/d/", True)  # type: ignore[arg-type]
    assert gone is not None and gone.dir and gone.action == "delete" and gone.key == "/d"
    assert 21 not in store.asked  # a directory's delete is never a compareAndDelete: no record read
