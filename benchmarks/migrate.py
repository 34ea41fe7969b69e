"""The figures of ``aio-etcd migrate`` on one machine (one etcd 3.5.1 serving both APIs).

    python benchmarks/migrate.py [--keys 100000] [--rate 500] [--after 60] [--ttl 5-600] [--json FILE]

1. ``copy``: the key space (``--keys`` keys in 1,000 directories, 10% with a
   TTL drawn uniformly from the ``--ttl`` range, in seconds) copied to v3 and
   verified, in this process; wall time and CPU. Short TTLs run out during
   the copy and during the verify: the figures count them.
2. ``follow``: ``aio-etcd migrate --follow`` in a process of its own while a
   writer changes ``--rate`` keys a second (sets, a fifth of them with a TTL
   from the range, deletes, refreshes to a new TTL from the range) during
   the copy and ``--after`` seconds after it; once the writer stops and the
   migrator has applied its last change, SIGINT; then ``--verify``.
3. ``kill``: a copy killed with SIGKILL mid-way, changes made, run again,
   then verified.

A v3 watch on each destination counts writes of an older value after a newer
one (every value carries the writer's sequence number). Stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import aio_etcd as etcd  # noqa: E402
from aio_etcd import v3  # noqa: E402
from aio_etcd.migrate import migrate, progress_key, verify  # noqa: E402
from aio_etcd.testing import EtcdCluster  # noqa: E402


async def fill(source: etcd.Client, keys: int, ttls: tuple[int, int]) -> None:
    slots = asyncio.Semaphore(64)
    rng = random.Random(3)

    async def put(i: int) -> None:
        async with slots:
            await source.write(f"/bench/d{i % 1000}/k{i}", "0", ttl=rng.randint(*ttls) if i % 10 == 0 else None)

    await asyncio.gather(*(put(i) for i in range(keys)))


class OlderAfterNewer:
    """Watches a destination; counts puts whose sequence number is below one seen before for the key."""

    def __init__(self, dest: v3.Client, prefix: str) -> None:
        self.dest = dest
        self.prefix = prefix
        self.seen: dict[bytes, int] = {}
        self.count = 0
        self.events = 0
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ready = asyncio.Event()
        self.task = asyncio.create_task(self._run(ready))
        await ready.wait()

    async def _run(self, ready: asyncio.Event) -> None:
        async with self.dest.watch(self.prefix, prefix=True) as events:
            ready.set()
            async for event in events:
                self.events += 1
                if event.type != "PUT":
                    self.seen.pop(event.kv.key, None)
                    continue
                seq = int(event.kv.value or b"0")
                if seq < self.seen.get(event.kv.key, 0):
                    self.count += 1
                self.seen[event.kv.key] = seq

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


class Writer:
    """Changes ``rate`` keys a second: 70% sets (a fifth with a TTL), 15% deletes, 15% refreshes."""

    def __init__(self, source: etcd.Client, keys: int, rate: int, ttls: tuple[int, int]) -> None:
        self.source = source
        self.keys = keys
        self.rate = rate
        self.ttls = ttls
        self.seq = 0
        self.done = {"set": 0, "delete": 0, "refresh": 0, "refused": 0}
        self.last_index = 0

    async def run(self, until: asyncio.Event) -> None:
        rng = random.Random(7)
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        while not until.is_set():
            n += 1
            await asyncio.sleep(max(0.0, start + n / self.rate - loop.time()))
            i = rng.randrange(self.keys)
            key = f"/bench/d{i % 1000}/k{i}"
            roll = rng.random()
            try:
                if roll < 0.85:
                    if roll < 0.70:
                        self.seq += 1
                        ttl = rng.randint(*self.ttls) if rng.random() < 0.2 else None
                        result = await self.source.write(key, str(self.seq), ttl=ttl)
                        self.done["set"] += 1
                    else:
                        result = await self.source.delete(key)
                        self.done["delete"] += 1
                    # a v2 watch shows these (not refreshes): the migrator records them as applied
                    self.last_index = max(self.last_index, result.modifiedIndex or 0)
                else:
                    await self.source.refresh(key, ttl=rng.randint(*self.ttls))
                    self.done["refresh"] += 1
            except etcd.EtcdException:
                self.done["refused"] += 1  # a delete or refresh of a key deleted before


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "aio_etcd", "migrate", *args]


async def wait_applied(dest: v3.Client, key: bytes, index: int, limit: float = 60) -> float:
    began = time.monotonic()
    while time.monotonic() - began < limit:
        kv = await dest.get(key)
        if kv is not None and json.loads(kv.value).get("index", 0) >= index:
            return time.monotonic() - began
        await asyncio.sleep(0.05)
    raise RuntimeError(f"the migrator did not reach index {index} within {limit}s")


async def main(args: argparse.Namespace) -> dict[str, Any]:
    ttls = args.ttl
    out: dict[str, Any] = {"keys": args.keys, "rate": args.rate, "after": args.after, "ttl_range_s": list(ttls)}
    with EtcdCluster() as server:
        async with server.client(per_host_pool_size=64) as source, server.v3_client(per_member=16) as dest:
            began = time.monotonic()
            await fill(source, args.keys, ttls)
            print(f"filled {args.keys:,} keys in {time.monotonic() - began:.1f}s", file=sys.stderr)

            # 1. copy and verify, in this process
            cpu, wall = time.process_time(), time.monotonic()
            report = await migrate(source, dest, prefix="/bench", dest_prefix="/a")
            copied = time.monotonic() - wall
            differences = await verify(source, dest, prefix="/bench", dest_prefix="/a")
            out["copy"] = {
                "copy_s": round(copied, 2),
                "copy_and_verify_s": round(time.monotonic() - wall, 2),
                "client_cpu_s": round(time.process_time() - cpu, 2),
                "keys_copied": report.keys_copied,
                "expired_during_copy": report.expired,
                "ttl_rereads": report.ttl_rereads,
                "leases_created": report.leases_created,
                "differences": len(differences),
                "expired_while_verifying": differences.expired,
                "first_differences": [str(d) for d in differences[:5]],
            }
            print("copy:", out["copy"], file=sys.stderr)

            # 2. follow while a writer changes keys, SIGINT, verify
            watcher = OlderAfterNewer(dest, "/b/")
            await watcher.start()
            writer = Writer(source, args.keys, args.rate, ttls)
            stop_writing = asyncio.Event()
            writing = asyncio.create_task(writer.run(stop_writing))
            proc = await asyncio.create_subprocess_exec(
                *cli("--from", server.url, "--to", server.url, "--prefix", "/bench", "--dest-prefix", "/b", "--follow",
                     "--ttl-poll", "5"),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            copy_began = time.monotonic()
            while (kv := await dest.get(progress_key("/bench", "/b"))) is None or "index" not in json.loads(kv.value):  # noqa: ASYNC110
                await asyncio.sleep(0.1)  # the migrator's progress record says the copy is done
            copy_took = time.monotonic() - copy_began
            await asyncio.sleep(args.after)
            stop_writing.set()
            await writing
            lag = await wait_applied(dest, progress_key("/bench", "/b"), writer.last_index)
            await asyncio.sleep(6)  # one more TTL poll for the last refreshes
            proc.send_signal(signal.SIGINT)
            stdout, stderr = await proc.communicate()
            report_b = json.loads(stdout)
            differences = await verify(source, dest, prefix="/bench", dest_prefix="/b")
            await watcher.stop()
            out["follow"] = {
                "copy_s": round(copy_took, 1),
                "writes": writer.done,
                "changes_followed": report_b["changes_followed"],
                "ttl_moves": report_b["ttl_moves"],
                "expired": report_b["expired"],
                "ttl_rereads": report_b["ttl_rereads"],
                "expired_while_verifying": differences.expired,
                "caught_up_after_writer_stopped_s": round(lag, 2),
                "exit_status": proc.returncode,
                "stderr_tail": stderr.decode()[-200:],
                "differences": len(differences),
                "first_differences": [str(d) for d in differences[:5]],
                "older_after_newer": watcher.count,
            }
            print("follow:", out["follow"], file=sys.stderr)

            # 3. SIGKILL mid-copy, change things, run again, verify
            watcher = OlderAfterNewer(dest, "/c/")
            await watcher.start()
            proc = await asyncio.create_subprocess_exec(
                *cli("--from", server.url, "--to", server.url, "--prefix", "/bench", "--dest-prefix", "/c"),
                stdout=subprocess.DEVNULL,
            )
            while (await dest.range("/c/", prefix=True, count_only=True)).count < args.keys // 3:
                if proc.returncode is not None:
                    break
                await asyncio.sleep(0.02)  # until a third is copied
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()
            out["kill_note"] = "killed mid-copy" if proc.returncode == -signal.SIGKILL else "the copy ended first"
            partial = (await dest.range("/c/", prefix=True, count_only=True)).count
            stop_writing = asyncio.Event()
            writing = asyncio.create_task(writer.run(stop_writing))
            await asyncio.sleep(5)
            stop_writing.set()
            await writing
            again = await asyncio.create_subprocess_exec(
                *cli("--from", server.url, "--to", server.url, "--prefix", "/bench", "--dest-prefix", "/c"),
                stdout=subprocess.PIPE,
            )
            stdout, _ = await again.communicate()
            differences = await verify(source, dest, prefix="/bench", dest_prefix="/c")
            await watcher.stop()
            out["kill"] = {
                "keys_before_kill": partial,
                "rerun_exit_status": again.returncode,
                "rerun": {k: json.loads(stdout)[k] for k in ("keys_copied", "expired", "reconciled", "duration")},
                "differences": len(differences),
                "expired_while_verifying": differences.expired,
                "first_differences": [str(d) for d in differences[:5]],
                "older_after_newer": watcher.count,
            }
            print("kill:", out["kill"], file=sys.stderr)
    return out


def _ttl_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        bounds = int(low), int(high or low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a TTL range is MIN-MAX in seconds, not {text!r}") from None
    if not 1 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"a TTL range needs 1 <= MIN <= MAX, not {text!r}")
    return bounds


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--after", type=float, default=60)
    parser.add_argument(
        "--ttl", type=_ttl_range, default=(5, 600), metavar="MIN-MAX", help="TTL range in seconds (default 5-600)"
    )
    parser.add_argument("--json", help="write the figures here too")
    arguments = parser.parse_args()
    figures = asyncio.run(main(arguments))
    print(json.dumps(figures, indent=2))
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(figures, indent=2))
