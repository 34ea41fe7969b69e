"""aio-etcd's user, role and auth commands against etcd 3.5.1's etcdctl, on a server of their own."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator

import pytest
from test_cli_keys import ETCDCTL

from aio_etcd.testing import EtcdCluster

pytestmark = pytest.mark.timeout(120)

# One session of commands, in order: each line runs through etcdctl on one
# server and through aio-etcd on another that went through the same lines.
SESSION = [
    ("user list", None),
    ("role list", None),
    ("user add alice", b"pw\n"),
    ("user add alice:pw2", None),
    ("user add bob:pw", None),
    ("user list", None),
    ("user get alice", None),
    ("user get nobody", None),
    ("user get", None),
    ("user add", None),
    ("role add app", None),
    ("role add app", None),
    ("role grant app --path /app/* --readwrite", None),
    ("role grant app --path /ro/* --read", None),
    ("role grant app --path /x", None),
    ("role grant app", None),
    ("role grant nope --path /x --read", None),
    ("role grant root --path /x --read", None),
    ("role get app", None),
    ("role get nope", None),
    ("role get", None),
    ("role list", None),
    ("user grant alice --roles app", None),
    ("user grant alice", None),
    ("user get alice", None),
    ("user revoke alice --roles app", None),
    ("role revoke app --path /ro/* --read", None),
    ("role get app", None),
    ("user passwd alice", b"new\n"),
    ("user remove bob", None),
    ("user remove nobody", None),
    ("role remove app", None),
    ("role remove nope", None),
    ("user bogus", None),
    ("auth bogus", None),
    ("auth disable", None),
    ("user add root:rootpw", None),
    ("auth enable", None),
    ("auth enable", None),
    ("-u root:rootpw user list", None),
    ("-u root:rootpw auth disable", None),
    ("auth disable", None),
]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[EtcdCluster, EtcdCluster]]:
    with EtcdCluster() as theirs, EtcdCluster() as ours:
        yield theirs, ours


async def _run(tool: list[str], line: str, url: str, stdin: bytes | None) -> tuple[int | None, str, str]:
    env = {**os.environ, "ETCDCTL_API": "2", "ETCDCTL_ENDPOINTS": url}
    proc = await asyncio.create_subprocess_exec(
        *tool, *line.split(), env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin or b""), 30)
    # etcdctl runs stty on a standard input that is no terminal; that complaint is Go's, not the command's.
    err_lines = [line for line in err.decode().splitlines() if not line.startswith("stty:")]
    return proc.returncode, out.decode(), "\n".join(err_lines)


async def test_auth_session_same_as_etcdctl(servers: tuple[EtcdCluster, EtcdCluster]) -> None:
    theirs, ours = servers
    for line, stdin in SESSION:
        expected = await _run([ETCDCTL], line, theirs.url, stdin)
        got = await _run([sys.executable, "-m", "aio_etcd"], line, ours.url, stdin)
        assert (line, got) == (line, expected)
