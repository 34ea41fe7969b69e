"""aio-etcd's help, argument checks and cluster-health, against etcd 3.5.1's etcdctl (ETCDCTL_API=2)."""

from __future__ import annotations

import pytest
from cli import ETCDCTL, OURS, run

import aio_etcd as etcd
from aio_etcd.testing import EtcdCluster

pytestmark = pytest.mark.timeout(90)


def _ours(text: str) -> str:
    return text.replace("etcdctl", "aio-etcd")


@pytest.mark.parametrize(
    "line",
    [
        "get --help",
        "set -h",
        "set /k v --help",
        "help set",
        "h mkdir",
        "exec-watch --help",
        "member",
        "member --help",
        "member list --help",
        "member help add",
        "help member",
        "user get -h",
        "role grant --help",
        "auth --help",
        "help nope",
    ],
)
async def test_help_as_etcdctl_prints_it(line: str) -> None:
    # No server is asked: help needs none.
    theirs = await run(ETCDCTL, line.split(), url="http://127.0.0.1:9")
    ours = await run(OURS, line.split(), url="http://127.0.0.1:9")
    assert ours == (theirs[0], _ours(theirs[1]), theirs[2])


@pytest.mark.parametrize("line", ["set --ttl abc /k v", "watch --forever=x /k", "set --ttl", "get --bogus /k"])
async def test_a_flag_that_cannot_be_read_prints_the_usage(line: str) -> None:
    theirs = await run(ETCDCTL, line.split(), url="http://127.0.0.1:9")
    ours = await run(OURS, line.split(), url="http://127.0.0.1:9")
    assert theirs[0] == 1 and theirs[1].startswith("Incorrect Usage: ")
    assert ours == (theirs[0], _ours(theirs[1]), theirs[2])


@pytest.mark.parametrize("line", ["--bogus get /k", "--timeout abc get /k", "--total-timeout x get /k"])
async def test_a_global_flag_that_cannot_be_read(line: str) -> None:
    # The usage that follows lists each tool's own commands and options: the first lines are compared.
    theirs = await run(ETCDCTL, line.split(), url="http://127.0.0.1:9")
    ours = await run(OURS, line.split(), url="http://127.0.0.1:9")
    assert (ours[0], ours[1].splitlines()[:3], ours[2]) == (theirs[0], theirs[1].splitlines()[:3], theirs[2])


async def test_durations_as_etcdctl_takes_them(etcd_server: EtcdCluster, etcd_prefix: str) -> None:
    args = ["--timeout", "1500ms", "--total-timeout=1m", "set", etcd_prefix + "/k", "v"]
    assert await run(OURS, args, url=etcd_server.url) == await run(ETCDCTL, args, url=etcd_server.url)


@pytest.mark.parametrize("command", ["set", "mk", "update"])
async def test_no_value_writes_nothing(etcd_server: EtcdCluster, etcd_client: etcd.Client, command: str) -> None:
    key = "/cli-usage/k"
    for tool in (ETCDCTL, OURS):
        await etcd_client.write(key, "before")
        if command == "mk":
            await etcd_client.delete(key)
        result = await run(tool, [command, key], url=etcd_server.url)
        assert result == (128, "", "Error:  value required\n")
        if command == "mk":
            with pytest.raises(etcd.EtcdKeyNotFound):
                await etcd_client.read(key)
        else:
            assert (await etcd_client.read(key)).value == "before"


async def test_lock_without_a_name_says_so() -> None:
    status, out, err = await run(OURS, ["lock", "--", "true"], url="http://127.0.0.1:9")
    assert (status, out) == (2, "")
    assert "lock name is required" in err


@pytest.mark.parametrize("v2", [True, False], ids=["v2", "v3"])
async def test_cluster_health_with_a_member_killed(v2: bool) -> None:
    async with EtcdCluster(size=3, v2=v2) as cluster:
        healthy = await run(OURS, ["cluster-health"], url=",".join(cluster.client_urls))
        assert (healthy[0], healthy[1].splitlines()[-1]) == (0, "cluster is healthy"), healthy
        # A follower, so that the two left keep their leader (and their health)
        # while both tools look: killing the leader would make them unhealthy
        # for the moment of an election, between one tool's look and the other's.
        leader = cluster.leader_index()
        assert leader is not None
        victim, other = (i for i in range(3) if i != leader)
        cluster.stop_member(victim, kill=True)
        url = cluster.members[leader].client_url
        ours = await run(OURS, ["cluster-health"], url=url)
        assert (ours[0], ours[1].splitlines()[-1]) == (5, "cluster is degraded"), ours
        assert f"dial tcp {cluster.members[victim].client_url[7:]}: connect: connection refused" in ours[1]
        if v2:
            assert ours == await run(ETCDCTL, ["cluster-health"], url=url)
        cluster.stop_member(other, kill=True)
        ours = await run(OURS, ["cluster-health"], url=url)
        assert (ours[0], ours[1].splitlines()[-1]) == (5, "cluster is unavailable"), ours
        if v2:
            assert ours == await run(ETCDCTL, ["cluster-health"], url=url)
