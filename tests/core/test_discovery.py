"""SRV discovery against a real DNS server on loopback (dnslib), pointing at real etcd."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from dnslib import QTYPE, RCODE, RR, SRV
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

import aio_etcd as etcd
from aio_etcd.discovery import discover, srv_names
from aio_etcd.testing import EtcdCluster, free_port

Records = dict[str, list[tuple[int, int, int, str]]]  # name -> (priority, weight, port, target)


class _Zone(BaseResolver):  # type: ignore[misc]
    def __init__(self) -> None:
        self.records: Records = {}
        self.asked: list[str] = []

    def resolve(self, request: object, handler: DNSHandler) -> object:
        reply = request.reply()  # type: ignore[attr-defined]
        name = str(request.q.qname).rstrip(".")  # type: ignore[attr-defined]
        self.asked.append(name)
        answers = self.records.get(name) if request.q.qtype == QTYPE.SRV else None  # type: ignore[attr-defined]
        if not answers:
            reply.header.rcode = RCODE.NXDOMAIN
        for priority, weight, port, target in answers or []:
            reply.add_answer(RR(request.q.qname, QTYPE.SRV, ttl=5, rdata=SRV(priority, weight, port, target)))  # type: ignore[attr-defined]
        return reply


@pytest.fixture
def dns() -> Iterator[tuple[_Zone, str]]:
    zone = _Zone()
    server = DNSServer(zone, port=0, address="127.0.0.1", logger=DNSLogger(log="-request,-reply,-truncated,-data"))
    server.start_thread()
    try:
        yield zone, f"127.0.0.1:{server.server.server_address[1]}"
    finally:
        server.stop()
        server.server.server_close()


async def test_client_discovers_members(dns: tuple[_Zone, str], etcd_server: EtcdCluster) -> None:
    zone, nameserver = dns
    dead = free_port()
    zone.records["_etcd-client._tcp.example.test"] = [
        (10, 1, etcd_server.port, "127.0.0.1."),
        (0, 1, dead, "127.0.0.1."),  # preferred, but nobody listens there
    ]
    client = etcd.Client(srv_domain="example.test", srv_nameservers=[nameserver])
    assert zone.asked == []  # no I/O before first use
    async with client:
        await client.write("/discovered", "yes")
        assert (await client.read("/discovered")).value == "yes"
        assert client.machines_cache[:2] == [f"http://127.0.0.1:{dead}", etcd_server.url]
        assert client.base_uri == etcd_server.url
    assert zone.asked == ["_etcd-client._tcp.example.test"]


async def test_order_and_legacy_name(dns: tuple[_Zone, str]) -> None:
    zone, nameserver = dns
    zone.records["_etcd._tcp.legacy.test"] = [
        (20, 5, 3, "c.legacy.test."),
        (10, 1, 2, "b.legacy.test."),
        (10, 9, 1, "a.legacy.test."),
    ]
    found = await discover("legacy.test", "https", nameservers=[nameserver])
    assert found == [("a.legacy.test", 1), ("b.legacy.test", 2), ("c.legacy.test", 3)]
    assert zone.asked == ["_etcd-client-ssl._tcp.legacy.test", "_etcd._tcp.legacy.test"]


async def test_no_record_names_what_was_tried(dns: tuple[_Zone, str], caplog: pytest.LogCaptureFixture) -> None:
    _, nameserver = dns
    caplog.set_level(logging.DEBUG)
    async with etcd.Client(srv_domain="nothing.test", protocol="https", srv_nameservers=[nameserver]) as client:
        with pytest.raises(etcd.EtcdException) as info:
            await client.read("/x")
    for name in srv_names("nothing.test", "https"):
        assert name in str(info.value)
    assert not isinstance(info.value, etcd.EtcdConnectionFailed)


async def test_unreachable_dns_server_is_connection_failed() -> None:
    silent = f"127.0.0.1:{free_port()}"
    with pytest.raises(etcd.EtcdConnectionFailed):
        await discover("example.test", "http", nameservers=[silent], timeout=1)


async def test_v3_client_discovers_members(dns: tuple[_Zone, str], etcd_server: EtcdCluster) -> None:
    from aio_etcd import v3

    zone, nameserver = dns
    zone.records["_etcd-client._tcp.example.test"] = [(0, 1, etcd_server.port, "127.0.0.1.")]
    client = v3.Client(srv_domain="example.test", srv_nameservers=[nameserver])
    assert zone.asked == []  # no I/O before first use
    async with client:
        await client.put("/discovered-v3", b"yes")
        kv = await client.get("/discovered-v3")
        assert kv is not None and kv.value == b"yes"
        assert client.current_member == etcd_server.url
    assert zone.asked == ["_etcd-client._tcp.example.test"]
