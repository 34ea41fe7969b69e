"""Leader kills under a v3 load: nothing acknowledged lost, no event missed or repeated, no lease or lock lost.

    python benchmarks/chaos_v3.py [--kills 5] [--json FILE]

A 3-member etcd (v3 only) and one v3 client with default settings:

- a writer puts keys one after another (a put is never sent twice: one whose
  outcome is unknown is counted, then looked up);
- a watch (multiplexed on a websocket, the default) follows those keys;
- three leases of TTL 3 s, each with a key, kept alive by the client;
- a lock (TTL 3 s) held the whole time;
- a reader gets a key in a loop.

Every few seconds the leader is killed (SIGKILL) and started again once the
others elected a new one. Stops by itself after ``--kills`` kills.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
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


async def main(kills: int) -> dict[str, Any]:
    out: dict[str, Any] = {"kills": kills}
    with EtcdCluster(size=3, v2=False) as cluster:
        async with v3.Client(*cluster.endpoints) as etcd:
            stop = asyncio.Event()
            acked: dict[str, str] = {}
            unknown: list[str] = []
            put_times: list[float] = []
            errors: dict[str, int] = {"put": 0, "get": 0}
            events: list[v3.Event] = []
            written = asyncio.Event()

            async def write() -> None:
                i = 0
                while not stop.is_set():
                    key = f"/chaos/w/{i}"
                    try:
                        await etcd.put(key, str(i))
                        acked[key] = str(i)
                        put_times.append(time.monotonic())
                        written.set()
                    except v3.EtcdOutcomeUnknown:
                        unknown.append(key)
                    except v3.EtcdException:
                        errors["put"] += 1
                    i += 1

            async def read() -> None:
                while not stop.is_set():
                    try:
                        await etcd.get("/chaos/w/0")
                    except v3.EtcdException:
                        errors["get"] += 1
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
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    figures = asyncio.run(main(args.kills))
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
