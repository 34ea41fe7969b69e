"""Dispatch of ``aio-etcd`` commands: global options first, then the command and its own arguments.

As etcdctl v2 (urfave/cli): the global options end at the first word that is
not one of them, the command; ``COMMAND --help`` and ``help COMMAND`` print the
command's help; a flag that cannot be read prints ``Incorrect Usage`` and the
help on standard output, the error on standard error, and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import logging
import os
import sys

from .. import __version__
from ..client import Client
from . import auth, cluster, dump, keys, lock
from .flags import FlagError, wants_help
from .help import COMMAND_HELP, OWN_HELP, TOP_HELP, TOPIC_HELP
from .options import PlainExit, UsageError, add_global_options, client_for, client_options, duration, make_client

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
#: Commands with subcommands, and theirs.
_GROUPS = {
    "member": ("list", "add", "remove", "update"),
    "user": ("add", "get", "list", "remove", "grant", "revoke", "passwd"),
    "role": ("add", "get", "list", "remove", "grant", "revoke"),
    "auth": ("enable", "disable"),
}
#: Global options that take a value (the next word, or after ``=``).
_VALUE_OPTIONS = {
    "endpoints", "peers", "C", "endpoint", "discovery-srv", "D", "username", "u", "cert-file", "key-file", "ca-file",
    "timeout", "total-timeout", "api", "v3-transport", "output", "o",
}  # fmt: skip
_SWITCHES = {"no-sync", "help", "h", "version", "v"}


class _GlobalUsage(Exception):
    """A global option that cannot be read (Go's flag message)."""


def _text(lines: tuple[str, ...]) -> str:
    return "\n".join(lines)


def _top_help() -> str:
    return _text(TOP_HELP).replace("{version}", __version__)


#: Global options with two forms: urfave/cli refuses both at once.
_TWO_FORMS = (
    ("o", "output"), ("D", "discovery-srv"), ("u", "username"), ("C", "peers"), ("h", "help"), ("v", "version"),
)  # fmt: skip


class _TwoForms(Exception):
    """A global option given in both of its forms."""


def _split_globals(argv: list[str]) -> tuple[list[str], list[str]]:
    """The global options, and the command with its arguments (etcdctl's rule: flags until a word)."""
    options, words = _split(argv)
    given = {argv[i].lstrip("-").split("=", 1)[0] for i in _flag_positions(options)}
    for short, long in _TWO_FORMS:
        if short in given and long in given:
            raise _TwoForms(f"Cannot use two forms of the same flag: {short} {long}")
    return options, words


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            return argv[:i], argv[i + 1 :]
        if not token.startswith("-") or token == "-":
            return argv[:i], argv[i:]
        name = token.lstrip("-").split("=", 1)[0]
        if name in _VALUE_OPTIONS:
            if "=" not in token:
                if i + 1 >= len(argv):
                    raise _GlobalUsage(f"flag needs an argument: -{name}")
                i += 1
        elif name not in _SWITCHES:
            raise _GlobalUsage(f"flag provided but not defined: -{name}")
        i += 1
    return argv, []


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _GlobalUsage(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aio-etcd", add_help=False)
    parser.add_argument("--help", "-h", action="store_true")
    parser.add_argument("--version", "-v", action="store_true")
    add_global_options(parser)
    parser.add_argument("--output", "-o", default="simple")
    return parser


def _parse_globals(argv: list[str]) -> argparse.Namespace:
    positions = _flag_positions(argv)
    normalized = []
    for i, token in enumerate(argv):
        if i in positions:  # Go reads -name and --name alike
            name, sep, value = token.lstrip("-").partition("=")
            if name in ("timeout", "total-timeout"):
                value = value if sep else argv[i + 1]
                try:
                    duration(value)
                except ValueError:
                    raise _GlobalUsage(f'invalid value "{value}" for flag -{name}: parse error') from None
            token = ("-" if len(name) == 1 else "--") + name + sep + token.lstrip("-").partition("=")[2]
        normalized.append(token)
    return _parser().parse_args(normalized)


def _flag_positions(argv: list[str]) -> set[int]:
    """Where flags stand among the global options (not their values)."""
    positions, i = set(), 0
    while i < len(argv):
        positions.add(i)
        name = argv[i].lstrip("-").split("=", 1)[0]
        i += 2 if name in _VALUE_OPTIONS and "=" not in argv[i] else 1
    return positions


def _outlived(record: logging.LogRecord) -> bool:
    """Leave out asyncio's word that a child outlived the loop (``exec-watch``, ``lock`` stopped
    while their command runs): as with etcdctl, the command goes on by itself; not the tool's output."""
    return not str(record.msg).startswith("Loop %r that handles pid %r is closed")


def main(argv: list[str] | None = None) -> int:
    """Run ``aio-etcd`` with ``argv`` (default: the process's arguments); the exit status.

    A reader that goes away (``aio-etcd migrate ... | head``) ends the
    command quietly with status 141, as a shell tool killed by SIGPIPE does.
    """
    logging.getLogger("asyncio").addFilter(_outlived)
    # grpc's C core logs a refused TLS handshake to stderr at INFO level, beside the
    # error this tool prints: quiet unless asked for (read when grpc is imported).
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except BrokenPipeError:
        # Nothing more can be written; point stdout at nothing so the
        # interpreter's own flush at exit does not fail a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 128 + 13  # SIGPIPE


def _incorrect_usage(message: str, help_text: str, sep: str = ":") -> int:
    print(f"Incorrect Usage{sep} {message}\n\n{help_text}", end="")
    print(message, file=sys.stderr)
    return 1


def _help(topic: list[str]) -> int:
    """``aio-etcd help [COMMAND [SUBCOMMAND]]``."""
    if not topic:
        print(_top_help(), end="")
        return 0
    name = topic[0]
    if name in ("dev", "migrate"):
        return _main([name, "--help"])
    if name in TOPIC_HELP:
        print(_text(TOPIC_HELP[name]), end="")
        return 0
    text = COMMAND_HELP.get(name) or OWN_HELP.get(name)
    if text is None:
        print(f"No help topic for '{name}'", file=sys.stderr)
        return 3
    print(_text(text), end="")
    return 0


def _command_help(command: str, rest: list[str]) -> str | None:
    """The help ``COMMAND rest`` asks for, if it asks for help."""
    if command in _GROUPS:
        if not rest or rest[0] in ("-h", "--h", "-help", "--help", "help", "h"):
            if rest[1:2] and rest[0] in ("help", "h") and rest[1] in _GROUPS[command]:
                return _text(COMMAND_HELP[f"{command} {rest[1]}"])
            return _text(COMMAND_HELP[command])
        if rest[0] in _GROUPS[command] and wants_help(rest[1:]):
            return _text(COMMAND_HELP[f"{command} {rest[0]}"])
        return None
    if not wants_help(rest):
        return None
    text = COMMAND_HELP.get(command) or OWN_HELP.get(command)
    return None if text is None else _text(text)


def _usage_help(command: str, rest: list[str]) -> str:
    if command in _GROUPS and rest and rest[0] in _GROUPS[command]:
        return _text(COMMAND_HELP[f"{command} {rest[0]}"])
    return _text(COMMAND_HELP.get(command) or OWN_HELP.get(command) or TOP_HELP)


def _main(argv: list[str]) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # a line at a time, also into a pipe (watch --forever)
    if argv[:1] == ["dev"]:
        from .._dev import main as dev

        return dev(argv[1:], prog="aio-etcd dev")
    if argv[:1] == ["migrate"]:
        from .migrate import main as migrate

        return migrate(argv[1:])
    try:
        options, words = _split_globals(argv)
        args = _parse_globals(options)
    except _GlobalUsage as exc:
        return _incorrect_usage(str(exc), _top_help(), sep=".")
    except _TwoForms as exc:
        print(f"{exc}\n{_top_help()}", end="")
        print(exc, file=sys.stderr)
        return 1
    if args.version:
        print(f"aio-etcd version: {__version__}")
        return 0
    if args.help or not words:
        print(_top_help(), end="")
        return 0
    command, rest = words[0], words[1:]
    if command in ("dev", "migrate"):
        return _main(words)
    if command in ("help", "h"):
        return _help(rest)
    if command not in keys.COMMANDS and command not in _OTHERS and command != "lock":
        print(f"No help topic for '{command}'", file=sys.stderr)
        return 3
    asked = _command_help(command, rest)
    if asked is not None:
        print(asked, end="")
        return 0
    args.command, args.args = command, rest
    try:
        if command == "lock":
            return _lock(args, rest)
        return asyncio.run(_command(args))
    except FlagError as exc:
        return _incorrect_usage(str(exc), _usage_help(command, rest))
    except UsageError as exc:
        print(f"Error:  {exc}", file=sys.stderr)
        return 1
    except PlainExit as exc:
        print(exc, file=sys.stderr)
        return exc.code
    except ImportError as exc:  # --v3-transport grpc without the grpc extra
        print(f"Error:  {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _lock(args: argparse.Namespace, rest: list[str]) -> int:
    split = rest.index("--") if "--" in rest else len(rest)
    before, command = rest[:split], rest[split + 1 :]
    if not [word for word in before if not word.startswith("-")]:
        print("Error: a lock name is required: aio-etcd lock NAME [--ttl S] [--timeout S] -- COMMAND...",
              file=sys.stderr)  # fmt: skip
        return 2
    lock_args = lock.parser().parse_args(before, namespace=args)
    return asyncio.run(lock.run(lock_args, command))


async def _command(args: argparse.Namespace) -> int:
    options = client_options(args)
    keys.ENDPOINTS.set([url.strip() for url in args.endpoints.split(",") if url.strip()])
    async with make_client(args, options) as client:
        if args.command in keys.COMMANDS:
            return await keys.run_key_command(client, args.command, args.args, args.output)
        if args.command == "cluster-health":  # it asks each member alone, with the same TLS files and credentials

            def connect(url: str) -> Client:
                # That member only, once: a member without quorum answers 503 {"health": "false"}.
                retry = dataclasses.replace(options["retry"], attempts=1)
                return client_for(url, {**options, "use_proxies": True, "retry": retry})

            return await keys.guarded(cluster.cluster_health(client, args.args, args.output, connect=connect))
        return await keys.guarded(_OTHERS[args.command](client, args.args, args.output))
