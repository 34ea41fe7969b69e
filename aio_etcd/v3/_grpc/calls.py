"""Prototype (not wired into the client): the v3 client's KV calls over gRPC, in the gateway's shapes.

aio_etcd.v3 builds each request as the gateway's JSON body (keys and values
in base64, int64 as strings, enums by name: :mod:`aio_etcd.v3.txn`) and reads
each answer through views over the gateway's JSON (:mod:`aio_etcd.v3.results`:
zero values left out, int64 as strings, bytes in base64). This module maps
such a body to etcd's message (``*_message``) and an answer message back to
the dict the gateway would have sent (``*_answer``), for Range, Put,
DeleteRange and Txn, so that the client could run on gRPC without touching
its request builders or its results (tests/v3/test_v3_grpc_calls.py checks the
dicts against the gateway's own).

What it costs (``benchmarks/grpc_conversion.py``, client CPU per operation,
on a busy 2-core machine): a get 7-8 us and a put 5 us more than building the
message from the arguments and reading the answer's message (0.7-0.9 us),
against a gRPC floor of 65-100 us per 64-concurrent call: 5-12 %, over the
issue's 1.05x. A range of 5,000 keys: 15 ms against 1.5 ms read from the
message, while the floor (parse, count) is 1.5-3.5 ms and the gateway path
today 6-7 ms: through the dicts, gRPC would be slower than the gateway on
ranges. protobuf's generic ``json_format`` is 3-4x slower again. So this
module is a stepping stone (or a test oracle), not the transport.

What a results layer built directly on the messages needs (measured: views
like :class:`~aio_etcd.v3.KV` over an ``mvccpb.KeyValue`` cost 0.3 us a get,
0.3 us per key of a range, over reading the message bare):

- the result classes (``KV``, ``Range``, ``Put``, ``Delete``, ``TxnResult``,
  ``Event``, ``LeaseGrant``, ``LeaseInfo``, ``Member``, ``Status``) as views
  with two backings, or one backing per transport behind the same public
  class (subclasses keep ``isinstance`` true): on a message ``key``/``value``
  are the bytes as they are, the ints are ints, a zero is the field's
  default, presence of ``prev_kv`` is ``HasField``; ``KVs`` wraps the
  repeated field lazily as it wraps the list today; ``TxnResult.responses``
  dispatches on ``WhichOneof("response")``; ``Event.type`` maps the enum
  (0 PUT, 1 DELETE) to the names used today; equality compares messages;
- the request builders of :mod:`aio_etcd.v3.txn` (``Compare``, ``Op``,
  ``Txn.request()``, ``range_request``...) made once per transport, or kept
  as plain arguments until the transport encodes them (one dict->message
  step per call costs the 4-7 us above);
- the ~10 places that read answer dicts directly (``answer.get("kvs")`` in
  ``Client.get``, lease grant and keep-alive, member list, status,
  authenticate, lock and election keys, the watch stream's events and
  progress) read a result view instead;
- errors: a ``grpc.aio.AioRpcError`` carries the same code and message the
  gateway puts in its error body (``error_from`` reads ``code`` and
  ``message`` only), so the exceptions map one to one; deadlines become
  the call's ``timeout``, the token the ``token`` metadata key.
"""

from __future__ import annotations

import base64
from typing import Any

from .messages import etcdserverpb as pb

__all__ = [
    "delete_answer",
    "delete_message",
    "put_answer",
    "put_message",
    "range_answer",
    "range_message",
    "txn_answer",
    "txn_message",
]

_decode = base64.b64decode


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _bytes(fields: dict[str, Any], name: str) -> bytes:
    raw = fields.get(name)
    return _decode(raw) if raw else b""


# -- requests: the gateway's JSON bodies to messages ---------------------------------------------


_RANGE_INTS = frozenset(
    ("limit", "revision", "min_mod_revision", "max_mod_revision", "min_create_revision", "max_create_revision")
)
_RANGE_FLAGS = frozenset(("serializable", "keys_only", "count_only"))


def range_message(fields: dict[str, Any]) -> Any:
    """A ``/v3/kv/range`` body as an ``etcdserverpb.RangeRequest``."""
    request = pb.RangeRequest(key=_bytes(fields, "key"), range_end=_bytes(fields, "range_end"))
    for name, raw in fields.items():
        if name in _RANGE_INTS:
            setattr(request, name, int(raw))
        elif name in _RANGE_FLAGS:
            setattr(request, name, bool(raw))
        elif name == "sort_order":
            request.sort_order = pb.RangeRequest.SortOrder.Value(raw)
        elif name == "sort_target":
            request.sort_target = pb.RangeRequest.SortTarget.Value(raw)
    return request


def put_message(fields: dict[str, Any]) -> Any:
    """A ``/v3/kv/put`` body as an ``etcdserverpb.PutRequest``."""
    request = pb.PutRequest(key=_bytes(fields, "key"), value=_bytes(fields, "value"))
    for name, raw in fields.items():
        if name == "lease":
            request.lease = int(raw)
        elif name in ("prev_kv", "ignore_value", "ignore_lease"):
            setattr(request, name, bool(raw))
    return request


def delete_message(fields: dict[str, Any]) -> Any:
    """A ``/v3/kv/deleterange`` body as an ``etcdserverpb.DeleteRangeRequest``."""
    return pb.DeleteRangeRequest(
        key=_bytes(fields, "key"), range_end=_bytes(fields, "range_end"), prev_kv=bool(fields.get("prev_kv"))
    )


_COMPARE_FIELDS = ("version", "create_revision", "mod_revision", "lease")


def _compare(fields: dict[str, Any]) -> Any:
    compare = pb.Compare(
        key=_bytes(fields, "key"),
        range_end=_bytes(fields, "range_end"),
        target=pb.Compare.CompareTarget.Value(fields.get("target", "VERSION")),
        result=pb.Compare.CompareResult.Value(fields.get("result", "EQUAL")),
    )
    if "value" in fields:
        compare.value = _bytes(fields, "value")
    else:
        for name in _COMPARE_FIELDS:
            if name in fields:
                setattr(compare, name, int(fields[name]))
                break
    return compare


def _request_op(fields: dict[str, Any]) -> Any:
    if "request_range" in fields:
        return pb.RequestOp(request_range=range_message(fields["request_range"]))
    if "request_put" in fields:
        return pb.RequestOp(request_put=put_message(fields["request_put"]))
    if "request_delete_range" in fields:
        return pb.RequestOp(request_delete_range=delete_message(fields["request_delete_range"]))
    if "request_txn" in fields:
        return pb.RequestOp(request_txn=txn_message(fields["request_txn"]))
    raise ValueError(f"not a transaction operation: {sorted(fields)}")


def txn_message(fields: dict[str, Any]) -> Any:
    """A ``/v3/kv/txn`` body (``Txn.request()``) as an ``etcdserverpb.TxnRequest``."""
    return pb.TxnRequest(
        compare=[_compare(c) for c in fields.get("compare", ())],
        success=[_request_op(op) for op in fields.get("success", ())],
        failure=[_request_op(op) for op in fields.get("failure", ())],
    )


# -- answers: messages to the gateway's JSON shapes --------------------------------------------


def _header(header: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if header.cluster_id:
        out["cluster_id"] = str(header.cluster_id)
    if header.member_id:
        out["member_id"] = str(header.member_id)
    if header.revision:
        out["revision"] = str(header.revision)
    if header.raft_term:
        out["raft_term"] = str(header.raft_term)
    return out


def _kv(kv: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    key = kv.key
    if key:
        out["key"] = _b64(key)
    if kv.create_revision:
        out["create_revision"] = str(kv.create_revision)
    if kv.mod_revision:
        out["mod_revision"] = str(kv.mod_revision)
    if kv.version:
        out["version"] = str(kv.version)
    value = kv.value
    if value:
        out["value"] = _b64(value)
    if kv.lease:
        out["lease"] = str(kv.lease)
    return out


def range_answer(answer: Any) -> dict[str, Any]:
    """An ``etcdserverpb.RangeResponse`` as the gateway's JSON would decode."""
    out: dict[str, Any] = {"header": _header(answer.header)}
    kvs = answer.kvs
    if kvs:
        out["kvs"] = [_kv(kv) for kv in kvs]
    if answer.more:
        out["more"] = True
    if answer.count:
        out["count"] = str(answer.count)
    return out


def put_answer(answer: Any) -> dict[str, Any]:
    """An ``etcdserverpb.PutResponse`` as the gateway's JSON would decode."""
    out: dict[str, Any] = {"header": _header(answer.header)}
    if answer.HasField("prev_kv"):
        out["prev_kv"] = _kv(answer.prev_kv)
    return out


def delete_answer(answer: Any) -> dict[str, Any]:
    """An ``etcdserverpb.DeleteRangeResponse`` as the gateway's JSON would decode."""
    out: dict[str, Any] = {"header": _header(answer.header)}
    if answer.deleted:
        out["deleted"] = str(answer.deleted)
    if answer.prev_kvs:
        out["prev_kvs"] = [_kv(kv) for kv in answer.prev_kvs]
    return out


def _response_op(op: Any) -> dict[str, Any]:
    which = op.WhichOneof("response")
    if which == "response_range":
        return {"response_range": range_answer(op.response_range)}
    if which == "response_put":
        return {"response_put": put_answer(op.response_put)}
    if which == "response_delete_range":
        return {"response_delete_range": delete_answer(op.response_delete_range)}
    if which == "response_txn":
        return {"response_txn": txn_answer(op.response_txn)}
    return {}


def txn_answer(answer: Any) -> dict[str, Any]:
    """An ``etcdserverpb.TxnResponse`` as the gateway's JSON would decode."""
    out: dict[str, Any] = {"header": _header(answer.header)}
    if answer.succeeded:
        out["succeeded"] = True
    if answer.responses:
        out["responses"] = [_response_op(op) for op in answer.responses]
    return out
