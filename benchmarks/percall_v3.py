"""What aio_etcd.v3 adds to each gRPC call, measured in one process beside a hand-written loop.

    python benchmarks/percall_v3.py [--rounds 9] [--etcd-version 3.7] [--json out.json]

``bench_v3.py`` runs each contender in a process of its own, which also prices
what differs between processes (the modules imported, the heap the garbage
collector walks, when each started against etcd), and single calls in
sequence vary by 10% from one process to the next. Here the contenders take
turns in one process, on one etcd, in every round, on the same channel
settings they would have anyway:

- ``grpc-floor``: ``grpc.aio`` calls by path on one channel, one request
  message made once (as in bench_v3.py);
- ``aio_etcd.v3-grpc``: ``v3.Client(url, transport="grpc")``: ``get``, ``put``, ``range``;
- ``aetcd``: ``aetcd.Client``'s ``get``, ``put``, ``get_prefix``, when it is installed.

Each round runs every workload (3,000 gets and puts one after another, 12,800
gets and 6,400 puts 64 at a time, 40 ranges of 5,000 keys of 100 bytes, the
keys counted) for each contender in turn, in an order that
rotates from round to round. It prints, per workload, the median client CPU
per call, etcd's CPU per call (its threads' run time, as bench_v3.py reads
it) and calls per second, and each contender's median ratio to the floor's
figure of the same round.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import bench_v3  # noqa: E402
from bench_v3 import CONCURRENCY  # noqa: E402

COUNTS = {"get_seq": 3000, "put_seq": 3000, "get_conc": 12800, "put_conc": 6400, "range_5000": 40}
VALUE = b"v" * 100

Op = Callable[[], Awaitable[Any]]
RANGE_KEYS = 5000
#: contender -> workload -> each round's figures
Results = dict[str, dict[str, list[dict[str, float]]]]


async def run(op: Op, count: int, concurrent: bool) -> None:
    if concurrent:
        await bench_v3.conc(op, count)
    else:
        for _ in range(count):
            await op()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--etcd-version", help="run on this etcd (3.6, 3.7.3...: tools/etcd/build.sh builds it)")
    parser.add_argument("--json", help="where to write the raw figures")
    parser.add_argument("--quick", action="store_true", help="a tenth of each count")
    args = parser.parse_args()
    counts = {name: n // 10 if args.quick else n for name, n in COUNTS.items()}

    import grpc

    from aio_etcd import v3
    from aio_etcd.testing import EtcdCluster
    from aio_etcd.v3._grpc import messages

    pb = messages.etcdserverpb
    async with EtcdCluster(v2=False, version=args.etcd_version) as cluster:
        url = cluster.client_urls[0]
        pid = cluster.members[0].pid
        assert pid is not None and cluster.etcd_version is not None
        bench_v3.ETCD_PID = pid  # its measure() reads etcd's CPU around each workload
        version = ".".join(map(str, cluster.etcd_version))
        async with (
            grpc.aio.insecure_channel(url.split("://", 1)[1]) as channel,
            v3.Client(url, per_member=CONCURRENCY, transport="grpc") as ours,
        ):
            range_ = messages.bind(channel, "/etcdserverpb.KV/Range")
            put = messages.bind(channel, "/etcdserverpb.KV/Put")
            get_req = pb.RangeRequest(key=b"/bench/k")
            put_req = pb.PutRequest(key=b"/bench/k", value=VALUE)
            range_req = pb.RangeRequest(key=b"/range/", range_end=b"/range0")

            async def floor_range() -> None:
                assert len((await range_(range_req)).kvs) == RANGE_KEYS

            async def our_range() -> None:
                assert len((await ours.range("/range/", prefix=True)).kvs) == RANGE_KEYS

            ops: dict[str, tuple[Op, Op, Op]] = {
                "grpc-floor": (lambda: range_(get_req), lambda: put(put_req), floor_range),
                "aio_etcd.v3-grpc": (lambda: ours.get("/bench/k"), lambda: ours.put("/bench/k", VALUE), our_range),
            }
            closers = []
            try:
                import aetcd
            except ImportError:
                print("aetcd is not installed: left out")
            else:
                host, port = url.split("://", 1)[1].rsplit(":", 1)
                peer = aetcd.Client(host=host, port=int(port))
                await peer.connect()
                closers.append(peer.close)

                async def peer_range() -> None:
                    assert len(list(await peer.get_prefix(b"/range/"))) == RANGE_KEYS

                ops["aetcd"] = (lambda: peer.get(b"/bench/k"), lambda: peer.put(b"/bench/k", VALUE), peer_range)
            await ours.put("/bench/k", VALUE)
            for start in range(0, RANGE_KEYS, 100):
                puts = [v3.txn.put(f"/range/{i:05d}", VALUE) for i in range(start, start + 100)]
                await ours.txn().then(*puts).commit()
            names = list(ops)
            for get_op, put_op, range_op in ops.values():  # each channel connected and warm
                await range_op()
                for _ in range(200):
                    await get_op()
                    await put_op()
            results: Results = {n: {w: [] for w in counts} for n in names}
            for number in range(args.rounds):
                order = names[number % len(names) :] + names[: number % len(names)]
                for workload, count in counts.items():
                    for name in order:
                        op = ops[name][("get", "put", "range").index(workload.split("_")[0])]
                        concurrent = workload.endswith("conc")
                        figures = await bench_v3.measure(functools.partial(run, op, count, concurrent), count)
                        results[name][workload].append(figures)
                print(f"round {number + 1}/{args.rounds} done", flush=True)
            for close in closers:
                await close()
    print(table(results, names, list(counts), args.rounds, version))
    if args.json:
        with open(args.json, "w") as out:  # noqa: ASYNC230 - once, after every measurement
            json.dump({"etcd": version, "rounds": args.rounds, "results": results}, out, indent=1)


def table(results: Results, names: list[str], workloads: list[str], rounds: int, version: str) -> str:
    lines = [
        f"etcd {version}, {rounds} rounds in one process; ratios to grpc-floor in the same round (median)",
        "workload    contender           client us      x   etcd us      x    ops/s",
    ]
    for workload in workloads:
        floor = results["grpc-floor"][workload]
        for name in names:
            runs = results[name][workload]
            cpu = statistics.median(r["cpu_us"] for r in runs)
            etcd = statistics.median(r["etcd_us"] for r in runs)
            ops = statistics.median(r["ops_s"] for r in runs)
            x_cpu = statistics.median(r["cpu_us"] / f["cpu_us"] for r, f in zip(runs, floor, strict=True))
            x_etcd = statistics.median(r["etcd_us"] / f["etcd_us"] for r, f in zip(runs, floor, strict=True))
            lines.append(
                f"{workload:10s}  {name:18s}  {cpu:9.1f}  {x_cpu:5.2f}  {etcd:8.1f}  {x_etcd:5.2f}  {ops:7.0f}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    asyncio.run(main())
