"""Client CPU of going through the gateway's shapes on gRPC (aio_etcd/v3/_grpc/calls.py), per operation.

    python benchmarks/grpc_conversion.py [--repeat 5]

No etcd: answers are made locally, as etcd would send them (a 100-byte value,
a range of 5,000 keys), and each path is timed in this process (median of
``--repeat`` runs, CPU time). For each workload, four ways of building the
request and reading the answer as a user would (the key and value of each KV):

- ``message``: a message built from the arguments, the answer's message read
  directly (the least any client pays);
- ``views``: the same, the answer read through thin views like
  aio_etcd.v3.results' but over the messages (``MessageKV`` below: what a
  results layer built on the messages would cost);
- ``dicts``: the request body the client builds today (aio_etcd.v3.txn),
  converted by calls.py, the answer converted back to the gateway's dict and
  read through aio_etcd.v3.results (no change to the client but the transport);
- ``json_format``: the same, with protobuf's generic ``json_format`` instead of
  calls.py (ParseDict / MessageToDict).

Serializing the request and parsing the answer's bytes are the same for all
four (and part of the gRPC floor), so they are left out. Compare the
figures with the gRPC floor's client CPU per operation in bench_v3.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from google.protobuf import json_format

from aio_etcd.v3 import txn as T  # noqa: N812
from aio_etcd.v3._grpc import calls
from aio_etcd.v3._grpc.messages import etcdserverpb as pb
from aio_etcd.v3._grpc.messages import mvccpb
from aio_etcd.v3.results import KV, Put, Range

KEY, VALUE = b"/bench/k", b"v" * 100


def header() -> Any:
    return pb.ResponseHeader(
        cluster_id=14841639068965178418, member_id=10276657743932975437, revision=123456, raft_term=2
    )


def kv(key: bytes) -> Any:
    return mvccpb.KeyValue(key=key, value=VALUE, create_revision=1000, mod_revision=123450, version=42)


GET_ANSWER = pb.RangeResponse.FromString(pb.RangeResponse(header=header(), kvs=[kv(KEY)], count=1).SerializeToString())
PUT_ANSWER = pb.PutResponse.FromString(pb.PutResponse(header=header()).SerializeToString())
RANGE_BYTES = pb.RangeResponse(header=header(), kvs=[kv(b"/range/%05d" % i) for i in range(5000)], count=5000)
RANGE_BYTES = RANGE_BYTES.SerializeToString()


def read(kvs: Any) -> int:
    total = 0
    for one in kvs:
        total += len(one.key) + len(one.value)
    return total


class MessageKV:
    """A KV view over an mvccpb.KeyValue, as aio_etcd.v3.results.KV is over the gateway's dict."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    @property
    def key(self) -> bytes:
        return self._raw.key  # type: ignore[no-any-return]

    @property
    def value(self) -> bytes:
        return self._raw.value  # type: ignore[no-any-return]


class MessageRange:
    __slots__ = ("_raw",)

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    @property
    def kvs(self) -> Any:
        return (MessageKV(kv) for kv in self._raw.kvs)

    @property
    def revision(self) -> int:
        return self._raw.header.revision  # type: ignore[no-any-return]


# -- the ways -------------------------------------------------------------------------------


def get_message() -> None:
    pb.RangeRequest(key=KEY)
    kvs = GET_ANSWER.kvs
    read(kvs[:1]) if kvs else None


def get_views() -> None:
    pb.RangeRequest(key=KEY)
    kvs = GET_ANSWER.kvs
    read([MessageKV(kvs[0])]) if kvs else None


def get_dicts() -> None:
    calls.range_message(T.range_request(KEY))
    kvs = calls.range_answer(GET_ANSWER).get("kvs")
    read([KV(kvs[0])]) if kvs else None


def get_json_format() -> None:
    json_format.ParseDict(T.range_request(KEY), pb.RangeRequest())
    kvs = json_format.MessageToDict(GET_ANSWER, preserving_proto_field_name=True).get("kvs")
    read([KV(kvs[0])]) if kvs else None


def put_message() -> None:
    pb.PutRequest(key=KEY, value=VALUE)
    assert PUT_ANSWER.header.revision


def put_views() -> None:
    pb.PutRequest(key=KEY, value=VALUE)
    assert MessageRange(PUT_ANSWER).revision


def put_dicts() -> None:
    calls.put_message(T.put_request(KEY, VALUE))
    assert Put(calls.put_answer(PUT_ANSWER)).revision


def put_json_format() -> None:
    json_format.ParseDict(T.put_request(KEY, VALUE), pb.PutRequest())
    assert Put(json_format.MessageToDict(PUT_ANSWER, preserving_proto_field_name=True)).revision


def range_message() -> None:
    # the answer's bytes are parsed anew each time: upb makes the KV objects as they are read
    assert read(pb.RangeResponse.FromString(RANGE_BYTES).kvs)


def range_views() -> None:
    assert read(MessageRange(pb.RangeResponse.FromString(RANGE_BYTES)).kvs)


def range_dicts() -> None:
    assert read(Range(calls.range_answer(pb.RangeResponse.FromString(RANGE_BYTES))).kvs)


def range_json_format() -> None:
    answer = pb.RangeResponse.FromString(RANGE_BYTES)
    assert read(Range(json_format.MessageToDict(answer, preserving_proto_field_name=True)).kvs)


def range_parse_only() -> None:
    pb.RangeResponse.FromString(RANGE_BYTES)


WORKLOADS = {
    "get": (get_message, get_views, get_dicts, get_json_format, 20000),
    "put": (put_message, put_views, put_dicts, put_json_format, 20000),
    "range_5000": (range_message, range_views, range_dicts, range_json_format, 20),
}


def timed(run: Any, count: int, repeat: int) -> float:
    """Median CPU microseconds per call."""
    runs = []
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(count):
            run()
        runs.append((time.process_time() - start) / count * 1e6)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'workload':<12}{'message':>10}{'views':>10}{'dicts':>10}{'json_format':>13}   (client CPU us per op)")
    for name, (*ways, count) in WORKLOADS.items():
        figures = [timed(run, count, args.repeat) for run in ways]
        print(f"{name:<12}{figures[0]:>10.1f}{figures[1]:>10.1f}{figures[2]:>10.1f}{figures[3]:>13.1f}")
    print(f"(parsing the 5,000-key answer alone: {timed(range_parse_only, 20, args.repeat):.1f} us)")


if __name__ == "__main__":
    main()
