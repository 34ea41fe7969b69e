"""https: verification, client certificates and host names, against a real etcd.

The certificates are made at test time with trustme: a CA, a server
certificate for 127.0.0.1 and localhost, a client certificate, and a second,
unrelated CA.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

import aio_etcd as etcd
from aio_etcd.testing import EtcdCluster


@dataclass(frozen=True)
class Pki:
    ca: str
    server_cert: str
    server_key: str
    client_pem: str  # certificate and key in one file
    client_cert: str
    client_key: str
    other_ca: str  # trusts nothing etcd presents
    stranger_pem: str  # a client certificate from another CA
    other_name_cert: str  # signed by ``ca``, for "other.example" only
    other_name_key: str


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")

    def save(name: str, blob: trustme.Blob) -> str:
        path = root / name
        blob.write_to_path(str(path))
        return str(path)

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client@aio-etcd.test")
    other_name = ca.issue_cert("other.example")
    other_ca = trustme.CA()
    return Pki(
        ca=save("ca.pem", ca.cert_pem),
        server_cert=save("server.pem", server.cert_chain_pems[0]),
        server_key=save("server.key", server.private_key_pem),
        client_pem=save("client-bundle.pem", client.private_key_and_cert_chain_pem),
        client_cert=save("client.pem", client.cert_chain_pems[0]),
        client_key=save("client.key", client.private_key_pem),
        other_ca=save("other-ca.pem", other_ca.cert_pem),
        stranger_pem=save(
            "stranger.pem", other_ca.issue_cert("stranger@elsewhere.test").private_key_and_cert_chain_pem
        ),
        other_name_cert=save("other-name.pem", other_name.cert_chain_pems[0]),
        other_name_key=save("other-name.key", other_name.private_key_pem),
    )


@pytest.fixture(scope="module")
def tls_server(pki: Pki) -> Iterator[EtcdCluster]:
    """etcd serving https, requiring client certificates signed by the CA."""
    with EtcdCluster(tls=(pki.server_cert, pki.server_key, pki.ca), client_cert_auth=True) as server:
        yield server


async def _round_trip(client: etcd.Client, key: str) -> None:
    written = await client.write(key, "over tls")
    assert (await client.read(key)).value == "over tls"
    # The watch session uses the same TLS settings.
    event = await client.read(key, wait=True, waitIndex=written.modifiedIndex, timeout=10)
    assert event.value == "over tls"


def _connection_failure(info: pytest.ExceptionInfo[etcd.EtcdConnectionFailed]) -> str:
    """The text of the refused connection and its cause, lower-cased."""
    assert isinstance(info.value, etcd.EtcdException)
    assert info.value.cause is not None
    return f"{info.value} | {info.value.cause}".lower()


# -- what works ----------------------------------------------------------------------------


async def test_verified_connection_with_client_pem(tls_server: EtcdCluster, pki: Pki) -> None:
    async with tls_server.client(ca_cert=pki.ca, cert=pki.client_pem) as client:
        assert client.protocol == "https"
        assert client.base_uri == f"https://127.0.0.1:{tls_server.port}"
        await _round_trip(client, "/tls/pem")


async def test_verified_connection_with_cert_and_key_pair(tls_server: EtcdCluster, pki: Pki) -> None:
    async with tls_server.client(ca_cert=pki.ca, cert=(pki.client_cert, pki.client_key)) as client:
        await _round_trip(client, "/tls/pair")


def _context_from_memory(pki: Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=Path(pki.ca).read_text())  # the CA as text
    context.load_cert_chain(pki.client_pem)
    return context


async def test_an_ssl_context_carries_the_tls_settings(tls_server: EtcdCluster, pki: Pki) -> None:
    context = _context_from_memory(pki)
    async with etcd.Client(host="127.0.0.1", port=tls_server.port, ssl=context) as client:
        assert client.protocol == "https"  # ssl= means https
        await _round_trip(client, "/tls/context")
    untrusting = ssl.create_default_context()  # the system's CAs: etcd's private CA is not among them
    async with etcd.Client(host="127.0.0.1", port=tls_server.port, ssl=untrusting) as refused:
        with pytest.raises(etcd.EtcdConnectionFailed):
            await refused.read("/tls/context")
    with pytest.raises(ValueError, match="not both"):
        etcd.Client(ssl=context, ca_cert=pki.ca)
    with pytest.raises(ValueError, match="protocol='https'"):
        etcd.Client(ssl=context, protocol="http")


async def test_localhost_name_matches_too(tls_server: EtcdCluster, pki: Pki) -> None:
    async with etcd.Client(
        host="localhost", port=tls_server.port, protocol="https", ca_cert=pki.ca, cert=pki.client_pem
    ) as client:
        await client.write("/tls/localhost", "ok")


# -- what is refused -----------------------------------------------------------------------


async def test_missing_client_certificate_is_refused(tls_server: EtcdCluster, pki: Pki) -> None:
    async with tls_server.client(ca_cert=pki.ca) as client:
        with pytest.raises(etcd.EtcdConnectionFailed) as info:
            await client.read("/tls")
    # etcd ends the handshake with a "bad certificate" alert.
    assert "certificate" in _connection_failure(info)


async def test_client_certificate_from_another_ca_is_refused(tls_server: EtcdCluster, pki: Pki) -> None:
    async with tls_server.client(ca_cert=pki.ca, cert=pki.stranger_pem) as client:
        with pytest.raises(etcd.EtcdConnectionFailed) as info:
            await client.read("/tls")
    assert "certificate" in _connection_failure(info)


async def test_untrusted_server_is_refused(tls_server: EtcdCluster, pki: Pki) -> None:
    async with tls_server.client(ca_cert=pki.other_ca, cert=pki.client_pem) as client:
        with pytest.raises(etcd.EtcdConnectionFailed) as info:
            await client.write("/tls/never", "x")
    assert "certificate verify failed" in str(info.value.cause).lower()
    assert isinstance(info.value.__cause__, Exception)


async def test_system_cas_do_not_trust_a_private_ca(tls_server: EtcdCluster, pki: Pki) -> None:
    async with tls_server.client(cert=pki.client_pem) as client:
        with pytest.raises(etcd.EtcdConnectionFailed) as info:
            await client.read("/tls")
    assert "certificate verify failed" in str(info.value.cause).lower()


# -- turning verification off ----------------------------------------------------------------


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("aio_etcd") and r.levelno >= logging.WARNING]


async def test_ssl_verify_false_connects_and_warns_once_per_client(
    tls_server: EtcdCluster, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with tls_server.client(ca_cert=pki.other_ca, cert=pki.client_pem, ssl_verify=False) as client:
        await _round_trip(client, "/tls/unverified")
        for _ in range(3):
            await client.read("/tls/unverified")
    records = _warnings(caplog)
    assert len(records) == 1, [r.getMessage() for r in records]
    assert records[0].levelno == logging.WARNING
    assert "verification is off" in records[0].getMessage()
    assert str(tls_server.port) in records[0].getMessage()

    # Another client warns for itself; a verifying client does not warn.
    caplog.clear()
    async with tls_server.client(ca_cert=pki.other_ca, cert=pki.client_pem, ssl_verify=False) as client:
        await client.read("/tls/unverified")
    async with tls_server.client(ca_cert=pki.ca, cert=pki.client_pem) as client:
        await client.read("/tls/unverified")
    assert len(_warnings(caplog)) == 1


async def test_ssl_verify_false_does_not_replace_a_client_certificate(tls_server: EtcdCluster, pki: Pki) -> None:
    async with tls_server.client(ssl_verify=False) as client:
        with pytest.raises(etcd.EtcdConnectionFailed) as info:
            await client.read("/tls")
    assert "certificate" in _connection_failure(info)


# -- host names ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def other_name_server(pki: Pki) -> Iterator[EtcdCluster]:
    """etcd on 127.0.0.1 presenting a certificate (from the right CA) for "other.example" only."""
    # (EtcdCluster's start-up probe does not check names, so this server comes up.)
    with EtcdCluster(tls=(pki.other_name_cert, pki.other_name_key, pki.ca)) as server:
        yield server


async def test_host_name_is_checked(other_name_server: EtcdCluster, pki: Pki) -> None:
    async with other_name_server.client(ca_cert=pki.ca, cert=pki.client_pem) as client:
        with pytest.raises(etcd.EtcdConnectionFailed) as info:
            await client.read("/")
    cause = str(info.value.cause).lower()
    assert "certificate verify failed" in cause
    # "IP address mismatch, certificate is not valid for '127.0.0.1'"
    assert "mismatch" in cause and "127.0.0.1" in cause
    # The certificate is otherwise good: without verification the same server answers.
    async with other_name_server.client(ca_cert=pki.ca, cert=pki.client_pem, ssl_verify=False) as client:
        await client.write("/tls/other-name", "reached")


# -- EtcdCluster's TLS options -------------------------------------------------------------


async def test_cluster_without_client_cert_auth_accepts_clients_without_certificate(pki: Pki) -> None:
    async with (
        EtcdCluster(tls=(pki.server_cert, pki.server_key, pki.ca), client_cert_auth=False) as server,
        server.client(ca_cert=pki.ca) as client,
    ):
        await client.write("/tls/anonymous", "ok")


def test_cluster_urls_are_https(tls_server: EtcdCluster) -> None:
    assert tls_server.url.startswith("https://")
    assert all(url.startswith("https://") for url in tls_server.client_urls)
