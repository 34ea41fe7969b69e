"""A dump of 100,000 keys loads back identical: ``aio-etcd dump`` and ``aio-etcd load`` at size.

    python benchmarks/dump_load.py [--keys 100000]

It starts its own etcd, writes the keys (10% with a TTL, 1,000 directories),
dumps them with ``aio-etcd dump``, deletes them, loads the dump back with
``aio-etcd load``, dumps again and compares the two dumps (TTL seconds left
aside). It prints the times and whether the dumps are identical.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aio_etcd as etcd
from aio_etcd.testing import EtcdCluster

PREFIX = "/bench-dump"


def _cli(url: str, *args: str, stdout: object = None, stdin: object = None) -> None:
    env = {**os.environ, "ETCDCTL_ENDPOINTS": url}
    subprocess.run([sys.executable, "-m", "aio_etcd", *args], env=env, stdout=stdout, stdin=stdin, check=True)


def _entries(path: Path) -> list[dict[str, object]]:
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    for entry in entries:
        if "ttl" in entry:
            entry["ttl"] = "T"
    return entries


async def _fill(url: str, count: int) -> None:
    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    async with etcd.Client(host=host, port=int(port)) as client:
        keys = [f"{PREFIX}/d{i % 1000:03}/k{i:06}" for i in range(count)]
        for start in range(0, count, 500):
            await asyncio.gather(
                *(client.write(key, f"value {key}", ttl=600 if i % 10 == 0 else None)
                  for i, key in enumerate(keys[start : start + 500], start))
            )


async def _delete(url: str) -> None:
    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    async with etcd.Client(host=host, port=int(port)) as client:
        await client.delete(PREFIX, recursive=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    args = parser.parse_args()
    with EtcdCluster() as server, tempfile.TemporaryDirectory() as scratch:
        first, second = Path(scratch) / "first.jsonl", Path(scratch) / "second.jsonl"
        started = time.perf_counter()
        asyncio.run(_fill(server.url, args.keys))
        filled = time.perf_counter()
        with first.open("w") as out:
            _cli(server.url, "dump", PREFIX, stdout=out)
        dumped = time.perf_counter()
        asyncio.run(_delete(server.url))
        with first.open() as source:
            _cli(server.url, "load", "-", stdin=source)
        loaded = time.perf_counter()
        with second.open("w") as out:
            _cli(server.url, "dump", PREFIX, stdout=out)
        same = _entries(first) == _entries(second)
        lines = len(first.read_text().splitlines())
    print(f"{args.keys:,} keys ({lines:,} lines with the directories): filled in {filled - started:.1f} s, "
          f"dumped in {dumped - filled:.1f} s, loaded in {loaded - dumped:.1f} s")
    print(f"the dump of the loaded keys is identical to the first: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
