"""What each way of reaching etcd costs by hand: the floors a client over it cannot go below.

    python benchmarks/floors.py [--rounds 3] [--json results.json]

One etcd 3.5.1 serving v2 and v3 (aio_etcd.testing), the same data in both
(a key of 100 bytes, 5,000 keys of 100 bytes under one prefix), then, in
rounds, one hand-written loop per transport, each in this process, one after
another (so a busy machine weighs on all alike):

- ``v2``: GET /v2/keys over one aiohttp.ClientSession, ``json.loads`` of the body
  (``bench.py``'s floor).
- ``gateway``: POST /v3/kv/range to the JSON gateway over the same kind of
  session, ``json.loads``, and the base64 of each key and value decoded.
- ``gateway-raw``: the same requests over one keep-alive connection of
  asyncio streams (a request line, headers and body written at once, the
  answer read by its Content-Length), ``json.loads`` and base64 as above:
  what an HTTP/1.1 transport written for the gateway could reach.
- ``grpc``: etcdserverpb.KV/Range over grpc.aio, the request and the answer
  (de)serialized with protobuf message classes built from a hand-written
  descriptor of the fields used (the same decoding as a generated stub).
  Needs ``pip install grpcio protobuf``; left out without them.

Workloads: ``read`` (one key, 3,000 in sequence) and ``range`` (the 5,000
keys, 20 in sequence, every key and value decoded). The table shows client
CPU per operation (median over the rounds), its ratio to ``v2``, and etcd's
CPU per operation (from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
VALUE = "v" * 100
TREE = 5000
COUNTS = {"read": 3000, "range": 20}
TRANSPORTS = ["v2", "gateway", "gateway-raw", "grpc"]


def etcd_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def decode_kvs(answer: dict[str, Any]) -> int:
    """What a client must do at least with a gateway answer: the keys and values as bytes."""
    a2b = base64.b64decode
    seen = 0
    for kv in answer.get("kvs") or ():
        seen += len(a2b(kv["key"])) + len(a2b(kv.get("value", "")))
    return seen


def grpc_messages() -> tuple[Any, Any]:
    """RangeRequest and RangeResponse (the fields a read uses), from a descriptor written here."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="floors_rpc.proto", package="etcdserverpb", syntax="proto3")

    def message(name: str, fields: list[tuple[str, int, int, str]]) -> None:
        msg = proto.message_type.add(name=name)
        for field_name, number, kind, type_name in fields:
            label = f.LABEL_REPEATED if field_name in ("kvs",) else f.LABEL_OPTIONAL
            field = msg.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = type_name

    i64, u64, by, bo, ms = f.TYPE_INT64, f.TYPE_UINT64, f.TYPE_BYTES, f.TYPE_BOOL, f.TYPE_MESSAGE
    message("ResponseHeader", [("cluster_id", 1, u64, ""), ("member_id", 2, u64, ""), ("revision", 3, i64, ""),
                               ("raft_term", 4, u64, "")])  # fmt: skip
    message("KeyValue", [("key", 1, by, ""), ("create_revision", 2, i64, ""), ("mod_revision", 3, i64, ""),
                         ("version", 4, i64, ""), ("value", 5, by, ""), ("lease", 6, i64, "")])  # fmt: skip
    message("RangeRequest", [("key", 1, by, ""), ("range_end", 2, by, ""), ("limit", 3, i64, ""),
                             ("revision", 4, i64, ""), ("serializable", 7, bo, "")])  # fmt: skip
    message("RangeResponse", [("header", 1, ms, ".etcdserverpb.ResponseHeader"),
                              ("kvs", 2, ms, ".etcdserverpb.KeyValue"), ("more", 3, bo, ""),
                              ("count", 4, i64, "")])  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    get = message_factory.GetMessageClass
    return get(pool.FindMessageTypeByName("etcdserverpb.RangeRequest")), get(
        pool.FindMessageTypeByName("etcdserverpb.RangeResponse")
    )


async def loops(url: str, with_grpc: bool) -> dict[str, dict[str, Callable[[], Awaitable[int]]]]:
    """Per transport, per workload, one operation; and what must be closed afterwards."""
    import aiohttp

    port = int(url.rsplit(":", 1)[1])
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    one = json.dumps({"key": b64(b"/bench/read"), "serializable": True}).encode()
    tree = json.dumps({"key": b64(b"/tree/"), "range_end": b64(b"/tree0"), "serializable": True}).encode()

    async def v2_read() -> int:
        async with session.get(url + "/v2/keys/bench/read") as resp:
            return len(json.loads(await resp.read())["node"]["value"])

    async def v2_range() -> int:
        async with session.get(url + "/v2/keys/tree?recursive=true") as resp:
            body = json.loads(await resp.read())
        return sum(len(n["key"]) + len(n["value"]) for n in body["node"]["nodes"])

    async def gw(body: bytes) -> int:
        async with session.post(url + "/v3/kv/range", data=body) as resp:
            return decode_kvs(json.loads(await resp.read()))

    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def raw(body: bytes) -> int:
        writer.write(
            b"POST /v3/kv/range HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = -1
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length >= 0:
            data = await reader.readexactly(length)
        else:  # Go's server sends a large answer in chunks
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
                parts.append((await reader.readexactly(size + 2))[:-2])
                if not size:
                    break
            data = b"".join(parts)
        return decode_kvs(json.loads(data))

    ops: dict[str, dict[str, Callable[[], Awaitable[int]]]] = {
        "v2": {"read": v2_read, "range": v2_range},
        "gateway": {"read": lambda: gw(one), "range": lambda: gw(tree)},
        "gateway-raw": {"read": lambda: raw(one), "range": lambda: raw(tree)},
    }
    channel = None
    if with_grpc:
        import grpc

        request_class, response_class = grpc_messages()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        rpc = channel.unary_unary(
            "/etcdserverpb.KV/Range",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        read_request = request_class(key=b"/bench/read", serializable=True)
        tree_request = request_class(key=b"/tree/", range_end=b"/tree0", serializable=True)

        async def grpc_call(request: Any) -> int:
            answer = await rpc(request)
            return sum(len(kv.key) + len(kv.value) for kv in answer.kvs)

        ops["grpc"] = {"read": lambda: grpc_call(read_request), "range": lambda: grpc_call(tree_request)}
    loops.close = (session, writer, channel)  # type: ignore[attr-defined]
    return ops


async def fill(url: str) -> None:
    import aio_etcd as etcd

    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    async with etcd.Client(host=host, port=int(port)) as v2:
        await v2.write("/bench/read", VALUE)
        for start in range(0, TREE, 250):
            await asyncio.gather(*(v2.write(f"/tree/k{i:05}", VALUE) for i in range(start, start + 250)))
    from aio_etcd import v3

    async with v3.Client(url) as client:
        await client.put("/bench/read", VALUE)
        for start in range(0, TREE, 100):
            await client.txn().then(*(v3.txn.put(f"/tree/k{i:05}", VALUE) for i in range(start, start + 100))).commit()


async def run(url: str, pid: int, rounds: int, transports: list[str]) -> dict[str, dict[str, list[dict[str, float]]]]:
    await fill(url)
    ops = await loops(url, "grpc" in transports)
    figures: dict[str, dict[str, list[dict[str, float]]]] = {t: {"read": [], "range": []} for t in transports}
    try:
        for _ in range(rounds):
            for transport in transports:
                for workload, count in COUNTS.items():
                    op = ops[transport][workload]
                    assert await op() > 0  # the data is there; also opens the connection
                    gc.collect()
                    cpu, server, wall = time.process_time(), etcd_cpu(pid), time.perf_counter()
                    for _ in range(count):
                        await op()
                    cpu, server = time.process_time() - cpu, etcd_cpu(pid) - server
                    wall = time.perf_counter() - wall
                    figures[transport][workload].append(
                        {"cpu_us": cpu / count * 1e6, "etcd_cpu_us": server / count * 1e6, "ops_s": count / wall}
                    )
    finally:
        session, writer, channel = loops.close  # type: ignore[attr-defined]
        await session.close()
        writer.close()
        if channel is not None:
            await channel.close()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--transports", default=",".join(TRANSPORTS))
    parser.add_argument("--json", default="", help="where to write raw figures")
    args = parser.parse_args()
    transports = [t for t in args.transports.split(",") if t]
    try:
        import google.protobuf  # noqa: F401
        import grpc  # noqa: F401
    except ImportError:
        if "grpc" in transports:
            print("grpcio or protobuf not installed: grpc left out", file=sys.stderr)
            transports.remove("grpc")

    from aio_etcd.testing import EtcdCluster

    with EtcdCluster() as server:
        figures = asyncio.run(run(server.url, server.members[0].pid or 0, args.rounds, transports))
    print(f"{os.cpu_count()} cores, median of {args.rounds} rounds; client CPU per operation (ratio to v2), etcd CPU")
    print(f"{'transport':<12} {'read (one key)':<36} range ({TREE:,} keys)")
    for transport in transports:
        cells = []
        for workload in COUNTS:
            runs = figures[transport][workload]
            cpu = statistics.median(r["cpu_us"] for r in runs)
            base = statistics.median(r["cpu_us"] for r in figures.get("v2", figures[transport])[workload])
            server = statistics.median(r["etcd_cpu_us"] for r in runs)
            cells.append(f"{cpu:,.0f} µs ({cpu / base:.2f}x), etcd {server:,.0f} µs")
        print(f"{transport:<12} {cells[0]:<36} {cells[1]}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rounds": args.rounds, "results": figures}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
