"""The v3 client's two wires (aio_etcd/v3/_wire.py): one table of replay rules, and the same requests.

No etcd needed: the gateway's JSON bodies are read back as messages by the
converters of ``v3/_grpc/calls.py`` (themselves checked against the gateway
in tests/v3/test_v3_grpc_calls.py) and compared with what gRPC's wire sends.
"""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from aio_etcd._core import SAFE, UNSAFE, Cluster, Response
from aio_etcd.v3 import _gateway
from aio_etcd.v3 import txn as T
from aio_etcd.v3._gateway_wire import GatewayWire
from aio_etcd.v3._grpc import calls
from aio_etcd.v3._grpc.messages import etcdserverpb as pb
from aio_etcd.v3._grpc.rules import replay_rule as grpc_rule
from aio_etcd.v3._grpc.wire import GrpcWire
from aio_etcd.v3._wire import RULES, Unary

CALLS = [name for name in RULES if name != "authenticate"]


def _check(resp: Response) -> Any:
    raise AssertionError("no answer is read here")


@pytest.fixture
def wires() -> tuple[GatewayWire, GrpcWire]:
    return GatewayWire(_check), GrpcWire(cast(Cluster, None))  # no answer is read: no cluster id guarded


@pytest.mark.parametrize("name", CALLS)
def test_each_call_has_one_rule_and_both_tables_agree(wires: tuple[GatewayWire, GrpcWire], name: str) -> None:
    gateway, grpc = wires
    ours, theirs = getattr(gateway, name), getattr(grpc, name)
    assert isinstance(ours, Unary) and isinstance(theirs, Unary)
    assert ours.rule is theirs.rule is RULES[name]
    # The tables Client.call and the core follow by path say the same (a transaction: when it writes).
    writes = {"success": [{"request_put": {"key": "YQ=="}}]} if name == "txn" else {}
    assert _gateway.replay_rule(ours.path, writes) is RULES[name]
    assert grpc_rule(theirs.path) is RULES[name]


def test_the_rules_of_today() -> None:
    safe = {name for name, rule in RULES.items() if rule is SAFE}
    assert safe == {"range", "time_to_live", "leases", "keep_alive", "members", "status", "authenticate"}
    assert all(RULES[name] is UNSAFE for name in ("put", "delete", "txn", "compact", "grant", "revoke"))


RANGES = [
    (b"/a", b"", 0, 0, None, False, False, False),
    (b"/a", b"/b", 10, 7, ("MOD", "DESCEND"), True, False, True),
    (b"\xff\x00", b"\0", 0, 0, ("KEY", "ASCEND"), False, True, False),
]


@pytest.mark.parametrize("args", RANGES)
def test_a_range_is_the_same_request_on_both_wires(wires: tuple[GatewayWire, GrpcWire], args: Any) -> None:
    gateway, grpc = wires
    sent = calls.range_message(json.loads(gateway.range_body(*args)))
    assert sent == pb.RangeRequest.FromString(grpc.range_body(*args))


@pytest.mark.parametrize("serializable", [False, True])
def test_a_get_is_a_range_of_one_key(wires: tuple[GatewayWire, GrpcWire], serializable: bool) -> None:
    gateway, grpc = wires
    args = (b"/k", b"", 0, 0, None, False, False, serializable)
    assert gateway.get_body(b"/k", serializable) == gateway.range_body(*args)
    assert grpc.get_body(b"/k", serializable) == grpc.range_body(*args)


@pytest.mark.parametrize(
    "args",
    [(b"/k", b"v", 0, False, False, False), (b"/k", b"", 7, True, True, False), (b"/k", b"x", 0, False, False, True)],
)
def test_a_put_is_the_same_request_on_both_wires(wires: tuple[GatewayWire, GrpcWire], args: Any) -> None:
    gateway, grpc = wires
    sent = calls.put_message(json.loads(gateway.put_body(*args)))
    assert sent == pb.PutRequest.FromString(grpc.put_body(*args))


@pytest.mark.parametrize("args", [(b"/k", b"", False), (b"/a", b"/b", True)])
def test_a_delete_is_the_same_request_on_both_wires(wires: tuple[GatewayWire, GrpcWire], args: Any) -> None:
    gateway, grpc = wires
    sent = calls.delete_message(json.loads(gateway.delete_body(*args)))
    assert sent == pb.DeleteRangeRequest.FromString(grpc.delete_body(*args))


def test_a_transaction_is_the_same_request_on_both_wires(wires: tuple[GatewayWire, GrpcWire]) -> None:
    gateway, grpc = wires
    txn = T.txn().if_(T.value("/a") == b"1").then(T.put("/a", b"2"), T.get("/p/", prefix=True)).else_(T.delete("/b"))
    sent = calls.txn_message(json.loads(gateway.txn_body(txn)))
    assert sent == pb.TxnRequest.FromString(grpc.txn_body(txn))


def test_the_count_of_one_key_is_the_same_request_on_both_wires(wires: tuple[GatewayWire, GrpcWire]) -> None:
    gateway, grpc = wires
    sent = calls.range_message(json.loads(gateway.count_one))
    assert sent == pb.RangeRequest.FromString(grpc.count_one) == pb.RangeRequest(key=b"\0", count_only=True)


def test_the_lease_bodies(wires: tuple[GatewayWire, GrpcWire]) -> None:
    gateway, grpc = wires
    # gRPC's wire writes one message for revoke, keep-alive and time-to-live: the same bytes as each's own.
    assert grpc.lease_body(0x1F) == pb.LeaseRevokeRequest(ID=0x1F).SerializeToString()
    assert grpc.lease_body(0x1F) == pb.LeaseKeepAliveRequest(ID=0x1F).SerializeToString()
    assert pb.LeaseTimeToLiveRequest.FromString(grpc.lease_body(0x1F, True)) == pb.LeaseTimeToLiveRequest(
        ID=0x1F, keys=True
    )
    assert json.loads(gateway.lease_body(0x1F, True)) == {"ID": "31", "keys": True}
    assert json.loads(gateway.grant_body(10, 0)) == {"TTL": "10"}
    assert pb.LeaseGrantRequest.FromString(grpc.grant_body(10, 5)) == pb.LeaseGrantRequest(TTL=10, ID=5)
    assert json.loads(gateway.compact_body(9, True)) == {"revision": "9", "physical": True}
    assert pb.CompactionRequest.FromString(grpc.compact_body(9, False)) == pb.CompactionRequest(revision=9)
