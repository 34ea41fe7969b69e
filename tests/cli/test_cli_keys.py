"""aio-etcd's key commands against etcd 3.5.1's etcdctl (ETCDCTL_API=2), differentially.

Each case prepares the same keys, runs one command line through etcdctl, then
prepares them again and runs it through ``python -m aio_etcd``; stdout, stderr,
the exit status and the keys left behind must be the same once indexes,
remaining TTL seconds, expiration times and JSON key order are set aside.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cli import ETCDCTL, OURS, run

import aio_etcd as etcd
from aio_etcd.testing import EtcdCluster

pytestmark = pytest.mark.timeout(60)

P = "/cli"


async def _setup(client: etcd.Client) -> None:
    """The same keys before every command: a key, a key with a TTL, a tree, an empty directory."""
    with contextlib.suppress(etcd.EtcdKeyNotFound):
        await client.delete(P, recursive=True)
    await client.write(f"{P}/k", "v")
    await client.write(f"{P}/t", "tv", ttl=300)
    await client.write(f"{P}/d/a", "1")
    await client.write(f"{P}/d/b", "2")
    await client.write(f"{P}/d/sub/c", "3")
    await client.write(f"{P}/empty", None, dir=True)


async def _state(client: etcd.Client) -> list[tuple[Any, ...]]:
    try:
        tree = await client.read(P, recursive=True, sorted=True)
    except etcd.EtcdKeyNotFound:
        return []
    return sorted(
        (re.sub(r"/\d{20}", "/<in-order>", n.key or ""), n.value, n.dir, n.ttl is not None) for n in tree.get_subtree()
    )


_NUMBERS = [
    (re.compile(r"(Created-Index|Modified-Index|Index): \d+"), r"\1: N"),
    (re.compile(r"TTL: [1-9]\d*"), "TTL: T"),
    (re.compile(r"\[\d+\]$", re.M), "[N]"),
    (re.compile(r"/\d{20}"), "/<in-order>"),
    (re.compile(r"\[\d+ != \d+\]"), "[N != N]"),  # a compare on an index names both
]


def _normalise_json(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in ("createdIndex", "modifiedIndex", "index"):
                item = "N"
            elif key == "ttl":
                item = "T"
            elif key == "expiration":
                item = "E"
            out[key] = _normalise_json(item)
        return out
    if isinstance(value, list):
        return [_normalise_json(item) for item in value]
    if isinstance(value, str):
        return re.sub(r"/\d{20}", "/<in-order>", value)
    return value


def _normalise(text: str) -> list[Any]:
    lines: list[Any] = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(_normalise_json(json.loads(line)))
            continue
        for pattern, replacement in _NUMBERS:
            line = pattern.sub(replacement, line)
        lines.append(line)
    return lines


async def _run(command: list[str], url: str, stdin: bytes | None) -> tuple[int | None, list[Any], list[Any]]:
    code, out, err = await run(command, [], url=url, stdin=stdin or b"", timeout=30)
    return code, _normalise(out), _normalise(err)


@pytest.fixture
async def client(etcd_server: EtcdCluster) -> AsyncIterator[etcd.Client]:
    async with etcd_server.client() as client:
        yield client
        await client.delete(P, recursive=True)


CASES = [
    # get
    "get /cli/k",
    "-o extended get /cli/k",
    "-o json get /cli/k",
    "-o extended get /cli/t",
    "get /cli/nope",
    "-o json get /cli/nope",
    "get",
    "get /cli/d",
    "get /cli/k --sort --quorum",
    "get -q /cli/k",
    # set
    "set /cli/new value",
    "set /cli/k changed",
    "-o extended set /cli/k changed",
    "-o json set /cli/k changed",
    "-o extended set /cli/new v --ttl 30",
    "-o extended set /cli/new v -ttl 30",
    "-o extended set /cli/new v --ttl=30",
    "set --ttl 30 /cli/new v",
    "set /cli/k new --swap-with-value v",
    "set /cli/k new --swap-with-value wrong",
    "-o json set /cli/k new --swap-with-value wrong",
    "set /cli/k new --swap-with-index 1",
    "set",
    "set /cli/k v --no-such-flag",
    # mk
    "mk /cli/new v",
    "mk /cli/k v",
    "-o extended mk /cli/new v --ttl 30",
    "mk /cli/queue job --in-order",
    "-o json mk /cli/queue job --in-order",
    # directories
    "mkdir /cli/newdir",
    "-o extended mkdir /cli/newdir",
    "-o json mkdir /cli/newdir --ttl 30",
    "mkdir /cli/empty",
    "setdir /cli/newdir",
    "-o json setdir /cli/newdir",
    "setdir /cli/empty",
    "rmdir /cli/empty",
    "-o extended rmdir /cli/empty",
    "-o json rmdir /cli/empty",
    "rmdir /cli/d",
    "rmdir /cli/nope",
    # update
    "update /cli/k updated",
    "-o extended update /cli/k updated --ttl 30",
    "update /cli/nope v",
    # rm
    "rm /cli/k",
    "-o extended rm /cli/k",
    "-o json rm /cli/k",
    "rm /cli/nope",
    "rm /cli/d",
    "rm /cli/d --recursive",
    "rm --recursive /cli/d",
    "rm -r /cli/d",
    "-o json rm /cli/d --recursive",
    "rm /cli/empty --dir",
    "rm /cli/k --with-value v",
    "rm /cli/k --with-value wrong",
    "rm /cli/k --with-index 1",
    # ls
    "ls /cli",
    "ls /cli --sort",
    "ls -p /cli --sort",
    "ls --recursive --sort /cli",
    "ls -r --sort /cli",
    "ls --recursive -p --sort /cli",
    "ls -q /cli/k",
    "ls /cli/k",
    "ls /cli/nope",
    "-o json ls /cli/d --sort",
    "-o extended ls /cli/d --sort",
    # the command itself
    "bogus /cli/k",
    "-o bogus get /cli/k",
]


@pytest.mark.parametrize("line", CASES)
async def test_same_as_etcdctl(etcd_server: EtcdCluster, client: etcd.Client, line: str) -> None:
    words = line.split()
    await _setup(client)
    theirs = await _run([*ETCDCTL, *words], etcd_server.url, None)
    their_state = await _state(client)
    await _setup(client)
    ours = await _run([*OURS, *words], etcd_server.url, None)
    our_state = await _state(client)
    if words[0] == "ls" or (words[0] == "-o" and words[2] == "ls"):
        # etcd lists a directory in Go's map order unless sorting took effect.
        theirs, ours = _sorted_listing(theirs), _sorted_listing(ours)
    assert ours == theirs
    assert our_state == their_state


def _sorted_listing(run: tuple[int, list[Any], list[Any]]) -> tuple[int, list[Any], list[Any]]:
    code, out, err = run
    lines = sorted(line for line in out if isinstance(line, str))
    documents = [_sort_nodes(line) for line in out if not isinstance(line, str)]
    return code, [*lines, *documents], err


def _sort_nodes(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sort_nodes(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted((_sort_nodes(item) for item in value), key=json.dumps)
    return value


@pytest.mark.parametrize("line", ["set /cli/k", "mk /cli/new", "update /cli/k"])
async def test_values_from_stdin_keep_their_newline(etcd_server: EtcdCluster, client: etcd.Client, line: str) -> None:
    words = line.split()
    await _setup(client)
    theirs = await _run([*ETCDCTL, *words], etcd_server.url, b"line one\nline two\n")
    their_state = await _state(client)
    await _setup(client)
    ours = await _run([*OURS, *words], etcd_server.url, b"line one\nline two\n")
    assert ours == theirs
    assert await _state(client) == their_state
    assert any(value == "line one\nline two\n" for _, value, _, _ in their_state)


async def test_the_same_commands_on_a_v3_store(etcd_v3_server: EtcdCluster, etcd_prefix: str) -> None:
    # --api v3 (or AIO_ETCD_API=v3): etcdctl v2's commands on etcd's v3 store, as on etcd 3.6+.
    key = etcd_prefix + "/cli/k"
    status, out, err = await run(OURS, ["--api", "v3", "set", key, "on v3"], url=etcd_v3_server.url)
    assert (status, out) == (0, "on v3\n"), err
    status, out, err = await run(OURS, ["get", key], url=etcd_v3_server.url, env={"AIO_ETCD_API": "v3"})
    assert (status, out) == (0, "on v3\n"), err
    status, out, err = await run(OURS, ["--api", "v3", "ls", etcd_prefix + "/cli"], url=etcd_v3_server.url)
    assert (status, out.split()) == (0, [key]), err
    async with etcd_v3_server.v3_client() as raw:
        kv = await raw.get(key)
    assert kv is not None and kv.value == b"on v3"
    status, _, err = await run(OURS, ["--api", "v2", "get", key], url=etcd_v3_server.url)  # v2 on a server without it
    assert status != 0 and "v2" in err
    for transport in ("grpc", "gateway"):  # --v3-transport: how the commands reach the v3 store
        status, out, err = await run(
            OURS, ["--api", "v3", "--v3-transport", transport, "get", key], url=etcd_v3_server.url
        )
        assert (status, out) == (0, "on v3\n"), err
    wrong = {"AIO_ETCD_API": "v3", "AIO_ETCD_V3_TRANSPORT": "http"}
    status, _, err = await run(OURS, ["get", key], url=etcd_v3_server.url, env=wrong)
    assert status != 0 and "--v3-transport (AIO_ETCD_V3_TRANSPORT) is auto, gateway or grpc" in err, err
