"""``aio-etcd lock NAME [--ttl S] [--timeout S] -- COMMAND...``: run a command while holding a lock.

The command runs only while :class:`aio_etcd.Lock` ``NAME`` is held (its key
under the client's lock prefix, kept alive; with ``--api v3``, etcd's own lock
``NAME``, the one ``etcdctl lock NAME`` takes). Its exit status is passed through.
It is stopped (``SIGTERM``, then ``SIGKILL`` after 10 s) when Ctrl-C or
``SIGTERM`` arrives, or when the lock is lost: it never runs on without the
lock. The lock is released afterwards.

Exit status: the command's; 1 when the lock was lost while it ran or could not
be taken within ``--timeout`` (the command then did not run); 127 when the
command cannot be run; 130 or 143 when stopped by ``SIGINT`` or ``SIGTERM``; 2
for bad arguments; 4 when etcd could not be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from .._core import within
from ..exceptions import EtcdConnectionFailed, EtcdException
from ..lock import Lock
from .options import explain, make_client

__all__ = ["parser", "run"]

#: Seconds a command has to end after SIGTERM before it gets SIGKILL.
GRACE = 10.0


def parser() -> argparse.ArgumentParser:
    """The arguments of ``lock`` (what comes after ``--`` is the command)."""
    parser = argparse.ArgumentParser(
        prog="aio-etcd lock",
        description="Run a command while holding a lock.",
        epilog="The command comes after --: aio-etcd lock NAME [options] -- COMMAND [ARGS...]",
    )
    parser.add_argument("name", help="the lock's name")
    parser.add_argument("--ttl", type=int, default=10, help="seconds the lock outlives this process (default 10)")
    parser.add_argument(
        "--timeout", dest="lock_timeout", type=float, help="give up waiting for the lock after this many seconds"
    )
    return parser


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await within(proc.wait(), GRACE)
    except asyncio.TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def run(args: argparse.Namespace, command: list[str]) -> int:
    if not command:
        print("Error: a command to run is required after --", file=sys.stderr)
        return 2
    if args.ttl < 1:
        print("Error: --ttl must be at least 1", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[int] = loop.create_future()

    def stop(code: int) -> None:
        if not stopped.done():
            stopped.set_result(code)

    for signum, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        loop.add_signal_handler(signum, stop, code)
    async with make_client(args) as client:
        lock = Lock(client, args.name, ttl=args.ttl)
        acquire = lock.acquire(lock_ttl=args.ttl, timeout=args.lock_timeout)
        acquiring: asyncio.Future[bool] = asyncio.ensure_future(acquire)
        try:
            first: list[asyncio.Future[Any]] = [acquiring, stopped]
            await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
            if stopped.done():
                acquiring.cancel()  # a cancelled acquire removes its key
                await asyncio.gather(acquiring, return_exceptions=True)
                return stopped.result()
            if not acquiring.result():
                print(f"Error: lock {args.name!r} not acquired within {args.lock_timeout}s", file=sys.stderr)
                return 1
        except EtcdConnectionFailed as exc:
            print(f"Error: {explain(exc)}", file=sys.stderr)
            return 4
        except EtcdException as exc:
            print(f"Error: {explain(exc)}", file=sys.stderr)
            return 1
        async with lock:  # held already: renews it and keeps it alive
            try:
                proc = await asyncio.create_subprocess_exec(*command)
            except OSError as exc:
                print(f"Error: cannot run {command[0]!r}: {exc.strerror}", file=sys.stderr)
                return 127
            ended = asyncio.ensure_future(proc.wait())
            lost = asyncio.ensure_future(lock.lost.wait())
            watched: list[asyncio.Future[Any]] = [ended, lost, stopped]
            try:
                await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            finally:
                await _stop(proc)
                lost.cancel()
            if stopped.done():
                return stopped.result()
            if lost.done():
                print(f"Error: lock {args.name!r} was lost; the command was stopped", file=sys.stderr)
                return 1
            code = ended.result()
            return code if code >= 0 else 128 - code  # killed by a signal: as a shell reports it
