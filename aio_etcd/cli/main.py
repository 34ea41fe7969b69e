"""Dispatch of ``aio-etcd`` commands: global options first, then the command and its own arguments."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys

from .. import __version__
from ..client import Client
from . import auth, cluster, dump, keys, lock
from .options import UsageError, add_global_options, client_for, client_options, make_client

__all__ = ["main"]

_OTHERS = {
    "watch": cluster.watch,
    "exec-watch": cluster.exec_watch,
    "member": cluster.member,
    "cluster-health": cluster.cluster_health,
    "user": auth.user,
    "role": auth.role,
    "auth": auth.auth,
    "dump": dump.dump,
    "load": dump.load,
}
_COMMANDS = {
    **{name: "etcdctl v2's " + name for name in [*keys.COMMANDS, *_OTHERS] if name not in ("dump", "load")},
    "dump": "a subtree as JSON lines on standard output: dump [PREFIX]",
    "load": "JSON lines of dump back into etcd: load FILE|- [--dry-run]",
    "lock": "run a command while holding a lock: lock NAME [--ttl S] [--timeout S] -- COMMAND...",
    "dev": "start a development etcd until Ctrl-C: dev [--members N] [--tls] [--auth] [--port P] [--data-dir D]",
    "migrate": "move a v2 key space to v3, follow it, verify: migrate --from URLS --to URLS [--follow] [--verify]",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aio-etcd",
        description="A command line for etcd's v2 API, on aio_etcd.",
        epilog="commands:\n" + "\n".join(f"  {name:<10} {what}" for name, what in _COMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"aio-etcd {__version__}")
    add_global_options(parser)
    parser.add_argument("--output", "-o", default="simple", help="simple, extended or json (default simple)")
    parser.add_argument("command", nargs="?", help="the command")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``aio-etcd`` with ``argv`` (default: the process's arguments); the exit status.

    A reader that goes away (``aio-etcd migrate ... | head``) ends the
    command quietly with status 141, as a shell tool killed by SIGPIPE does.
    """
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except BrokenPipeError:
        # Nothing more can be written; point stdout at nothing so the
        # interpreter's own flush at exit does not fail a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 128 + 13  # SIGPIPE


def _main(argv: list[str]) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # a line at a time, also into a pipe (watch --forever)
    if argv[:1] == ["dev"]:
        from .._dev import main as dev

        return dev(argv[1:], prog="aio-etcd dev")
    if argv[:1] == ["migrate"]:
        from .migrate import main as migrate

        return migrate(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 3
    try:
        if args.command == "lock":
            rest = args.args
            split = rest.index("--") if "--" in rest else len(rest)
            lock_args = lock.parser().parse_args(rest[:split], namespace=args)
            return asyncio.run(lock.run(lock_args, rest[split + 1 :]))
        if args.command in keys.COMMANDS or args.command in _OTHERS:
            return asyncio.run(_command(args))
    except UsageError as exc:
        print(f"Error:  {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"No help topic for {args.command!r}", file=sys.stderr)
    return 3


async def _command(args: argparse.Namespace) -> int:
    options = client_options(args)
    async with make_client(args, options) as client:
        if args.command in keys.COMMANDS:
            return await keys.run_key_command(client, args.command, args.args, args.output)
        if args.command == "cluster-health":  # it asks each member alone, with the same TLS files and credentials
            def connect(url: str) -> Client:
                return client_for(url, options)

            return await keys.guarded(cluster.cluster_health(client, args.args, args.output, connect=connect))
        return await keys.guarded(_OTHERS[args.command](client, args.args, args.output))
