"""The key commands of etcdctl v2.

``get``, ``set``, ``mk``, ``mkdir``, ``setdir``, ``update``, ``updatedir``,
``rm``, ``rmdir`` and ``ls``.

Output and exit statuses follow etcd 3.5.1's ``etcdctl`` (``ETCDCTL_API=2``),
case by case; ``tests/cli/test_cli_keys.py`` runs both tools on the same commands
and compares them.
"""

from __future__ import annotations

import contextvars
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from ..client import Client
from ..exceptions import EtcdConnectionFailed, EtcdException, EtcdOutcomeUnknown
from ..result import EtcdResult
from .flags import parse_flags
from .goerrors import cluster_error, member_error
from .options import explain

__all__ = ["COMMANDS", "ENDPOINTS", "MembersUnlisted", "guarded", "print_response", "run_key_command"]

#: etcdctl's exit statuses.
EXIT_BAD_ARGS = 1
EXIT_BAD_CONNECTION = 2
EXIT_SERVER_ERROR = 4
EXIT_KEY_REQUIRED = 128


#: The endpoints of the command line being run (for etcdctl's wording of errors).
ENDPOINTS: contextvars.ContextVar[list[str]] = contextvars.ContextVar("ENDPOINTS", default=[])  # noqa: B039


class MembersUnlisted(Exception):
    """The member list, which ``member list`` and ``cluster-health`` start from, could not be read."""

    def __init__(self, error: EtcdConnectionFailed) -> None:
        super().__init__(str(error))
        self.error = error


class Usage(Exception):
    """A command line etcdctl refuses (message, exit status)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


# -- printing, as etcdctl's printResponseKey / printLs ------------------------------------------


def _node_json(node: EtcdResult | None) -> dict[str, Any] | None:
    """A node as etcdctl re-encodes it (Go's field order, ``nodes`` always present)."""
    if node is None:
        return None
    out: dict[str, Any] = {"key": node.key or ""}
    if node.dir:
        out["dir"] = True
    out["value"] = node.value or ""
    children = node.nodes
    out["nodes"] = [_node_json(child) for child in children] if children else None
    out["createdIndex"] = node.createdIndex or 0
    out["modifiedIndex"] = node.modifiedIndex or 0
    if node.expiration:
        out["expiration"] = node.expiration
    if node.ttl:
        out["ttl"] = node.ttl
    return out


def _response_json(result: EtcdResult) -> str:
    body = {"action": result.action, "node": _node_json(result), "prevNode": _node_json(result.prev_node)}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def print_response(result: EtcdResult, output: str) -> None:
    if output == "simple":
        if result.action != "delete":
            print(result.value or "")
        else:
            prev = result.prev_node
            print("PrevNode.Value:", (prev.value or "") if prev is not None else "")
    elif output == "extended":
        print("Key:", result.key or "")
        print("Created-Index:", result.createdIndex or 0)
        print("Modified-Index:", result.modifiedIndex or 0)
        prev = result.prev_node
        if prev is not None:
            print("PrevNode.Value:", prev.value or "")
        print("TTL:", result.ttl or 0)
        print("Index:", result.etcd_index or 0)
        if result.action != "delete":
            print()
            print(result.value or "")
    elif output == "json":
        print(_response_json(result))
    else:
        print("Unsupported output format:", output, file=sys.stderr)


def _print_tree(node: EtcdResult, slash: bool) -> None:
    key = node.key or ""
    print(f"{key}/" if node.dir and slash else key)
    for child in node.nodes:
        _print_tree(child, slash)


# -- the commands ---------------------------------------------------------------------------------


def _key(args: list[str]) -> str:
    if not args:
        raise Usage("key required", EXIT_KEY_REQUIRED)
    return args[0]


def _value(args: list[str]) -> str:
    """The value argument, or standard input (kept as it is, trailing newline included)."""
    if len(args) >= 2:
        return args[1]
    if sys.stdin is None or sys.stdin.isatty():
        raise Usage("value required", EXIT_KEY_REQUIRED)
    value = sys.stdin.read()
    if not value:  # as etcdctl: nothing on standard input is no value, not an empty one
        raise Usage("value required", EXIT_KEY_REQUIRED)
    return value


async def _get(client: Client, args: list[str], flags: dict[str, Any], output: str) -> int:
    result = await client.read(_key(args), sorted=flags["sort"] or None, quorum=flags["quorum"] or None)
    if result.dir:
        print(f"{result.key}: is a directory", file=sys.stderr)
        return EXIT_BAD_ARGS
    print_response(result, output)
    return 0


async def _set(client: Client, args: list[str], flags: dict[str, Any], output: str) -> int:
    key, value = _key(args), _value(args)
    result = await client.write(
        key,
        value,
        ttl=flags["ttl"] or None,
        prevValue=flags["swap-with-value"] or None,
        prevIndex=flags["swap-with-index"] or None,
    )
    print_response(result, output)
    return 0


async def _mk(client: Client, args: list[str], flags: dict[str, Any], output: str) -> int:
    key, value = _key(args), _value(args)
    if flags["in-order"]:
        result = await client.write(key, value, ttl=flags["ttl"] or None, append=True)
    else:
        result = await client.write(key, value, ttl=flags["ttl"] or None, prevExist=False)
    print_response(result, output)
    return 0


async def _update(client: Client, args: list[str], flags: dict[str, Any], output: str) -> int:
    key, value = _key(args), _value(args)
    result = await client.write(key, value, ttl=flags["ttl"] or None, prevExist=True)
    print_response(result, output)
    return 0


def _dir_command(prev_exist: bool | None) -> Callable[..., Coroutine[Any, Any, int]]:
    async def command(client: Client, args: list[str], flags: dict[str, Any], output: str) -> int:
        result = await client.write(_key(args), None, ttl=flags["ttl"] or None, dir=True, prevExist=prev_exist)
        if output != "simple":
            print_response(result, output)
        return 0

    return command


async def _rm(client: Client, args: list[str], flags: dict[str, Any], output: str) -> int:
    result = await client.delete(
        _key(args),
        recursive=flags["recursive"] or None,
        dir=flags["dir"] or None,
        prevValue=flags["with-value"] or None,
        prevIndex=flags["with-index"] or None,
    )
    if not result.dir or output != "simple":
        print_response(result, output)
    return 0


async def _rmdir(client: Client, args: list[str], flags: dict[str, Any], output: str) -> int:
    result = await client.delete(_key(args), dir=True)
    if not result.dir or output != "simple":
        print_response(result, output)
    return 0


async def _ls(client: Client, args: list[str], flags: dict[str, Any], output: str) -> int:
    key = args[0] if args else "/"
    result = await client.read(
        key, sorted=flags["sort"] or None, recursive=flags["recursive"] or None, quorum=flags["quorum"] or None
    )
    if output != "simple":
        print_response(result, output)
        return 0
    if not result.dir:
        print(result.key)
    for child in result.nodes:
        _print_tree(child, flags["p"])
    return 0


_TTL: dict[str, type] = {"ttl": int}
#: Each command: its flags (name -> type, with aliases as "name|alias") and what it does.
COMMANDS: dict[str, tuple[dict[str, type], Callable[..., Coroutine[Any, Any, int]]]] = {
    "get": ({"sort": bool, "quorum,q": bool}, _get),
    "set": ({**_TTL, "swap-with-value": str, "swap-with-index": int}, _set),
    "mk": ({**_TTL, "in-order": bool}, _mk),
    "mkdir": (_TTL, _dir_command(False)),
    "setdir": (_TTL, _dir_command(None)),
    "update": (_TTL, _update),
    "updatedir": (_TTL, _dir_command(True)),
    "rm": ({"dir": bool, "recursive,r": bool, "with-value": str, "with-index": int}, _rm),
    "rmdir": ({}, _rmdir),
    "ls": ({"sort": bool, "recursive,r": bool, "p": bool, "quorum,q": bool}, _ls),
}


def _error_line(exc: EtcdException) -> str:
    payload = exc.payload or {}
    if "errorCode" in payload:
        cause = payload.get("cause") or ""
        return f"Error:  {payload['errorCode']}: {payload.get('message', '')} ({cause}) [{payload.get('index', 0)}]"
    return f"Error:  {explain(exc)}"


async def run_key_command(client: Client, name: str, argv: list[str], output: str) -> int:
    """Run key command ``name`` with its arguments; the exit status."""
    spec, command = COMMANDS[name]

    async def call() -> int:
        args, flags = parse_flags(argv, spec)
        return await command(client, args, flags, output)

    return await guarded(call())


async def guarded(command: Coroutine[Any, Any, int]) -> int:
    """Run a command; its errors printed as etcdctl prints them, and the exit status.

    A :class:`~.flags.FlagError` goes through: the caller prints the command's help with it.
    """
    try:
        return await command
    except Usage as exc:
        print(f"Error:  {exc}", file=sys.stderr)
        return exc.code
    except MembersUnlisted as exc:  # member list, cluster-health: etcdctl says so first
        print("cluster may be unhealthy: failed to list members")
        go = cluster_error(exc.error)
        print(go[0] if go else f"Error:  {explain(exc.error)}", file=sys.stderr, end="" if go else "\n")
        return EXIT_SERVER_ERROR
    except EtcdOutcomeUnknown as exc:
        print(f"Error:  {explain(exc)}", file=sys.stderr)
        return EXIT_SERVER_ERROR
    except EtcdConnectionFailed as exc:
        go = cluster_error(exc)
        if go is not None:
            print(go[0], file=sys.stderr, end="")
            return go[1]
        print(f"Error:  {explain(exc)}", file=sys.stderr)
        text = f"{exc} {exc.cause}".lower()
        tls = any(word in text for word in ("certificate", "sslerror", "[ssl"))
        refused = "could not be reached" in text and not tls
        return EXIT_BAD_CONNECTION if refused else EXIT_SERVER_ERROR  # as etcdctl: TLS failures are 4
    except EtcdException as exc:
        unavailable = member_error(exc, ENDPOINTS.get())
        print(unavailable or _error_line(exc), file=sys.stderr, end="" if unavailable else "\n")
        return EXIT_SERVER_ERROR
