"""etcdctl v2's ``watch``, ``exec-watch``, ``member`` and ``cluster-health``."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

from ..client import Client
from ..exceptions import EtcdConnectionFailed, EtcdException, EtcdOutcomeUnknown
from .flags import parse_flags
from .keys import ENDPOINTS, EXIT_BAD_ARGS, EXIT_KEY_REQUIRED, MembersUnlisted, Usage, _key, print_response
from .options import client_for, explain

__all__ = ["EXIT_CLUSTER_NOT_HEALTHY", "cluster_health", "exec_watch", "member", "watch"]

#: etcdctl's status for a cluster that is degraded or unavailable.
EXIT_CLUSTER_NOT_HEALTHY = 5

WATCH_FLAGS: dict[str, type] = {"forever,f": bool, "after-index": int, "recursive,r": bool}


async def watch(client: Client, argv: list[str], output: str) -> int:
    args, flags = parse_flags(argv, WATCH_FLAGS)
    key = _key(args)
    index = flags["after-index"] + 1 if flags["after-index"] else None
    if flags["forever"]:
        return await _until_interrupted(_watch(client, key, index, flags, output))
    return await _watch(client, key, index, flags, output)


async def _until_interrupted(command: Coroutine[Any, Any, int]) -> int:
    """As etcdctl: Ctrl-C ends a command that runs forever with status 0."""
    task = asyncio.ensure_future(command)
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        return 0


async def _watch(client: Client, key: str, index: int | None, flags: dict[str, Any], output: str) -> int:
    while True:
        event = await client.watch(key, index=index, recursive=flags["recursive"] or None)
        index = (event.modifiedIndex or 0) + 1
        if event.dir:  # as etcdctl: a directory's change is skipped, and the watch goes on
            continue
        if flags["recursive"]:
            print(f"[{event.action}] {event.key}")
        print_response(event, output)
        if not flags["forever"]:
            return 0


async def exec_watch(client: Client, argv: list[str], output: str) -> int:
    split = argv.index("--") if "--" in argv else len(argv)
    args, flags = parse_flags(argv[:split], {"after-index": int, "recursive,r": bool})
    command = argv[split + 1 :]
    if len(args) < 1 or not command:
        raise Usage("key and command to exec required", EXIT_KEY_REQUIRED)
    index = flags["after-index"] + 1 if flags["after-index"] else None
    return await _until_interrupted(_exec_watch(client, args[0], index, flags["recursive"], command))


async def _exec_watch(client: Client, key: str, index: int | None, recursive: bool, command: list[str]) -> int:
    while True:
        event = await client.watch(key, index=index, recursive=recursive or None)
        if event.dir:  # as etcdctl: no command for a directory's change
            print(f"Ignored dir {event.key} change", file=sys.stderr)
            index = (event.modifiedIndex or 0) + 1
            continue
        env = {
            **os.environ,
            "ETCD_WATCH_ACTION": event.action or "",
            "ETCD_WATCH_KEY": event.key or "",
            "ETCD_WATCH_VALUE": event.value or "",
            "ETCD_WATCH_MODIFIED_INDEX": str(event.modifiedIndex or 0),
        }
        sys.stdout.flush()
        proc = await asyncio.create_subprocess_exec(*command, env=env)
        await proc.wait()
        index = (event.modifiedIndex or 0) + 1


async def _members(client: Client) -> list[dict[str, Any]]:
    return list((await client.members()).values())


async def member(client: Client, argv: list[str], output: str) -> int:
    try:
        return await _member(client, argv)
    except EtcdOutcomeUnknown as exc:  # etcd answered 5xx to a change: as etcdctl, status 1
        answered = re.search(r"answered unexpected answer: HTTP (500|503) ", str(exc))
        endpoints = ENDPOINTS.get()
        if answered and endpoints:  # etcdctl tried each member, and Go's client words a 5xx so
            errors = "".join(
                f"; error #{i}: client: etcd member {url} has no leader\n" for i, url in enumerate(endpoints)
            )
            print(f"client: etcd cluster is unavailable or misconfigured{errors}", file=sys.stderr)
            return EXIT_BAD_ARGS
        print(explain(exc), file=sys.stderr)
        return EXIT_BAD_ARGS
    except EtcdConnectionFailed:
        raise  # nobody answered: status 2 or 4, as every command
    except EtcdException as exc:  # as etcdctl: the error as it is, status 1
        print(explain(exc), file=sys.stderr)
        return EXIT_BAD_ARGS


async def _member(client: Client, argv: list[str]) -> int:
    if not argv:
        print("member subcommands: list, add NAME PEER_URL, remove ID, update ID PEER_URLS", file=sys.stderr)
        return EXIT_BAD_ARGS
    if argv[0] not in ("list", "add", "remove", "update"):
        print(f"No help topic for '{argv[0]}'", file=sys.stderr)
        return 3
    sub, args = argv[0], argv[1:]
    if sub == "list":
        if args:
            print("No arguments accepted", file=sys.stderr)
            return EXIT_BAD_ARGS
        leader = (await client.leader()).get("id")
        for m in await _members(client):
            if not m.get("name"):  # added, never started
                print(f"{m['id']}[unstarted]: peerURLs={','.join(m.get('peerURLs') or [])}")
                continue
            print(
                f"{m['id']}: name={m.get('name', '')} peerURLs={','.join(m.get('peerURLs') or [])} "
                f"clientURLs={','.join(m.get('clientURLs') or [])} isLeader={str(m['id'] == leader).lower()}"
            )
        return 0
    if sub == "add":
        if len(args) != 2:
            print("Provide a name and a single member peerURL", file=sys.stderr)
            return EXIT_BAD_ARGS
        name, peer_url = args
        added = await client.api_execute_json(client.version_prefix + "/members", "POST", data={"peerURLs": [peer_url]})
        print(f"Added member named {name} with ID {added['id']} to cluster")
        print()
        cluster = []
        for m in await _members(client):
            member_name = name if m["id"] == added["id"] else m.get("name", "")
            cluster += [f"{member_name}={url}" for url in m.get("peerURLs") or []]
        print(f'ETCD_NAME="{name}"')
        print(f'ETCD_INITIAL_CLUSTER="{",".join(cluster)}"')
        print('ETCD_INITIAL_CLUSTER_STATE="existing"')
        return 0
    if sub == "remove":
        if len(args) != 1:
            print("Provide a single member ID", file=sys.stderr)
            return EXIT_BAD_ARGS
        if args[0] not in {m["id"] for m in await _members(client)}:
            print(f"Couldn't find a member in the cluster with an ID of {args[0]}.", file=sys.stderr)
            return EXIT_BAD_ARGS
        await client.api_execute(f"{client.version_prefix}/members/{args[0]}", "DELETE")
        print(f"Removed member {args[0]} from cluster")
        return 0
    if len(args) != 2:
        print("Provide an ID and a list of comma separated peerURL (0xabcd http://example.com,http://example1.com)",
              file=sys.stderr)
        return EXIT_BAD_ARGS
    member_id, urls = args
    await client.api_execute_json(
        f"{client.version_prefix}/members/{member_id}", "PUT", data={"peerURLs": urls.split(",")}, replay_safe=True
    )
    print(f"Updated member with ID {member_id} in cluster")
    return 0


async def cluster_health(
    client: Client, argv: list[str], output: str, *, connect: Callable[[str], Client] | None = None
) -> int:
    """Ask each member's ``/health`` through a client of that member alone (``connect(url)``), as etcdctl does.

    Status 0 when every member is healthy; 5 when some are not (``cluster is
    degraded``) or none is (``cluster is unavailable``).
    """
    try:
        members = await _members(client)
    except EtcdConnectionFailed as exc:
        raise MembersUnlisted(exc) from exc
    healthy = 0
    for m in members:
        urls = m.get("clientURLs") or []
        if not urls:
            print(f"member {m['id']} is unreachable: no available published client urls")
            continue
        for url in urls:
            health: Any
            try:
                async with (connect or _plain)(url) as one:
                    answer = await one.api_execute("/health", "GET", timeout=2, raise_for_status=False)
                health = json.loads(answer.body)
            except EtcdConnectionFailed as exc:
                print(f"failed to check the health of member {m['id']} on {url}: {_go_error(url + '/health', exc)}")
                continue
            except EtcdException as exc:
                if not (exc.payload and "health" in exc.payload):
                    print(f"failed to check the health of member {m['id']} on {url}: {exc}")
                    continue
                health = exc.payload  # 503 {"health": "false"}: an answer, from a member without quorum
            except ValueError as exc:
                print(f"failed to check the health of member {m['id']} on {url}: {exc}")
                continue
            if health == "true" or (isinstance(health, dict) and health.get("health") == "true"):
                healthy += 1
                print(f"member {m['id']} is healthy: got healthy result from {url}")
            else:
                print(f"member {m['id']} is unhealthy: got unhealthy result from {url}")
            break
        else:
            print(f"member {m['id']} is unreachable: [{' '.join(urls)}] are all unreachable")
    if healthy == len(members):
        print("cluster is healthy")
        return 0
    print("cluster is degraded" if healthy else "cluster is unavailable")
    return EXIT_CLUSTER_NOT_HEALTHY


def _go_error(url: str, exc: EtcdConnectionFailed) -> str:
    """A refused connection as Go's HTTP client words it (monitoring scripts grep for it)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            where = urlsplit(url).netloc
            return f'Get "{url}": dial tcp {where}: connect: connection refused'
        cause = getattr(cause, "cause", None) or cause.__cause__
    return f'Get "{url}": {exc}'


def _plain(url: str) -> Client:
    return client_for(url, {})
