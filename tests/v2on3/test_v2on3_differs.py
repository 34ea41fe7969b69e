"""What ``api="v3"`` does differently from a v2 server, as docs/v2-on-v3.rst lists it.

Each test runs on a real v2 server (``[v2]``) and with ``api="v3"`` (``[v3]``)
and asserts each side's behaviour, so that the page and the code cannot part:
a change that removes a difference fails here, and its test and the page's
item go together. Watches are read from history (from an index already
written), which both servers answer at once and the same way every time.
The last tests are of former differences, now the same in both modes.
"""

from __future__ import annotations

import asyncio

import pytest

import aio_etcd as etcd

#: Each test runs on the v2 API and on the v2 keys API over a v3 store (tests/conftest.py).
BOTH_APIS = True

pytestmark = pytest.mark.timeout(60)


def _seen(event: etcd.EtcdResult, prefix: str) -> tuple[str | None, str, bool]:
    return event.action, (event.key or "")[len(prefix) :], bool(event.dir)


async def _first(client: etcd.Client, key: str, index: int, count: int, recursive: bool) -> list[etcd.EtcdResult]:
    """The first ``count`` events of ``watch_iter`` from ``index``."""
    events = client.watch_iter(key, index=index, recursive=recursive)
    try:
        return [await asyncio.wait_for(anext(events), 10) for _ in range(count)]
    finally:
        await events.aclose()


async def test_hidden_keys_in_a_recursive_watch_from_history(
    etcd_client: etcd.Client, etcd_prefix: str, api: str
) -> None:
    p = etcd_prefix
    hidden = await etcd_client.write(p + "/h/_x", "hidden")
    await etcd_client.write(p + "/h/y", "shown")
    event = await etcd_client.watch(p + "/h", index=hidden.modifiedIndex, recursive=True)
    # A v2 server's history scan does not test for hidden names; its live watches do.
    assert _seen(event, p)[1] == ("/h/_x" if api == "v2" else "/h/y")


async def test_an_implicit_directory_s_indexes(etcd_client: etcd.Client, etcd_prefix: str, api: str) -> None:
    p = etcd_prefix
    first = await etcd_client.write(p + "/u/a", "1")
    second = await etcd_client.write(p + "/u/b", "2")
    await etcd_client.delete(p + "/u/a")
    directory = await etcd_client.read(p + "/u")
    # v2 keeps the index of the write that made it; v3 takes its oldest key's.
    assert directory.createdIndex == (first if api == "v2" else second).createdIndex


async def test_ttls_below_two_seconds(etcd_client: etcd.Client, etcd_prefix: str, api: str) -> None:
    p = etcd_prefix
    await etcd_client.write(p + "/one", "x", ttl=1)
    zero = await etcd_client.write(p + "/zero", "x", ttl=0)
    if api == "v2":
        # ttl=0 ends the key at v2's next expiry sweep (every 500 ms).
        gone = await asyncio.wait_for(etcd_client.watch(p + "/zero", index=(zero.modifiedIndex or 0) + 1), 5)
        assert gone.action == "expire"
    else:  # both last etcd's shortest lease, 2 s
        assert (await etcd_client.read(p + "/one")).ttl == 2
        assert (await etcd_client.read(p + "/zero")).ttl == 2


async def test_a_directory_with_a_ttl_and_a_key_written_into_it(
    etcd_client: etcd.Client, etcd_prefix: str, api: str
) -> None:
    p = etcd_prefix
    made = await etcd_client.write(p + "/x", None, dir=True, ttl=2)
    await etcd_client.write(p + "/x/k", "v")
    gone = await asyncio.wait_for(etcd_client.watch(p + "/x", index=(made.modifiedIndex or 0) + 2), 10)
    assert (gone.action, gone.dir) == ("expire", True)
    if api == "v2":
        with pytest.raises(etcd.EtcdKeyNotFound):
            await etcd_client.read(p + "/x/k")
    else:  # the key kept its own (no) TTL
        assert (await etcd_client.read(p + "/x/k")).value == "v"


async def test_raft_index_and_raw_requests(etcd_client: etcd.Client, etcd_prefix: str, api: str) -> None:
    written = await etcd_client.write(etcd_prefix + "/k", "v")
    response = await etcd_client.api_execute("/v2/keys" + etcd_prefix + "/k", "GET", raise_for_status=False)
    if api == "v2":
        assert written.raft_index is not None and response.status == 200
    else:  # the test's v3 server has no v2 API (as etcd 3.6 and later)
        assert written.raft_index is None and response.status == 404


# -- former differences, now as in v2 (each both ways, as above) --------------------------


async def test_recursive_delete_of_a_directory(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    p = etcd_prefix
    await etcd_client.write(p + "/r/m", None, dir=True)
    made = await etcd_client.write(p + "/r/m/a", "1")
    await etcd_client.write(p + "/r/m/b", "2")
    deleted = await etcd_client.delete(p + "/r/m", recursive=True)
    after = await etcd_client.write(p + "/r/after", "x")
    index = deleted.modifiedIndex or 0
    events = await _first(etcd_client, p + "/r", index, 2, recursive=True)
    # One event of the directory, then the next change (v3: one record of the delete).
    assert [_seen(e, p) for e in events] == [("delete", "/r/m", True), ("set", "/r/after", False)]
    assert events[0].modifiedIndex == index and events[0].createdIndex == deleted.createdIndex
    assert events[0].createdIndex is not None and events[0].createdIndex < (made.modifiedIndex or 0)
    # The v2 idiom, watch from modifiedIndex + 1, sees the same.
    first = await etcd_client.watch(p + "/r", index=index, recursive=True)
    following = await etcd_client.watch(p + "/r", index=(first.modifiedIndex or 0) + 1, recursive=True)
    assert _seen(first, p) == ("delete", "/r/m", True)
    assert following.modifiedIndex == after.modifiedIndex


async def test_recursive_delete_of_a_directory_made_by_its_keys(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    p = etcd_prefix
    made = await etcd_client.write(p + "/r/m/a", "1")
    await etcd_client.write(p + "/r/m/b", "2")
    deleted = await etcd_client.delete(p + "/r/m", recursive=True)
    await etcd_client.write(p + "/r/after", "x")
    events = await _first(etcd_client, p + "/r", deleted.modifiedIndex or 0, 2, recursive=True)
    assert [_seen(e, p) for e in events] == [("delete", "/r/m", True), ("set", "/r/after", False)]
    assert events[0].createdIndex == made.createdIndex == deleted.createdIndex


async def test_watch_of_a_key_inside_a_deleted_directory(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    p = etcd_prefix
    await etcd_client.write(p + "/d/e/k", "x")
    deleted = await etcd_client.delete(p + "/d", recursive=True)
    for watched in ("/d/e/k", "/d/e", "/d"):
        event = await etcd_client.watch(p + watched, index=deleted.modifiedIndex)
        assert event.modifiedIndex == deleted.modifiedIndex
        # The directory's delete, to a watch of anything in it.
        assert _seen(event, p) == ("delete", "/d", True)


async def test_recursive_delete_seen_live(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    p = etcd_prefix
    start = await etcd_client.write(p + "/l/m/a", "1")
    await etcd_client.write(p + "/l/m/b", "2", ttl=30)
    index = (start.modifiedIndex or 0) + 2
    inside = asyncio.ensure_future(etcd_client.watch(p + "/l/m/a", index=index))
    above = asyncio.ensure_future(_first(etcd_client, p + "/l", index, 2, recursive=True))
    # Watches from the delete's coming index: the same events whether they begin before it or after.
    deleted = await etcd_client.delete(p + "/l/m", recursive=True)
    after = await etcd_client.write(p + "/l/after", "x")
    assert _seen(await asyncio.wait_for(inside, 10), p) == ("delete", "/l/m", True)
    events = await asyncio.wait_for(above, 10)
    assert [(_seen(e, p), e.modifiedIndex) for e in events] == [
        (("delete", "/l/m", True), deleted.modifiedIndex),
        (("set", "/l/after", False), after.modifiedIndex),
    ]


async def test_a_same_value_write_with_a_ttl(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/s"
    await etcd_client.write(key, "v")
    same = await etcd_client.write(key, "v", ttl=30)
    updated = await etcd_client.write(key, "v", ttl=40, prevExist=True)
    swapped = await etcd_client.write(key, "v", ttl=50, prevValue="v")
    untimed = await etcd_client.write(key, "v")
    refreshed = await etcd_client.write(key, None, ttl=60, refresh=True)
    other = await etcd_client.write(key, "w")
    seen = [await etcd_client.watch(key, index=written.modifiedIndex) for written in (same, updated, swapped, untimed)]
    # Each is an event in v3 too (its action record says what it was).
    assert [(e.action, e.modifiedIndex) for e in seen] == [
        ("set", same.modifiedIndex),
        ("update", updated.modifiedIndex),
        ("compareAndSwap", swapped.modifiedIndex),
        ("set", untimed.modifiedIndex),
    ]
    assert seen[0].ttl == 30 and seen[3].ttl is None
    # A refresh still is none.
    assert (await etcd_client.watch(key, index=refreshed.modifiedIndex)).modifiedIndex == other.modifiedIndex


async def test_a_deleted_key_whose_lease_ran_out(etcd_client: etcd.Client, etcd_prefix: str, api: str) -> None:
    key = etcd_prefix + "/k"
    written = await etcd_client.write(key, "x", ttl=2)
    if api == "v3":
        v3 = etcd_client.v3_client
        assert v3 is not None
        found = await v3.get(key)
        assert found is not None and found.lease
        lease = found.lease
    deleted = await etcd_client.delete(key)
    live = await etcd_client.watch(key, index=(written.modifiedIndex or 0) + 1)
    assert live.action == "delete"
    if api == "v3":
        # The delete left the lease to run out: the watch must not take it for an expiry.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while (await v3.time_to_live(lease)).ttl >= 0:
            assert loop.time() < deadline, "the key's lease did not run out"
            await asyncio.sleep(0.1)
    later = await etcd_client.watch(key, index=deleted.modifiedIndex)
    assert later.action == "delete"
