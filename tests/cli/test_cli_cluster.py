"""aio-etcd's watch, member and cluster-health against etcd 3.5.1's etcdctl."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cli import ETCDCTL, OURS
from test_cli_keys import _normalise

import aio_etcd as etcd
from aio_etcd.testing import EtcdCluster, wait_for_watchers

pytestmark = pytest.mark.timeout(60)

W = "/cliw"
#: A change that makes a directory.
DIR = "<a directory>"


@pytest.fixture
async def client(etcd_server: EtcdCluster) -> AsyncIterator[etcd.Client]:
    async with etcd_server.client() as client:
        yield client


async def _watch_run(
    tool: list[str],
    words: list[str],
    url: str,
    client: etcd.Client,
    changes: list[tuple[str, str | None]],
    stop: bool,
    lines_per_change: int | None = None,
    lines: int | None = None,
) -> tuple[int, list[Any], list[Any]]:
    env = {**os.environ, "ETCDCTL_API": "2", "ETCDCTL_ENDPOINTS": url}
    before = int((await client.store_stats())["watchers"])
    proc = await asyncio.create_subprocess_exec(
        *tool, *words, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    await wait_for_watchers(client, before + 1)
    for key, value in changes:
        if value is None:
            await client.delete(key)
        elif value is DIR:
            await client.write(key, None, dir=True)
        else:
            await client.write(key, value)
    assert proc.stdout is not None
    if stop:  # --forever: read what the changes printed, line by line (it flushes), then Ctrl-C
        seen = b""
        per_change = lines_per_change or (2 if "--recursive" in words else 1)
        while seen.count(b"\n") < (len(changes) * per_change if lines is None else lines):
            seen += await asyncio.wait_for(proc.stdout.readline(), 20)
        proc.send_signal(signal.SIGINT)
        rest, err = await asyncio.wait_for(proc.communicate(), 20)
        out = seen + rest
    else:
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode is not None
    return proc.returncode, _normalise(out.decode()), _normalise(err.decode())


@pytest.mark.parametrize(
    ("line", "changes", "stop"),
    [
        ("watch /cliw/k", [("/cliw/k", "new")], False),
        ("-o extended watch /cliw/k", [("/cliw/k", "new")], False),
        ("-o json watch /cliw/k", [("/cliw/k", "new")], False),
        ("watch --recursive /cliw", [("/cliw/d/x", "1")], False),
        ("-o json watch -r /cliw", [("/cliw/d/x", "1")], False),
        ("watch --forever /cliw/k", [("/cliw/k", "1"), ("/cliw/k", "2"), ("/cliw/k", None)], True),
        ("watch --forever --recursive /cliw", [("/cliw/a", "1"), ("/cliw/a", None)], True),
        # A directory's change is skipped: the watch ends with the next change of a key.
        ("watch -r /cliw", [("/cliw/newdir", DIR), ("/cliw/d/x", "1")], False),
        ("-o json watch -r /cliw", [("/cliw/newdir", DIR), ("/cliw/d/x", "1")], False),
    ],
)
async def test_watch_same_as_etcdctl(
    etcd_server: EtcdCluster, client: etcd.Client, line: str, changes: list[tuple[str, str | None]], stop: bool
) -> None:
    words = line.split()
    runs = []
    for tool in (ETCDCTL, OURS):
        await client.write("/cliw/k", "v")
        runs.append(await _watch_run(tool, words, etcd_server.url, client, changes, stop))
        await client.delete(W, recursive=True)
    theirs, ours = runs
    assert ours == theirs


async def test_watch_after_index_same_as_etcdctl(etcd_server: EtcdCluster, client: etcd.Client) -> None:
    env = {**os.environ, "ETCDCTL_API": "2", "ETCDCTL_ENDPOINTS": etcd_server.url}
    runs = []
    for tool in (ETCDCTL, OURS):
        first = await client.write("/cliw/k", "one")
        await client.write("/cliw/k", "two")
        after = str(first.modifiedIndex)  # the change after this one: "two"
        proc = await asyncio.create_subprocess_exec(
            *tool, "-o", "extended", "watch", "--after-index", after, "/cliw/k", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 20)
        runs.append((proc.returncode, _normalise(out.decode()), _normalise(err.decode())))
        await client.delete(W, recursive=True)
    assert runs[1] == runs[0]
    assert "two" in runs[0][1]


@pytest.mark.parametrize(
    "line", ["member list", "-o json member list", "cluster-health", "member add", "member remove", "member remove 123",
             "member bogus"]
)
async def test_cluster_commands_same_as_etcdctl(etcd_server: EtcdCluster, line: str) -> None:
    env = {**os.environ, "ETCDCTL_API": "2", "ETCDCTL_ENDPOINTS": etcd_server.url}
    runs = []
    for tool in (ETCDCTL, OURS):
        proc = await asyncio.create_subprocess_exec(
            *tool, *line.split(), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), 20)
        runs.append((proc.returncode, out.decode(), err.decode()))
    assert runs[1] == runs[0]


@pytest.mark.parametrize("command", ["watch", "exec-watch"])
async def test_forever_watches_skip_directory_changes(
    etcd_server: EtcdCluster, client: etcd.Client, command: str
) -> None:
    words = ["watch", "-f", "-r", W] if command == "watch" else ["exec-watch", "-r", W, "--", "echo", "ran"]
    changes: list[tuple[str, str | None]] = [("/cliw/newdir", DIR), ("/cliw/a", "1")]
    runs = []
    for tool in (ETCDCTL, OURS):
        await client.write("/cliw/k", "v")
        lines = 2 if command == "watch" else 1  # [set] /cliw/a and 1; or what the command printed
        runs.append(await _watch_run(tool, words, etcd_server.url, client, changes, True, lines=lines))
        await client.delete(W, recursive=True)
    theirs, ours = runs
    assert ours == theirs
    if command == "exec-watch":  # watch skips them silently
        assert "Ignored dir /cliw/newdir change" in ours[1] + ours[2]


async def test_exec_watch_same_as_etcdctl(etcd_server: EtcdCluster, client: etcd.Client) -> None:
    script = 'echo "$ETCD_WATCH_ACTION $ETCD_WATCH_KEY $ETCD_WATCH_VALUE"'
    words = ["exec-watch", "--recursive", W, "--", "sh", "-c", script]
    runs = []
    for tool in (ETCDCTL, OURS):
        await client.write("/cliw/k", "v")
        runs.append(
            await _watch_run(tool, words, etcd_server.url, client, [("/cliw/a", "1"), ("/cliw/a", None)], True, 1)
        )
        await client.delete(W, recursive=True)
    # etcdctl starts each command without waiting for the one before: its lines may come in either order.
    (their_code, their_out, their_err), (code, out, err) = runs
    assert (code, sorted(out), err) == (their_code, sorted(their_out), their_err)
    assert out == ["set /cliw/a 1", "delete /cliw/a "]  # aio-etcd runs them one after the other, in order


async def test_member_add_and_remove_same_as_etcdctl() -> None:
    """On a 3-member cluster, so that a 4th member that never starts leaves a quorum."""
    async with EtcdCluster(size=3) as cluster:
        # etcd refuses to add a member until its members have been connected for 5 s.
        await asyncio.sleep(5.5)
        env = {**os.environ, "ETCDCTL_API": "2", "ETCDCTL_ENDPOINTS": ",".join(cluster.client_urls)}
        runs = []
        for tool in (ETCDCTL, OURS):
            peer = f"http://127.0.0.1:{cluster.members[0].peer_port + 10000}"
            outputs = []
            steps: list[list[str] | None] = [
                ["member", "add", "newbie", peer],
                ["member", "list"],  # the new member, never started: "[unstarted]"
                ["member", "add", "again", peer],  # its peer URL is taken
                None,
            ]
            for words in steps:
                if words is None:  # remove the member just added, by the id it was given
                    added = outputs[0][1].split(" with ID ")[1].split()[0]
                    words = ["member", "remove", added]
                for _ in range(10 if words[1] != "list" and words[2] != "again" else 1):
                    # etcd refuses changes while it finds its members not healthy long enough
                    proc = await asyncio.create_subprocess_exec(
                        *tool, *words, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
                    )
                    out, err = await asyncio.wait_for(proc.communicate(), 30)
                    if proc.returncode == 0:
                        break
                    await asyncio.sleep(1)
                outputs.append((proc.returncode, out.decode(), err.decode()))
            runs.append([(code, _ids_and_order(out), _ids_and_order(err)) for code, out, err in outputs])
        assert runs[1] == runs[0]
        assert runs[0][0][0] == runs[0][1][0] == runs[0][3][0] == 0
        assert "ID[unstarted]: peerURLs=" in runs[0][1][1] and runs[0][2][0] != 0


def _ids_and_order(out: str) -> str:
    """Member ids are random, and etcd lists members in id order: set both aside."""
    out = re.sub(r"\b[0-9a-f]{12,16}\b", "ID", out)
    out = re.sub(r"etcd member http://127\.0\.0\.1:\d+ has no leader", "etcd member URL has no leader", out)
    if out.startswith("ID"):  # member list
        out = "".join(sorted(out.splitlines(keepends=True)))
    return re.sub(r'(ETCD_INITIAL_CLUSTER=")([^"]*)', lambda m: m[1] + ",".join(sorted(m[2].split(","))), out)
