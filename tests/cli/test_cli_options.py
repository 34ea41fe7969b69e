"""aio-etcd's global options (endpoints, TLS files, credentials) against etcd 3.5.1's etcdctl."""

from __future__ import annotations

import asyncio

import pytest
from cli import ETCDCTL, OURS, Tls, run

import aio_etcd as etcd
from aio_etcd.auth import Auth, EtcdUser
from aio_etcd.testing import EtcdCluster, free_port

pytestmark = pytest.mark.timeout(120)

async def _both(args: list[str], env: dict[str, str], stdin: bytes = b"") -> tuple[tuple[int | None, str, str], ...]:
    return await run(ETCDCTL, args, env=env, stdin=stdin), await run(OURS, args, env=env, stdin=stdin)


async def test_a_refused_connection_exits_2() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["--endpoints", url, "get", "/k"], ["--endpoints", url, "member", "list"]):
        theirs, ours = await _both(args, {})
        assert theirs[0] == ours[0] == 2
        assert theirs[1] == ours[1] == ""
        assert ours[2].startswith("Error:  ") and "127.0.0.1" in ours[2]


async def test_tls_options_and_variables(tls_server: Tls) -> None:
    cluster, ca, client, client_key, other_ca = (tls_server.cluster, tls_server.ca, tls_server.cert, tls_server.key,
                                                 tls_server.other_ca)
    flags = ["--endpoints", cluster.url, "--ca-file", ca, "--cert-file", client, "--key-file", client_key]
    theirs, ours = await _both([*flags, "set", "/tls/k", "v"], {})
    assert ours == theirs == (0, "v\n", "")
    # cluster-health asks each member alone: with the same TLS files.
    theirs, ours = await _both([*flags, "cluster-health"], {})
    assert ours == theirs
    assert ours[1].endswith("cluster is healthy\n")
    variables = {"ETCDCTL_ENDPOINTS": cluster.url, "ETCDCTL_CA_FILE": ca, "ETCDCTL_CERT_FILE": client,
                 "ETCDCTL_KEY_FILE": client_key}
    theirs, ours = await _both(["-o", "extended", "get", "/tls/k"], variables)
    assert ours[0] == theirs[0] == 0
    assert ours[1].splitlines()[0] == theirs[1].splitlines()[0] == "Key: /tls/k"
    # A CA that did not sign the server's certificate: refused, same status.
    wrong = ["--endpoints", cluster.url, "--ca-file", other_ca, "--cert-file", client, "--key-file", client_key]
    theirs, ours = await _both([*wrong, "get", "/tls/k"], {})
    assert ours[0] == theirs[0] != 0
    assert ours[1] == theirs[1] == ""
    assert ours[2].startswith("Error:  ") and theirs[2].startswith("Error:  ")


async def test_a_refused_handshake_over_grpc_prints_only_the_error(
    tls_server: Tls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """grpc's C core logs a refused TLS handshake to stderr at INFO level (grpcio 1.69 and
    later): aio-etcd keeps that line out, so stderr holds its own error alone."""
    monkeypatch.delenv("GRPC_VERBOSITY", raising=False)
    wrong = ["--endpoints", tls_server.cluster.url, "--ca-file", tls_server.other_ca, "get", "/tls/k"]
    status, out, err = await run(OURS, wrong, env={"AIO_ETCD_API": "v3", "AIO_ETCD_V3_TRANSPORT": "grpc"})
    assert status != 0 and out == ""
    assert err.startswith("Error:  ") and "certificate signed by unknown authority" in err, err
    assert "ssl_transport_security" not in err, err


@pytest.fixture(scope="module")
def auth_enabled(auth_server: EtcdCluster) -> EtcdCluster:
    """The module's ``auth_server`` with a root user, a secret key and auth on."""
    cluster = auth_server

    async def enable() -> None:
        async with cluster.client() as client:
            root = EtcdUser(client, "root")
            root.password = "rootpw"
            await root.write()
            await client.write("/secret/k", "v")
            await Auth(client).enable()
        async with cluster.client(username="root", password="rootpw") as root_client:
            guest = etcd.auth.EtcdRole(root_client, "guest")
            await guest.read()
            guest.acls = {}
            await guest.write()

    asyncio.run(enable())
    return cluster


@pytest.mark.parametrize(
    ("args", "env", "stdin"),
    [
        (["-u", "root:rootpw", "get", "/secret/k"], {}, b""),
        (["--username", "root:rootpw", "get", "/secret/k"], {}, b""),
        (["--username", "root", "get", "/secret/k"], {}, b"rootpw\n"),
        (["get", "/secret/k"], {"ETCDCTL_USERNAME": "root:rootpw"}, b""),
        (["get", "/secret/k"], {}, b""),
        (["-u", "root:wrong", "get", "/secret/k"], {}, b""),
    ],
    ids=["-u", "--username", "prompt", "ETCDCTL_USERNAME", "anonymous", "wrong-password"],
)
async def test_credentials(auth_enabled: EtcdCluster, args: list[str], env: dict[str, str], stdin: bytes) -> None:
    theirs, ours = await _both(["--endpoints", auth_enabled.url, *args], env, stdin)
    assert ours[:2] == theirs[:2]
    assert (ours[2] == "") == (theirs[2] == "")
    if theirs[2]:
        assert ours[2].split()[0] == theirs[2].split()[0]
