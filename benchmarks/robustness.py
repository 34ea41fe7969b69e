"""A robustness run after etcd's tests/robustness: faults under load, every call recorded, the history checked.

    python benchmarks/robustness.py --mode v3 --etcd-version 3.7 --duration 60 [--seed N] [--out FILE.json]

A 3-member etcd on loopback whose peer traffic runs through proxies
(``benchmarks/robust/peerproxy.py``), so a member can be cut off completely.
While workers call etcd through the public API, a fault is injected every
1-3 s: SIGKILL of the leader or of a follower (restarted on its data), SIGSTOP
for 3-10 s, or a peer blackhole for 4-10 s.

Modes: ``v3`` (``aio_etcd.v3``: put, get, serializable get, delete,
compare-and-swap and two-key transactions, prefix watches, writes fenced by
``lock()``), ``api-v3`` and ``api-v2`` (``aio_etcd.Client(api=...)``: write,
compare-and-swap, append, delete, quorum and plain reads, ``watch_iter``;
``api-v2`` needs etcd 3.5). ``--transport`` says how the v3 calls go in
``v3`` and ``api-v3``: ``auto`` (the default: gRPC with the ``grpc`` extra),
``grpc``, ``gateway``, or ``http1`` (the gateway over the experimental
``aio_etcd._core.http1.Http1Transport``). ``--watchers N`` (default 2) watch
the prefix, each reopening its watch every 3-8 s from where it stopped;
with ``--shared-watch-client`` they all watch through one client, so their
watches share etcd watches (a reopened one joins a shared watch only where
that gives what a watch of its own would).

Afterwards the history is checked (``benchmarks/robust/checks.py``):
linearizability with porcupine (``tools/porcupine``), the watch guarantees,
writes applied once at their revision, stale reads, appends, fenced writes.
Prints a summary; exits 1 on any violation. docs/reliability.rst explains it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from robust import checks
from robust.cluster import Faults, ProxiedCluster
from robust.workload import FENCED, LOCK, Workload

MODES = ("v3", "api-v3", "api-v2")


async def run(args: argparse.Namespace, binary: str) -> dict[str, Any]:
    rng = random.Random(args.seed)
    cluster = ProxiedCluster(v2=args.mode == "api-v2", version=args.etcd_version)
    await asyncio.to_thread(cluster.start)
    try:
        version = ".".join(map(str, cluster.etcd_version or ()))
        workload = Workload(
            args.mode,
            cluster.endpoints,
            rng,
            workers=args.workers,
            rate=args.rate,
            transport=args.transport,
            watchers=args.watchers,
            shared_watch_client=args.shared_watch_client,
        )
        faults = Faults(cluster, rng)
        started = time.monotonic()
        fault_task = asyncio.create_task(faults.run(started + args.duration))
        try:
            await workload.run(args.duration)
        finally:
            fault_task.cancel()
            await asyncio.gather(fault_task, return_exceptions=True)
            for index in range(3):  # whatever the last fault was doing is undone
                await asyncio.to_thread(cluster.unblock, index)
                await asyncio.to_thread(cluster.start_member, index, wait=False)
            await asyncio.to_thread(cluster.wait_healthy)
        reference = await workload.reference()
    finally:
        await asyncio.to_thread(cluster.stop)
    return {
        "etcd": version,
        "seconds": round(time.monotonic() - started, 1),
        "workload": workload,
        "faults": faults,
        "reference": reference,
    }


def check(mode: str, workload: Workload, reference: list[Any] | None, binary: str, html: str | None) -> dict[str, Any]:
    records = workload.history.records
    props: dict[str, checks.Verdict] = {}
    if reference is not None:  # v3: the complete history read at the end
        applied = {r[3] for r in reference if r[2] != "DELETE"}
        props["linearizable"] = checks.linearizable(records, binary, applied=applied, html=html)
        props.update(checks.watch_v3(workload.watched, reference, workload.watch_starts))
        props["writes-applied-once"] = checks.writes(records, reference)
        props["stale-reads"] = checks.stale_reads(records, reference)
        props["fenced-writes"] = checks.fenced(records, reference, LOCK, FENCED)
    else:
        props["linearizable"] = checks.linearizable(records, binary, html=html)
        props.update(checks.watch_keys(workload.watched, records, workload.watch_starts))
        union, _ = checks.union_v2(workload.watched, records)
        props["writes-applied-once"] = checks.writes(records, union)
        props["stale-reads"] = checks.stale_reads(records, union)
        props["appends"] = checks.appends(records)
    return {name: verdict.as_dict() for name, verdict in props.items()}


def summary(args: argparse.Namespace, done: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    workload: Workload = done["workload"]
    faults: Faults = done["faults"]
    records = workload.history.records
    by_op: dict[str, Counter[str]] = {}
    for rec in records:
        by_op.setdefault(rec["op"], Counter())[rec["outcome"] or "none"] += 1
    outcomes = Counter(rec["outcome"] or "none" for rec in records)
    errors = Counter((rec["error"] or "").split(":")[0] for rec in records if rec["outcome"] == "unknown")
    return {
        "mode": args.mode,
        "transport": args.transport,
        "etcd": done["etcd"],
        "seed": args.seed,
        "duration": args.duration,
        "seconds": done["seconds"],
        "workers": args.workers,
        "operations": len(records),
        "outcomes": dict(outcomes),
        "by_op": {op: dict(c) for op, c in sorted(by_op.items())},
        "unknown_errors": dict(errors),
        "faults": dict(faults.done),
        "fault_log": faults.log,
        "watch": {
            "events": sum(1 for rows in workload.watched for row in rows if isinstance(row, tuple)),
            "resyncs": workload.watch_resyncs,
            "reopenings": sum(1 for rows in workload.watched for row in rows if row is None),
            "errors": workload.watch_errors,
            "error_kinds": workload.watch_error_kinds,
            # per watcher: the last revision (index) it delivered, of the last one written
            "last_delivered": [
                max((row[0] for row in rows if isinstance(row, tuple)), default=0) for rows in workload.watched
            ],
            "last_written": max(
                (r["out"].get("rev") or 0 for r in records if r["outcome"] == "ok" and r["out"]), default=0
            ),
            "reference_events": None if done["reference"] is None else len(done["reference"]),
        },
        "properties": props,
        "ok": all(p["ok"] for p in props.values()),
    }


def show(result: dict[str, Any]) -> None:
    print(
        f"robustness: mode {result['mode']} ({result['transport']}) on etcd {result['etcd']},"
        f" {result['seconds']} s, seed {result['seed']}"
    )
    print(f"  operations: {result['operations']} {result['outcomes']}")
    for op, outcomes in result["by_op"].items():
        print(f"    {op:11} {outcomes}")
    print(f"  unknown outcomes by error: {result['unknown_errors']}")
    print(f"  faults: {result['faults']}")
    print(f"  watch: {result['watch']}")
    for name, prop in result["properties"].items():
        state = "ok" if prop["ok"] else f"VIOLATED x{prop['violations']}"
        note = f" ({prop['note']})" if prop.get("note") else ""
        print(f"  {name:20} {state:14} checked {prop['checked']}{note}")
        for example in prop["examples"][:2]:
            print(f"      {json.dumps(example)[:1200]}")
    print("  verdict:", "PASS" if result["ok"] else "FAIL")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds of load and faults (default 60)")
    parser.add_argument("--etcd-version", default="3.7", help="3.5.1, 3.6, 3.7... (tools/etcd/build.sh builds 3.6+)")
    parser.add_argument("--mode", choices=MODES, default="v3")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument(
        "--transport",
        choices=("auto", "grpc", "gateway", "http1"),
        default="auto",
        help="how the v3 calls go (v3 and api-v3; http1: the gateway over Http1Transport; default auto)",
    )
    parser.add_argument("--watchers", type=int, default=2, help="watchers, each reopening its watch now and then")
    parser.add_argument(
        "--shared-watch-client",
        action="store_true",
        help="all watchers on one client, so that their identical watches share etcd watches (v3, api-v3)",
    )
    parser.add_argument("--rate", type=float, default=200, help="calls a second, all workers together (default 200)")
    parser.add_argument("--out", help="write the summary (and the history) as JSON here")
    parser.add_argument("--html", help="porcupine's visualization of non-linearizable keys goes here")
    args = parser.parse_args()
    if args.duration <= 0 or args.duration > 3600:
        parser.error("--duration is between 0 and 3600 seconds")
    if args.seed is None:
        args.seed = int(time.time())
    binary = checks.porcupine_binary()
    done = asyncio.run(run(args, binary))
    props = check(args.mode, done["workload"], done["reference"], binary, args.html)
    result = summary(args, done, props)
    show(result)
    if args.out:
        full = {**result, "history": done["workload"].history.records, "watched": done["workload"].watched}
        Path(args.out).write_text(json.dumps(full, indent=1, default=str))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
