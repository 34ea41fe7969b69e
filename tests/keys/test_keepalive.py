"""client.keep_alive against a real etcd: written, refreshed, written again when it vanished, removed on exit."""

from __future__ import annotations

import asyncio

import pytest

import aio_etcd as etcd

# Bounds for waits that end on an event; reaching one means the feature is broken.
EVENT_TIMEOUT = 10.0


async def test_key_outlives_its_ttl_while_the_block_runs(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/worker"
    async with etcd_client.keep_alive(key, "10.0.0.1:80", ttl=1, interval=0.2) as alive:
        written = await etcd_client.read(key)
        assert (written.value, written.ttl) == ("10.0.0.1:80", 1)
        # Without refreshes the key would expire within a second: no event may come in two.
        with pytest.raises(etcd.EtcdWatchTimedOut):
            await etcd_client.watch(key, index=(written.modifiedIndex or 0) + 1, timeout=2.0)
        assert alive.refreshes >= 5
        assert not alive.lost.is_set() and alive.recreated == 0
        assert (await etcd_client.read(key)).value == "10.0.0.1:80"
    with pytest.raises(etcd.EtcdKeyNotFound):
        await etcd_client.read(key)


async def test_a_vanished_key_is_written_again_and_reported(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/worker"
    async with etcd_client.keep_alive(key, "addr", ttl=3, interval=0.2) as alive:
        deleted = await etcd_client.delete(key)
        event = await etcd_client.watch(key, index=(deleted.modifiedIndex or 0) + 1, timeout=EVENT_TIMEOUT)
        assert (event.action, event.value, event.ttl) == ("set", "addr", 3)
        assert alive.lost.is_set()

        async def counted() -> None:  # the watch may see the write before the keep-alive has its answer
            while alive.recreated == 0:  # noqa: ASYNC110 (a counter: nothing to await)
                await asyncio.sleep(0.01)

        await asyncio.wait_for(counted(), EVENT_TIMEOUT)
        assert alive.recreated == 1
    assert not await etcd_client.contains(key)


async def test_keep_leaves_the_key_to_its_ttl(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    key = etcd_prefix + "/kept"
    async with etcd_client.keep_alive(key, "v", ttl=30, keep=True):
        pass
    kept = await etcd_client.read(key)
    assert kept.value == "v" and kept.ttl is not None and kept.ttl <= 30


async def test_bad_arguments(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    for ttl in (0, 1.5, True):
        with pytest.raises(ValueError, match="ttl"):
            etcd_client.keep_alive(etcd_prefix + "/x", "v", ttl=ttl)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="interval"):
        etcd_client.keep_alive(etcd_prefix + "/x", "v", ttl=3, interval=3)
    with pytest.raises(ValueError, match="value"):
        etcd_client.keep_alive(etcd_prefix + "/x", None, ttl=3)
