"""Client construction, closing, and the cluster-information calls."""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings

import pytest

import aio_etcd as etcd
from aio_etcd.testing import EtcdCluster, free_port, wait_for_watchers


def test_client_built_outside_a_loop_works_inside_one(etcd_server: EtcdCluster) -> None:
    client = etcd.Client(host=etcd_server.host, port=etcd_server.port)

    async def use() -> str | None:
        async with client:
            await client.write("/lifecycle/outside", "ok")
            return (await client.read("/lifecycle/outside")).value

    assert asyncio.run(use()) == "ok"


async def test_close_is_idempotent_and_final(etcd_server: EtcdCluster) -> None:
    client = etcd.Client(host=etcd_server.host, port=etcd_server.port)
    await client.write("/lifecycle/x", 1)
    await client.close()
    await client.close()
    assert client.closed
    with pytest.raises(etcd.EtcdException, match="closed"):
        await client.read("/lifecycle/x")


async def test_context_manager_closes(etcd_server: EtcdCluster) -> None:
    async with etcd.Client(host=etcd_server.host, port=etcd_server.port) as client:
        await client.write("/lifecycle/y", 1)
    assert client.closed


async def test_no_unclosed_warnings(etcd_server: EtcdCluster) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with etcd_server.client() as client:
            await client.write("/lifecycle/z", 1)
            await asyncio.gather(*(client.read("/lifecycle/z") for _ in range(20)))
            watchers = int((await client.store_stats())["watchers"])
            watch = asyncio.create_task(client.watch("/lifecycle/z"))
            await wait_for_watchers(client, watchers + 1)  # the watch is pending at the server
        # Closing the client ends the pending watch with an error, not a hang.
        with pytest.raises(etcd.EtcdException, match="closed"):
            await watch
        del client, watch
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_loop_argument_is_deprecated_and_ignored() -> None:
    with pytest.warns(DeprecationWarning, match="loop"):
        client = etcd.Client(loop=asyncio.get_running_loop())
    await client.close()


def test_bad_arguments_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="allow_reconnect"):
        etcd.Client(host=(("127.0.0.1", 1), ("127.0.0.1", 2)), allow_reconnect=False)
    with pytest.raises(ValueError, match="protocol"):
        etcd.Client(protocol="ftp")
    with pytest.raises(ValueError):
        etcd.Client(host=())
    with pytest.raises(ValueError):
        etcd.Client(username="only-a-name")
    with pytest.raises(ValueError):
        etcd.Client(per_host_pool_size=0)


def test_properties() -> None:
    client = etcd.Client(host="::1", port=4001, protocol="https", version_prefix="/etcd/")
    assert client.base_uri == "https://[::1]:4001"
    assert (client.host, client.port, client.protocol) == ("::1", 4001, "https")
    assert client.version_prefix == "/etcd"
    assert client.key_endpoint == "/etcd/keys"
    assert client.lock_prefix == "/_locks"
    assert client.allow_redirect is True
    assert client.allow_reconnect is False


def test_password_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = etcd.Client(username="root", password="s3cret-pw")
    assert "s3cret-pw" not in repr(client)
    assert "root" in repr(client)
    assert "s3cret-pw" not in caplog.text


async def test_unreachable_server_is_connection_failed() -> None:
    async with etcd.Client(port=free_port()) as client:
        with pytest.raises(etcd.EtcdConnectionFailed) as info:
            await client.read("/x")
    assert info.value.cause is not None
    assert info.value.__cause__ is info.value.cause


# -- cluster information ---------------------------------------------------------------


async def test_cluster_information(etcd_client: etcd.Client) -> None:
    members = await etcd_client.members()
    assert len(members) == 1
    (member,) = members.values()
    assert member["clientURLs"] == [etcd_client.base_uri]
    assert (await etcd_client.leader())["id"] == member["id"]

    stats = await etcd_client.stats()
    assert stats["id"] == member["id"] and stats["state"] == "StateLeader"
    leader_stats = await etcd_client.leader_stats()
    assert leader_stats["leader"] == member["id"]
    store = await etcd_client.store_stats()
    assert "setsSuccess" in store and "watchers" in store

    versions = await etcd_client.versions()
    assert await etcd_client.version == versions["etcdserver"]
    assert (await etcd_client.version).startswith("3.")
    assert await etcd_client.cluster_version == versions["etcdcluster"]


async def test_api_execute(etcd_client: etcd.Client, etcd_prefix: str) -> None:
    resp = await etcd_client.api_execute(etcd_client.key_endpoint + etcd_prefix + "/raw", "PUT", data={"value": "r"})
    assert resp.status == 201
    assert resp.json()["node"]["value"] == "r"
    path = etcd_client.key_endpoint + etcd_prefix + "/raw"
    resp = await etcd_client.api_execute(path, "get", params={"quorum": True})
    assert resp.json()["node"]["value"] == "r"
    health = await etcd_client.api_execute_json("/health", "GET")
    assert health["health"] == "true"
    members = await etcd_client.api_execute_json("/v2/members", "GET")
    assert len(members["members"]) == 1
    with pytest.raises(etcd.EtcdKeyNotFound):
        await etcd_client.api_execute(etcd_client.key_endpoint + etcd_prefix + "/none", "GET")
