"""``aio-etcd dump [PREFIX]`` and ``aio-etcd load FILE``: a subtree as JSON lines, and back.

One JSON object a line, in tree order (a directory before what it holds):
``{"key": "/a/b", "value": "v"}``, ``{"key": "/a/t", "value": "v", "ttl": 30}``
(the TTL left at the time of the dump), ``{"key": "/a/d", "dir": true}``
(directories, empty ones included, with ``"ttl"`` when they have one). etcd
never lists names starting with ``_`` inside a listing: name a hidden
directory as PREFIX to dump it.

``load`` checks each line before writing it and stops at the first bad one
with ``line N: ...`` on standard error, so only the lines before it were
written; ``--dry-run`` only checks. Keys are written a few at a time, each
directory once everything before it is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from ..client import Client
from ..exceptions import EtcdAlreadyExist, EtcdException, EtcdNotFile
from ..result import EtcdResult
from .flags import FlagError, parse_flags
from .options import explain

__all__ = ["dump", "load"]

#: Writes under way at once while loading.
CONCURRENCY = 32


class _Progress:
    """A count on standard error, only when it is a terminal."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.count = 0
        self.shown = sys.stderr.isatty()

    def step(self) -> None:
        self.count += 1
        if self.shown and self.count % 500 == 0:
            print(f"\r{self.what}: {self.count:,}", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.shown:
            print(f"\r{self.what}: {self.count:,}", file=sys.stderr, flush=True)


def _lines(node: EtcdResult) -> Iterator[str]:
    entry: dict[str, Any]
    if node.dir:
        if node.key:  # the root has no key, and needs no line
            entry = {"key": node.key, "dir": True}
            if node.ttl:
                entry["ttl"] = node.ttl
            yield json.dumps(entry, ensure_ascii=False)
        for child in sorted(node.nodes, key=lambda n: n.key or ""):
            yield from _lines(child)
        return
    entry = {"key": node.key, "value": node.value or ""}
    if node.ttl:
        entry["ttl"] = node.ttl
    yield json.dumps(entry, ensure_ascii=False)


async def dump(client: Client, argv: list[str], output: str) -> int:
    args, _ = parse_flags(argv, {})
    prefix = args[0] if args else "/"
    tree = await client.read(prefix, recursive=True, sorted=True, timeout=600)
    progress = _Progress("dumped")
    out = sys.stdout
    for line in _lines(tree):
        out.write(line + "\n")
        progress.step()
    out.flush()
    progress.done()
    return 0


def _entry(line: str, number: int) -> dict[str, Any]:
    try:
        entry = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"line {number}: not JSON: {exc}") from None
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), str) or not entry["key"].startswith("/"):
        raise ValueError(f"line {number}: not an object with a key starting with /")
    ttl = entry.get("ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1):
        raise ValueError(f"line {number}: ttl must be a whole number of seconds >= 1")
    if entry.get("dir") is True:
        if "value" in entry:
            raise ValueError(f"line {number}: a directory has no value")
    elif not isinstance(entry.get("value"), str):
        raise ValueError(f"line {number}: a key needs a string value (or \"dir\": true)")
    unknown = set(entry) - {"key", "value", "dir", "ttl"}
    if unknown:
        raise ValueError(f"line {number}: unknown fields {sorted(unknown)}")
    return entry


async def load(client: Client, argv: list[str], output: str) -> int:
    try:
        args, flags = parse_flags(argv, {"dry-run": bool})
    except FlagError as exc:
        print(f"Incorrect Usage: {exc}", file=sys.stderr)
        return 1
    if len(args) != 1:
        print("Error:  a file to load is required (- for standard input)", file=sys.stderr)
        return 1
    try:
        # A command line program reading its input file: nothing else runs on this loop.
        source: TextIO = sys.stdin if args[0] == "-" else open(args[0], encoding="utf-8")  # noqa: SIM115, ASYNC230
    except OSError as exc:
        print(f"Error:  cannot read {args[0]}: {exc.strerror}", file=sys.stderr)
        return 1
    progress = _Progress("would load" if flags["dry-run"] else "loaded")
    pending: set[asyncio.Task[Any]] = set()
    written = keys = dirs = 0
    try:
        with source:
            for number, line in enumerate(source, 1):
                if not line.strip():
                    continue
                try:
                    entry = _entry(line, number)
                except ValueError as exc:
                    written += await _drain(pending)
                    print(f"Error:  {explain(exc)}; {written} entries before it were written", file=sys.stderr)
                    return 1
                if entry.get("dir"):
                    dirs += 1
                else:
                    keys += 1
                progress.step()
                if flags["dry-run"]:
                    continue
                if entry.get("dir"):
                    await _drain(pending)  # what it holds comes after it: write it alone, in order
                    await _write_dir(client, entry)
                    written += 1
                    continue
                while len(pending) >= CONCURRENCY:
                    done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    pending -= done
                    for task in done:
                        task.result()
                    written += len(done)
                pending.add(asyncio.ensure_future(client.write(entry["key"], entry["value"], ttl=entry.get("ttl"))))
            written += await _drain(pending)
    except EtcdException as exc:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        print(f"Error:  {explain(exc)}", file=sys.stderr)
        return 4
    progress.done()
    verb = "would be written" if flags["dry-run"] else "written"
    print(f"{keys} keys and {dirs} directories {verb}", file=sys.stderr)
    return 0


async def _drain(pending: set[asyncio.Task[Any]]) -> int:
    if not pending:
        return 0
    done = await asyncio.gather(*pending)
    pending.clear()
    return len(done)


async def _write_dir(client: Client, entry: dict[str, Any]) -> None:
    with contextlib.suppress(EtcdAlreadyExist, EtcdNotFile):  # already there
        await client.write(entry["key"], None, dir=True, ttl=entry.get("ttl"), prevExist=False)
