"""Dispatch of ``aio-etcd`` commands."""

from __future__ import annotations

import argparse
import asyncio
import sys

from .. import __version__
from . import lock
from .options import UsageError, add_global_options

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aio-etcd", description="A command line for etcd's v2 API, on aio_etcd.")
    parser.add_argument("--version", action="version", version=f"aio-etcd {__version__}")
    add_global_options(parser)
    commands = parser.add_subparsers(dest="cmd", metavar="COMMAND")
    lock.add_parser(commands)
    commands.add_parser("dev", help="start a development etcd until Ctrl-C", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``aio-etcd`` with ``argv`` (default: the process's arguments); the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["dev"]:
        from .._dev import main as dev

        return dev(argv[1:], prog="aio-etcd dev")
    command: list[str] = []
    if "--" in argv:  # what follows is the command of `lock`, not options
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
    parser = _parser()
    args = parser.parse_args(argv)
    if args.cmd is None:
        parser.print_help()
        return 3
    try:
        return asyncio.run(lock.run(args, command))
    except UsageError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
