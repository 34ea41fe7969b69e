"""What a non-recursive read (a listing) of ``Client(api="v3")`` costs, for a few directory shapes.

    python benchmarks/listing_shapes.py [--reads 10] [--rounds 3] [--json out.json]

It starts its own etcd (aio_etcd.testing), writes the shapes as plain v3 keys
(values of 100 bytes), then, for each round and each v3 transport (the
gateway, gRPC when the ``grpc`` extra is installed), lists each shape's
directory ``--reads`` times and prints the client CPU per listing, the
requests one listing makes and the key-values it reads (counted once, through
the store's requests). Compare two versions of aio_etcd by running it with
each on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

import aio_etcd as etcd
from aio_etcd import v3
from aio_etcd.testing import EtcdCluster

SHAPES = {
    "10 sub-directories of 2,000 keys": [f"/s1/d{d:02}/k{k:04}" for d in range(10) for k in range(2000)],
    "50 sub-directories of 100 keys": [f"/s2/d{d:02}/k{k:03}" for d in range(50) for k in range(100)],
    "1 sub-directory of 5,000 keys, 20 keys": [f"/s3/big/k{k:04}" for k in range(5000)]
    + [f"/s3/f{k:02}" for k in range(20)],
    "200 keys": [f"/s4/f{k:03}" for k in range(200)],
}


async def fill(server: EtcdCluster) -> None:
    async with server.v3_client() as client:
        for names in SHAPES.values():
            for at in range(0, len(names), 100):
                txn = client.txn()
                txn.then(*(v3.txn.put(name, b"v" * 100) for name in names[at : at + 100]))
                await txn.commit()


async def measure(url: str, transport: str, reads: int) -> dict[str, dict[str, float]]:
    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    out: dict[str, dict[str, float]] = {}
    async with etcd.Client(host=host, port=int(port), api="v3", v3_transport=transport) as client:
        store: Any = client.backend.store  # type: ignore[attr-defined]
        call = store._call
        ranged = getattr(store, "_range_message", None)  # over gRPC: the ranges that take etcd's messages
        counted = [0, 0]

        async def counting(path: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
            answer: dict[str, Any] = await call(path, body, **kw)
            counted[0] += 1
            counted[1] += len(answer.get("kvs") or [])
            return answer

        async def counting_messages(*args: Any, **kw: Any) -> Any:
            answer = await ranged(*args, **kw)
            counted[0] += 1
            counted[1] += len(answer.kvs)
            return answer

        for shape, names in SHAPES.items():
            directory = "/" + names[0].split("/")[1]
            await client.read(directory)  # connections up
            store._call = counting
            if ranged is not None:  # (aio_etcd before the listing took messages had none)
                store._range_message = counting_messages
            counted[:] = [0, 0]
            await client.read(directory)
            store._call = call
            if ranged is not None:
                store._range_message = ranged
            started = time.process_time()
            for _ in range(reads):
                await client.read(directory)
            cpu_ms = (time.process_time() - started) / reads * 1e3
            out[shape] = {"cpu_ms": cpu_ms, "requests": counted[0], "kvs_read": counted[1]}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reads", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="where to write raw figures")
    args = parser.parse_args()
    transports = ["gateway"]
    try:
        import grpc  # noqa: F401
    except ImportError:
        pass
    else:
        transports.append("grpc")
    results: dict[str, list[dict[str, dict[str, float]]]] = {t: [] for t in transports}
    with EtcdCluster() as server:
        asyncio.run(fill(server))
        for _ in range(args.rounds):
            for transport in transports:
                results[transport].append(asyncio.run(measure(server.url, transport, args.reads)))
    for transport, rounds in results.items():
        for shape in SHAPES:
            cpu = [r[shape]["cpu_ms"] for r in rounds]
            first = rounds[0][shape]
            print(
                f"{transport:8} {shape:40} {statistics.median(cpu):6.1f} ms ({min(cpu):.1f}-{max(cpu):.1f}), "
                f"{first['requests']:.0f} requests, {first['kvs_read']:.0f} key-values read"
            )
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"reads": args.reads, "rounds": args.rounds, "results": results}, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
