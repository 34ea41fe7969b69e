"""aio_etcd.v3 with auth (tokens, roles, stale tokens, watches) and over TLS, on real etcd."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator

import pytest
import trustme

from aio_etcd import v3
from aio_etcd.testing import EtcdCluster

pytestmark = pytest.mark.timeout(90)

#: The module's own ``auth_server`` serves v3 only.
V2 = False


@pytest.fixture
async def root(auth_server: EtcdCluster) -> AsyncIterator[v3.Client]:
    """A root client of a server with auth on (switched on by the first test that asks)."""
    async with auth_server.v3_client() as plain:
        if "root" not in await _users(plain):
            await plain.auth.user_add("root", "rootpw")
            await plain.auth.user_grant("root", "root")
            await plain.auth.user_add("u", "upw")
            await plain.auth.role_add("reader")
            await plain.auth.role_grant("reader", "/pub/", prefix=True, perm="read")
            await plain.auth.user_grant("u", "reader")
            await plain.auth.enable()
    async with auth_server.v3_client(username="root", password="rootpw") as client:
        yield client


async def _users(client: v3.Client) -> list[str]:
    try:
        return await client.auth.user_list()
    except v3.EtcdAuthFailed:
        return ["root"]  # auth is on already


async def test_tokens_and_roles(root: v3.Client, auth_server: EtcdCluster) -> None:
    assert await root.auth.status() is True
    await root.put("/pub/a", b"1")
    async with auth_server.v3_client(username="u", password="upw") as user:
        kv = await user.get("/pub/a")
        assert kv is not None and kv.value == b"1"
        with pytest.raises(v3.EtcdPermissionDenied):
            await user.put("/pub/a", b"2")
        with pytest.raises(v3.EtcdPermissionDenied):
            await user.get("/private")
    assert "Authorization" in root.headers and "rootpw" not in repr(root)
    async with auth_server.v3_client() as anonymous:
        with pytest.raises(v3.EtcdAuthFailed):
            await anonymous.get("/pub/a")
    async with auth_server.v3_client(username="u", password="wrong") as wrong:
        with pytest.raises(v3.EtcdAuthFailed, match="refused the credentials"):
            await wrong.get("/pub/a")
    assert await root.auth.role_get("reader") == [{"perm": "READ", "key": b"/pub/", "range_end": b"/pub0"}]


async def test_a_stale_token_is_renewed_once(root: v3.Client) -> None:
    await root.get("/pub/a")
    old = root.headers["Authorization"]
    root._set_token("bogustokenxxxxxx.1")  # what a token from before a restart looks like
    await root.put("/pub/b", b"ok")
    assert root.headers["Authorization"] not in (old, "bogustokenxxxxxx.1")


async def test_lease_renewals_go_on_with_a_stale_token_and_a_new_one(root: v3.Client) -> None:
    """etcd does not ask a keep-alive for its token: a renewal works with one it no longer
    knows, and with the new token the next call gets (over gRPC: on a stream opened with it,
    the old one closed)."""
    async with root.lease(30) as lease:
        assert await root.keep_alive_once(lease) == 30
        root._set_token("bogustokenxxxxxx.1")
        assert await root.keep_alive_once(lease) == 30
        await root.put("/pub/renewed", b"1")  # refused, token renewed, made again
        assert root.headers["Authorization"] != "bogustokenxxxxxx.1"
        assert await root.keep_alive_once(lease) == 30
        assert not lease.lost.is_set()
        if root.transport == "grpc":
            assert root._transport.keepalives.open == 1


async def test_watches_carry_the_token_and_survive_a_stale_one(root: v3.Client) -> None:
    root._set_token("bogustokenxxxxxx.1")  # refused with "permission denied" words: renewed once
    async with root.watch("/pub/w") as events:
        await root.put("/pub/w", b"seen")
        event = await asyncio.wait_for(events.__anext__(), 10)
    assert event.kv.value == b"seen"


async def test_tls_with_client_certificates(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("v3pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client@aio-etcd.test")  # identity in the SAN, no CN
    paths = {}
    for name, blob in [
        ("ca.pem", ca.cert_pem),
        ("server.pem", server.cert_chain_pems[0]),
        ("server.key", server.private_key_pem),
        ("client.pem", client.private_key_and_cert_chain_pem),
    ]:
        blob.write_to_path(str(root / name))
        paths[name] = str(root / name)
    tls = (paths["server.pem"], paths["server.key"], paths["ca.pem"])
    with EtcdCluster(v2=False, tls=tls) as server_cluster:
        async with server_cluster.v3_client(ca_cert=paths["ca.pem"], cert=paths["client.pem"]) as etcd:
            await etcd.put("/tls", b"yes")
            async with etcd.watch("/tls") as events:
                await etcd.put("/tls", b"watched")
                event = await asyncio.wait_for(events.__anext__(), 10)
            assert event.kv.value == b"watched"
        member = ("127.0.0.1", server_cluster.port)
        # transport="auto" (the default): gRPC for certificate files, the gateway for an SSLContext
        # or ssl_verify=False, which grpc cannot take.
        files = v3.Client(member, protocol="https", ca_cert=paths["ca.pem"], cert=paths["client.pem"])
        async with files:
            assert files.transport == "grpc" and (await files.get("/tls")).value == b"watched"
        context = ssl.create_default_context(cadata=ca.cert_pem.bytes().decode())  # from memory
        client.configure_cert(context)
        async with v3.Client(member, ssl=context) as from_memory:
            assert from_memory.transport == "gateway" and (await from_memory.get("/tls")).value == b"watched"
        async with v3.Client(member, protocol="https", cert=paths["client.pem"], ssl_verify=False) as unverified:
            assert unverified.transport == "gateway" and (await unverified.get("/tls")).value == b"watched"
        with pytest.raises(ValueError, match="ca_cert="):
            v3.Client(member, ssl=context, transport="grpc")
        async with server_cluster.v3_client(ca_cert=paths["ca.pem"]) as no_cert:
            with pytest.raises(v3.EtcdConnectionFailed):
                await no_cert.get("/tls")


async def test_grpc_without_verification_trusts_the_certificate_each_member_presents(
    tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path_factory.mktemp("v3unverified")
    ca = trustme.CA()  # a CA the client is never told of
    server = ca.issue_cert("etcd.invalid")  # a name that is not the address the client dials
    client = ca.issue_cert("client@aio-etcd.test")
    for name, blob in [
        ("ca.pem", ca.cert_pem),
        ("server.pem", server.cert_chain_pems[0]),
        ("server.key", server.private_key_pem),
        ("client.pem", client.private_key_and_cert_chain_pem),
    ]:
        blob.write_to_path(str(root / name))
    tls = (str(root / "server.pem"), str(root / "server.key"), str(root / "ca.pem"))
    with EtcdCluster(v2=False, tls=tls) as cluster:
        member = ("127.0.0.1", cluster.port)
        options = {"protocol": "https", "cert": str(root / "client.pem"), "transport": "grpc"}
        async with v3.Client(member, ssl_verify=False, **options) as etcd:  # type: ignore[arg-type]
            assert etcd.transport == "grpc"
            await etcd.put("/unverified", b"1")
            async with etcd.watch("/unverified") as events:  # the Watch stream's channel is the pinned one
                await etcd.put("/unverified", b"2")
                event = await asyncio.wait_for(events.__anext__(), 10)
            assert event.kv.value == b"2"
        (warning,) = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("aio_etcd")]
        assert "verification is off" in warning.getMessage() and str(cluster.port) in warning.getMessage()
        async with v3.Client(member, **options) as verifying:  # type: ignore[arg-type]
            with pytest.raises(v3.EtcdConnectionFailed):
                await verifying.get("/unverified")
