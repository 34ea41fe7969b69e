"""Client CPU per operation: aio_etcd against hand-written aiohttp and python-etcd.

    python benchmarks/bench.py [--quick] [--rounds 3] [--json results.json]

It starts its own etcd (aio_etcd.testing), fills it, then runs each contender in
a process of its own against that server, in the same order, for each round.
Every contender does the same HTTP requests:

- ``floor``: one aiohttp.ClientSession (connector without a connection limit),
  ``json.loads`` of each body, nothing else: the cheapest honest way by hand.
- ``aio_etcd``: this package through its public API.
- ``aio_etcd-v3``: the same calls with ``Client(api="v3")``: the v2 keys API on
  the same etcd's v3 store (filled alike), through the JSON gateway; its
  ratio to ``floor`` prices the v3 mode against hand-written v2 requests.
- ``aio_etcd-v3-http1``: ``aio_etcd-v3`` with its v3 client's ordinary
  calls over :mod:`aio_etcd._core.http1` (opt-in: its own HTTP/1.1
  connections instead of aiohttp's for short exchanges over plain HTTP;
  needs httptools, the ``http1`` extra, which the ``test`` extra includes).
- ``aio_etcd-v3-gateway``, ``aio_etcd-v3-grpc``: ``aio_etcd-v3`` with
  ``v3_transport`` given: the JSON gateway over aiohttp, or etcd's gRPC API
  (the ``grpc`` extra); ``aio_etcd-v3`` is the gateway, as in earlier figures.
- ``python-etcd``: the synchronous original (``pip install python-etcd==0.4.5``,
  or the ``bench`` extra), with a thread pool for the concurrent workloads;
  left out when it is not installed.

The table shows medians over the rounds: operations per second, client CPU
microseconds per operation (process CPU time / operations), p50 and p99
latency, each contender's CPU per operation relative to ``floor`` (with the
lowest and highest round's), and the
etcd process's CPU per operation during the same workload (from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VALUE = "v" * 100
TREE_DIRS, TREE_KEYS = 50, 100
WORKLOADS = ["read_seq", "write_seq", "read_conc", "write_conc", "tree_read", "tree_list", "watch_fanout"]
CONTENDERS = ["floor", "aio_etcd", "aio_etcd-v3", "aio_etcd-v3-http1", "python-etcd"]
#: Every contender the script knows (``--contenders``; the default runs :data:`CONTENDERS`).
KNOWN = [*CONTENDERS, "aio_etcd-v3-gateway", "aio_etcd-v3-grpc"]


def counts(quick: bool) -> dict[str, int]:
    scale = 10 if quick else 1
    return {
        "read_seq": 3000 // scale,
        "write_seq": 3000 // scale,
        "read_conc": 20000 // scale,
        "write_conc": 10000 // scale,
        "tree_read": max(20 // scale, 2),
        "tree_list": max(200 // scale, 2),
        "watch_fanout": 1000 // scale,
    }


# -- measuring ------------------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


#: The etcd process whose CPU time the workloads also count (``--etcd-pid``; 0: none).
ETCD_PID = 0


def etcd_cpu() -> float:
    """CPU seconds the etcd process used so far (user + system; 0 without ``ETCD_PID``)."""
    if not ETCD_PID:
        return 0.0
    with open(f"/proc/{ETCD_PID}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Meter:
    """Wall time, process CPU time (this one's and etcd's) and per-operation latencies of one workload."""

    def __init__(self) -> None:
        self.latencies: list[float] = []

    def __enter__(self) -> Meter:
        gc.collect()
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        self.etcd = etcd_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        self.etcd = etcd_cpu() - self.etcd

    def result(self, ops: int, **extra: float) -> dict[str, float]:
        lat = sorted(self.latencies) or [0.0]
        return {
            "ops": ops,
            "ops_per_s": ops / self.wall,
            "cpu_us_per_op": self.cpu / ops * 1e6,
            **({"etcd_cpu_us_per_op": self.etcd / ops * 1e6} if ETCD_PID else {}),
            "p50_ms": lat[len(lat) // 2] * 1e3,
            "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3,
            **extra,
        }


async def run_concurrently(meter: Meter, total: int, tasks: int, op: Callable[[int], Awaitable[object]]) -> None:
    next_op = iter(range(total))

    async def worker() -> None:
        for i in next_op:
            start = time.perf_counter()
            await op(i)
            meter.latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(worker() for _ in range(tasks)))


async def run_sequentially(meter: Meter, total: int, op: Callable[[int], Awaitable[object]]) -> None:
    for i in range(total):
        start = time.perf_counter()
        await op(i)
        meter.latencies.append(time.perf_counter() - start)


# -- contenders: each returns {workload: figures} -------------------------------------------


async def bench_floor(endpoint: str, n: dict[str, int], workloads: list[str]) -> dict[str, Any]:
    import aiohttp

    base = endpoint + "/v2/keys"
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def read(_: int) -> Any:
            async with session.get(base + "/bench/read") as resp:
                return json.loads(await resp.read())

        async def write(i: int) -> Any:
            async with session.put(base + f"/bench/w/k{i % 100}", data={"value": VALUE}) as resp:
                return json.loads(await resp.read())

        async def tree(_: int) -> int:
            async with session.get(base + "/bench/tree?recursive=true") as resp:
                body = json.loads(await resp.read())
            seen = 0
            stack = [body["node"]]
            while stack:
                node = stack.pop()
                if node.get("dir"):
                    stack.extend(node.get("nodes", []))
                else:
                    seen += len(node["key"]) + len(node["value"])
            return seen

        async def listing(_: int) -> int:
            async with session.get(base + "/bench/tree") as resp:
                body = json.loads(await resp.read())
            return sum(len(node["key"]) for node in body["node"].get("nodes", []))

        async def watch(index: int) -> Any:
            async with session.get(base + f"/bench/watch?wait=true&waitIndex={index}") as resp:
                return json.loads(await resp.read())

        async def put_watch() -> int:
            async with session.put(base + "/bench/watch", data={"value": "w"}) as resp:
                return int(json.loads(await resp.read())["node"]["modifiedIndex"])

        await run_workloads(out, workloads, n, read, write, tree, listing, watch, put_watch)
    return out


async def bench_aio_etcd(
    endpoint: str,
    n: dict[str, int],
    workloads: list[str],
    api: str = "v2",
    http1: bool = False,
    v3_transport: str | None = None,
) -> dict[str, Any]:
    import aio_etcd as etcd

    host, port = endpoint.rsplit("//", 1)[1].rsplit(":", 1)
    out: dict[str, Any] = {}
    options: dict[str, Any] = {}
    if http1:
        from aio_etcd._core.http1 import Http1Transport

        options["transport"] = Http1Transport()
    if v3_transport is not None:
        options["v3_transport"] = v3_transport
    elif api == "v3":
        options["v3_transport"] = "gateway"  # the contender is the gateway's ("auto" is gRPC with the extra)
    async with etcd.Client(host=host, port=int(port), api=api, **options) as client:

        async def read(_: int) -> Any:
            return await client.read("/bench/read")

        async def write(i: int) -> Any:
            return await client.write(f"/bench/w/k{i % 100}", VALUE)

        async def tree(_: int) -> int:
            result = await client.read("/bench/tree", recursive=True)
            seen = 0
            for leaf in result.leaves:
                seen += len(leaf.key or "") + len(leaf.value or "")
            return seen

        async def listing(_: int) -> int:
            result = await client.read("/bench/tree")
            return sum(len(child.key or "") for child in result.children)

        async def watch(index: int) -> Any:
            return await client.watch("/bench/watch", index=index)

        async def put_watch() -> int:
            return (await client.write("/bench/watch", "w")).modifiedIndex or 0

        await run_workloads(out, workloads, n, read, write, tree, listing, watch, put_watch)
    return out


async def run_workloads(
    out: dict[str, Any],
    workloads: list[str],
    n: dict[str, int],
    read: Callable[[int], Awaitable[Any]],
    write: Callable[[int], Awaitable[Any]],
    tree: Callable[[int], Awaitable[int]],
    listing: Callable[[int], Awaitable[int]],
    watch: Callable[[int], Awaitable[Any]],
    put_watch: Callable[[], Awaitable[int]],
) -> None:
    await read(0)  # open a connection before measuring
    for name in workloads:
        meter = Meter()
        if name == "read_seq":
            with meter:
                await run_sequentially(meter, n[name], read)
        elif name == "write_seq":
            with meter:
                await run_sequentially(meter, n[name], write)
        elif name == "read_conc":
            with meter:
                await run_concurrently(meter, n[name], 64, read)
        elif name == "write_conc":
            with meter:
                await run_concurrently(meter, n[name], 64, write)
        elif name == "tree_read":
            with meter:
                await run_sequentially(meter, n[name], tree)
        elif name == "tree_list":
            with meter:
                await run_sequentially(meter, n[name], listing)
        elif name == "watch_fanout":
            out[name] = await fanout(n[name], watch, put_watch)
            continue
        out[name] = meter.result(n[name])


async def fanout(
    count: int, watch: Callable[[int], Awaitable[Any]], put_watch: Callable[[], Awaitable[int]]
) -> dict[str, float]:
    index = await put_watch() + 1
    gc.collect()
    rss_before = rss_bytes()
    cpu = time.process_time()
    tasks = [asyncio.ensure_future(watch(index)) for _ in range(count)]
    await asyncio.sleep(1.0)  # let every watch reach the server before the write
    rss_growth = (rss_bytes() - rss_before) / count
    pending = sum(not t.done() for t in tasks)
    wall = time.perf_counter()
    written = await put_watch()
    events = await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.perf_counter() - wall
    # Delivered: the watcher was still waiting when the write was made, and woke with that write.
    delivered = sum(event_index(event) == written for event in events) if pending == count else 0
    cpu = time.process_time() - cpu
    return {
        "ops": count,
        "ops_per_s": count / wall,
        "cpu_us_per_op": cpu / count * 1e6,
        "p50_ms": wall * 1e3,
        "p99_ms": wall * 1e3,
        "rss_bytes_per_watcher": rss_growth,
        "pending_before_write": pending,
        "delivered": delivered,
    }


def event_index(event: Any) -> int | None:
    """The modifiedIndex of a watch result of either contender (an EtcdResult or etcd's JSON)."""
    if isinstance(event, dict):
        return int(event["node"]["modifiedIndex"])
    return getattr(event, "modifiedIndex", None)


def bench_python_etcd(endpoint: str, n: dict[str, int], workloads: list[str]) -> dict[str, Any]:
    import threading

    import etcd  # python-etcd

    host, port = endpoint.rsplit("//", 1)[1].rsplit(":", 1)
    local = threading.local()

    def client() -> Any:
        if not hasattr(local, "client"):
            local.client = etcd.Client(host=host, port=int(port))
        return local.client

    def read(_: int) -> Any:
        return client().read("/bench/read")

    def write(i: int) -> Any:
        return client().write(f"/bench/w/k{i % 100}", VALUE)

    def tree(_: int) -> int:
        result = client().read("/bench/tree", recursive=True)
        return sum(len(leaf.key or "") + len(leaf.value or "") for leaf in result.leaves)

    out: dict[str, Any] = {}
    read(0)
    for name in workloads:
        meter = Meter()
        op = {"read_seq": read, "write_seq": write, "read_conc": read, "write_conc": write, "tree_read": tree}.get(name)
        if op is None:
            continue  # 1,000 blocked threads is not a fair fan-out contender
        with meter:
            if name.endswith("_conc"):
                with ThreadPoolExecutor(64) as pool:

                    def timed(i: int, op: Callable[[int], Any] = op) -> float:
                        start = time.perf_counter()
                        op(i)
                        return time.perf_counter() - start

                    meter.latencies = list(pool.map(timed, range(n[name])))
            else:
                for i in range(n[name]):
                    start = time.perf_counter()
                    op(i)
                    meter.latencies.append(time.perf_counter() - start)
        out[name] = meter.result(n[name])
    return out


def child(contender: str, endpoint: str, quick: bool, workloads: list[str], etcd_pid: int = 0) -> None:
    global ETCD_PID
    ETCD_PID = etcd_pid
    n = counts(quick)
    if contender == "floor":
        result = asyncio.run(bench_floor(endpoint, n, workloads))
    elif contender == "aio_etcd":
        result = asyncio.run(bench_aio_etcd(endpoint, n, workloads))
    elif contender == "aio_etcd-v3":
        result = asyncio.run(bench_aio_etcd(endpoint, n, workloads, api="v3"))
    elif contender == "aio_etcd-v3-http1":
        result = asyncio.run(bench_aio_etcd(endpoint, n, workloads, api="v3", http1=True))
    elif contender.startswith("aio_etcd-v3-"):
        v3_transport = contender.rsplit("-", 1)[1]
        result = asyncio.run(bench_aio_etcd(endpoint, n, workloads, api="v3", v3_transport=v3_transport))
    else:
        result = bench_python_etcd(endpoint, n, workloads)
    print(json.dumps(result))


# -- the parent: server, rounds, table ------------------------------------------------------


async def fill(endpoint: str, api: str = "v2") -> None:
    import aio_etcd as etcd

    host, port = endpoint.rsplit("//", 1)[1].rsplit(":", 1)
    async with etcd.Client(host=host, port=int(port), api=api) as client:
        await client.write("/bench/read", VALUE)
        await client.write("/bench/watch", "w")
        keys = [f"/bench/tree/d{d:02}/k{k:03}" for d in range(TREE_DIRS) for k in range(TREE_KEYS)]
        for start in range(0, len(keys), 200):
            await asyncio.gather(*(client.write(key, VALUE) for key in keys[start : start + 200]))


def available(contender: str) -> bool:
    module = {"python-etcd": "etcd", "aio_etcd-v3-grpc": "grpc", "aio_etcd-v3-http1": "httptools"}.get(contender)
    if module is None:
        return True
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def table(results: dict[str, dict[str, list[dict[str, float]]]], contenders: list[str], workloads: list[str]) -> str:
    def median(contender: str, workload: str, field: str) -> float | None:
        runs = [r[field] for r in results.get(contender, {}).get(workload, []) if field in r]
        return statistics.median(runs) if runs else None

    lines = [
        "| workload | " + " | ".join(contenders) + " |",
        "|---|" + "---|" * len(contenders),
    ]
    for workload in workloads:
        cells = []
        floor_cpu = median("floor", workload, "cpu_us_per_op")
        for contender in contenders:
            cpu = median(contender, workload, "cpu_us_per_op")
            if cpu is None:
                cells.append("n/a")
                continue
            ops = median(contender, workload, "ops_per_s") or 0
            p50 = median(contender, workload, "p50_ms") or 0
            p99 = median(contender, workload, "p99_ms") or 0
            ratio = f"{cpu / floor_cpu:.2f}x" if floor_cpu else "-"
            runs = [r["cpu_us_per_op"] for r in results[contender][workload]]
            if floor_cpu and len(runs) > 1:  # the spread over the rounds
                ratio += f" {min(runs) / floor_cpu:.2f}-{max(runs) / floor_cpu:.2f}"
            cell = f"{ops:,.0f} op/s, {cpu:,.0f} µs CPU/op ({ratio}), p50 {p50:.2f} ms, p99 {p99:.2f} ms"
            etcd = median(contender, workload, "etcd_cpu_us_per_op")
            if etcd is not None:
                cell += f", etcd {etcd:,.0f} µs CPU/op"
            if workload == "watch_fanout":
                rss = median(contender, workload, "rss_bytes_per_watcher") or 0
                cell = (
                    f"all {ops and int(median(contender, workload, 'ops') or 0)} woke in {p50:.0f} ms, "
                    f"{cpu:,.0f} µs CPU/event ({ratio}), {rss / 1024:.1f} KB RSS/watcher"
                )
            cells.append(cell)
        lines.append(f"| {workload} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="divide every count by 10")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default=str(HERE / "results" / "latest.json"), help="where to write raw figures")
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="of: " + ", ".join(KNOWN))
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--etcd-pid", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    workloads = [w for w in args.workloads.split(",") if w]
    unknown = set(workloads) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {sorted(unknown)}")
    if args.child:
        child(args.child, args.endpoint, args.quick, workloads, args.etcd_pid)
        return 0

    from aio_etcd.testing import EtcdCluster

    contenders = [c for c in args.contenders.split(",") if c]
    unknown = set(contenders) - set(KNOWN)
    if unknown:
        parser.error(f"unknown contenders: {sorted(unknown)} (known: {', '.join(KNOWN)})")
    skipped = [c for c in contenders if not available(c)]
    running = [c for c in contenders if c not in skipped]
    results: dict[str, dict[str, list[dict[str, float]]]] = {c: {} for c in running}
    with EtcdCluster() as server:
        asyncio.run(fill(server.url))
        if any(c.startswith("aio_etcd-v3") for c in running):
            asyncio.run(fill(server.url, api="v3"))
        for round_number in range(1, args.rounds + 1):
            for contender in running:
                cmd = [sys.executable, __file__, "--child", contender, "--endpoint", server.url]
                cmd += ["--etcd-pid", str(server.members[0].pid or 0)]
                cmd += ["--workloads", ",".join(workloads)] + (["--quick"] if args.quick else [])
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
                if done.returncode != 0:
                    print(done.stdout, done.stderr, file=sys.stderr)
                    raise SystemExit(f"{contender} failed in round {round_number}")
                for workload, figures in json.loads(done.stdout.splitlines()[-1]).items():
                    results[contender].setdefault(workload, []).append(figures)
                print(f"round {round_number}: {contender} done", file=sys.stderr)

    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{'quick' if args.quick else 'full'} counts, median of {args.rounds} rounds")
    if skipped:
        print(f"Not installed, left out: {', '.join(skipped)}")
    print()
    print(table(results, running, workloads))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"quick": args.quick, "rounds": args.rounds, "results": results}, indent=1))
    print(f"\nraw figures: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
