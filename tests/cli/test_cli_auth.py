"""aio-etcd's user, role and auth commands against etcd 3.5.1's etcdctl, on a server of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli import ETCDCTL, OURS, run

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


async def test_auth_session_same_as_etcdctl(servers: tuple[EtcdCluster, EtcdCluster]) -> None:
    theirs, ours = servers
    for line, stdin in SESSION:
        expected = await run(ETCDCTL, line.split(), url=theirs.url, stdin=stdin or b"")
        got = await run(OURS, line.split(), url=ours.url, stdin=stdin or b"")
        assert (line, got) == (line, expected)
