"""etcdctl v2's ``user``, ``role`` and ``auth`` commands, over the ``/v2/auth`` API."""

from __future__ import annotations

import json
import sys
from typing import Any
from urllib.parse import quote

from ..client import Client
from .flags import parse_flags
from .options import ask_password, explain

__all__ = ["auth", "role", "user"]


class _Refused(Exception):
    """etcd refused an auth request; the message is etcd's, as etcdctl prints it."""


async def _call(client: Client, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    resp = await client.api_execute(
        client.version_prefix + "/auth" + path,
        method,
        data=data,
        headers={"Content-Type": "application/json"},
        replay_safe=method in ("GET", "PUT"),
        raise_for_status=False,
    )
    if resp.status >= 300:
        payload = resp.json_object() or {}
        raise _Refused(str(payload.get("message") or resp.describe()))
    return resp.json() if resp.body.strip() else None


def _names(items: Any, field: str) -> list[str]:
    return [item[field] if isinstance(item, dict) else str(item) for item in items or ()]


async def _refused(command: Any) -> int:
    try:
        return int(await command)
    except _Refused as exc:
        print(explain(exc), file=sys.stderr)
        return 1


async def user(client: Client, argv: list[str], output: str) -> int:
    return await _refused(_user(client, argv))


async def _user(client: Client, argv: list[str]) -> int:
    sub, rest = (argv[0], argv[1:]) if argv else ("", [])
    args, flags = parse_flags(rest, {"roles": list})
    if sub == "list" and args:
        print("No arguments accepted", file=sys.stderr)
        return 1
    if sub == "list":
        for name in sorted(_names((await _call(client, "GET", "/users") or {}).get("users"), "user")):
            print(name)
        return 0
    if sub not in ("add", "get", "remove", "grant", "revoke", "passwd"):
        usage = "user subcommands: add, get, list, remove, grant, revoke, passwd"
        print(f"No help topic for '{sub}'" if sub else usage, file=sys.stderr)
        return 3 if sub else 1
    if sub in ("grant", "revoke") and not flags["roles"]:  # etcdctl asks for the roles first
        print("No roles specified; please use `--roles`", file=sys.stderr)
        return 1
    if len(args) != 1:
        print("Please provide a username", file=sys.stderr)
        return 1
    name, _, password = args[0].partition(":")
    path = "/users/" + quote(name, safe="")
    if sub == "add":
        if ":" not in args[0]:
            password = ask_password()
        await _call(client, "PUT", path, {"user": name, "password": password})
        print(f"User {name} created")
    elif sub == "get":
        data = await _call(client, "GET", path)
        print("User:", data.get("user", name))
        print("Roles: " + "".join(f" {name}" for name in _names(data.get("roles"), "role")))
    elif sub == "remove":
        await _call(client, "DELETE", path)
        print(f"User {name} removed")
    elif sub == "passwd":
        password = ask_password()
        await _call(client, "PUT", path, {"user": name, "password": password})
        print("Password updated")
    else:
        if not flags["roles"]:
            print("No roles specified; please use `--roles`", file=sys.stderr)
            return 1
        await _call(client, "PUT", path, {"user": name, sub: flags["roles"]})  # "a,b" is one role, as in etcdctl
        print(f"User {name} updated")
    return 0


async def role(client: Client, argv: list[str], output: str) -> int:
    return await _refused(_role(client, argv))


async def _role(client: Client, argv: list[str]) -> int:
    sub, rest = (argv[0], argv[1:]) if argv else ("", [])
    args, flags = parse_flags(rest, {"path": str, "read": bool, "write": bool, "readwrite,rw": bool})
    if sub == "list" and args:
        print("No arguments accepted", file=sys.stderr)
        return 1
    if sub == "list":
        for name in sorted(_names((await _call(client, "GET", "/roles") or {}).get("roles"), "role")):
            print(name)
        return 0
    if sub not in ("add", "get", "remove", "grant", "revoke"):
        print(f"No help topic for '{sub}'" if sub else "role subcommands: add, get, list, remove, grant, revoke",
              file=sys.stderr)
        return 3 if sub else 1
    if sub in ("grant", "revoke"):  # etcdctl checks the flags first
        if not flags["path"]:
            print("No path specified; please use `--path`", file=sys.stderr)
            return 1
        if [flags[kind] for kind in ("read", "write", "readwrite")].count(True) != 1:
            print("Please specify exactly one of --read, --write or --readwrite", file=sys.stderr)
            return 1
    if len(args) != 1:
        print("Please provide a role name", file=sys.stderr)
        return 1
    name = args[0]
    path = "/roles/" + quote(name, safe="")
    if sub == "add":
        try:
            await _call(client, "GET", path)
        except _Refused:
            pass
        else:
            print(f"Role {name} already exists", file=sys.stderr)
            return 1
        await _call(client, "PUT", path, {"role": name})
        print(f"Role {name} created")
    elif sub == "get":
        data = await _call(client, "GET", path)
        kv = (data.get("permissions") or {}).get("kv") or {}
        print("Role:", data.get("role", name))
        print("KV Read:")
        for pattern in kv.get("read") or ():
            print(f"\t{pattern}")
        print("KV Write:")
        for pattern in kv.get("write") or ():
            print(f"\t{pattern}")
    elif sub == "remove":
        await _call(client, "DELETE", path)
        print(f"Role {name} removed")
    else:
        if not flags["path"]:
            print("No path specified; please use `--path`", file=sys.stderr)
            return 1
        chosen = [kind for kind in ("read", "write", "readwrite") if flags[kind]]
        if len(chosen) != 1:
            print("Please specify exactly one of --read, --write or --readwrite", file=sys.stderr)
            return 1
        read = [flags["path"]] if chosen[0] in ("read", "readwrite") else []
        write = [flags["path"]] if chosen[0] in ("write", "readwrite") else []
        await _call(client, "PUT", path, {"role": name, sub: {"kv": {"read": read, "write": write}}})
        print(f"Role {name} updated")
    return 0


async def auth(client: Client, argv: list[str], output: str) -> int:
    sub = argv[0] if argv else ""
    if sub in ("enable", "disable") and argv[1:]:
        print("No arguments accepted", file=sys.stderr)
        return 1
    if sub not in ("enable", "disable"):
        print(f"No help topic for '{sub}'" if sub else "auth subcommands: enable, disable", file=sys.stderr)
        return 3 if sub else 1
    try:
        await _call(client, "PUT" if sub == "enable" else "DELETE", "/enable")
    except _Refused as exc:
        print(explain(exc), file=sys.stderr)
        return 1
    print("Authentication Enabled" if sub == "enable" else "Authentication Disabled")
    return 0
