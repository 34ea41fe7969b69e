"""The global options of ``aio-etcd`` (etcdctl v2's names and environment variables) and the client they make."""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..client import Client
from ..retry import RetryPolicy

__all__ = [
    "PlainExit",
    "add_global_options",
    "ask_password",
    "client_for",
    "client_options",
    "duration",
    "explain",
    "make_client",
]

#: etcdctl v2's default endpoints.
DEFAULT_ENDPOINTS = "http://127.0.0.1:2379,http://127.0.0.1:4001"


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration(text: str) -> float:
    """Seconds in a Go duration (``2s``, ``500ms``, ``1m30s``, as etcdctl's) or a plain number of seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def add_global_options(parser: argparse.ArgumentParser, env: Mapping[str, str] = os.environ) -> None:
    """etcdctl v2's global options; each defaults to its ``ETCDCTL_*`` variable."""
    group = parser.add_argument_group("global options (as etcdctl v2's)")
    group.add_argument(
        "--endpoints",
        default=env.get("ETCDCTL_ENDPOINTS") or env.get("ETCDCTL_PEERS") or DEFAULT_ENDPOINTS,
        help="comma-separated member URLs [$ETCDCTL_ENDPOINTS]",
    )
    group.add_argument("--peers", "-C", "--endpoint", dest="endpoints", help=argparse.SUPPRESS)  # etcdctl's old names
    group.add_argument("--discovery-srv", "-D", default=env.get("ETCDCTL_DISCOVERY_SRV"), help="domain of SRV records")
    group.add_argument(
        "--username", "-u", default=env.get("ETCDCTL_USERNAME"), help="user[:password]; asks when no password"
    )
    group.add_argument(
        "--cert-file", default=env.get("ETCDCTL_CERT_FILE"), help="client certificate [$ETCDCTL_CERT_FILE]"
    )
    group.add_argument("--key-file", default=env.get("ETCDCTL_KEY_FILE"), help="client key [$ETCDCTL_KEY_FILE]")
    group.add_argument("--ca-file", default=env.get("ETCDCTL_CA_FILE"), help="CA bundle [$ETCDCTL_CA_FILE]")
    group.add_argument(
        "--timeout", dest="attempt_timeout", type=duration, default=2.0, help="per attempt: 2s, 500ms, 2 (default 2s)"
    )
    group.add_argument(
        "--total-timeout", dest="total_timeout", type=duration, default=5.0, help="per call: 5s, 1m, 5 (default 5s)"
    )
    group.add_argument("--no-sync", action="store_true", help="use only the given endpoints")
    group.add_argument(
        "--api",
        choices=("v2", "v3", "auto"),
        default=env.get("AIO_ETCD_API") or "auto",
        help="auto: v2 where the server serves it, else the same commands on etcd's v3 store (etcd 3.6 and "
        "later); v2 or v3: only that one [$AIO_ETCD_API, default auto]",
    )
    group.add_argument(
        "--v3-transport",
        default=env.get("AIO_ETCD_V3_TRANSPORT") or "auto",
        help="how commands reach a v3 store: gateway (etcd's JSON gateway), grpc (the grpc extra) or auto "
        "[$AIO_ETCD_V3_TRANSPORT, default auto]",
    )


def ask_password(prompt: str = "New password: ") -> str:
    """Ask for a password as etcdctl does: the prompt on standard output, no echo on a terminal."""
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(prompt, stream=sys.stdout)
    print(prompt, end="", flush=True)
    line = sys.stdin.readline() if sys.stdin is not None else ""
    print()
    return line.rstrip("\n")


#: How the library names the way to the v2 keys API on a v3 store, and how the command line does.
_LIBRARY_SWITCH = 'Client(api="auto") or api="v3" serves the same calls'
_CLI_SWITCH = "--api auto (the default) or --api v3 (or AIO_ETCD_API=auto) serves the same commands"


def explain(exc: BaseException) -> str:
    """An error's message for the command line: where the library names ``Client(api=...)``, the flag."""
    return str(exc).replace(_LIBRARY_SWITCH, _CLI_SWITCH)


class UsageError(Exception):
    """Options that cannot be used (the message says why)."""


class PlainExit(Exception):
    """Options etcdctl refuses with a bare message (no ``Error:``) and a status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`Client` options the global options stand for (asks for a missing password, once)."""
    if args.api not in ("v2", "v3", "auto"):
        raise UsageError(f"AIO_ETCD_API is v2, v3 or auto, not {args.api!r}")
    if args.v3_transport not in ("auto", "gateway", "grpc"):
        raise UsageError(f"--v3-transport (AIO_ETCD_V3_TRANSPORT) is auto, gateway or grpc, not {args.v3_transport!r}")
    options: dict[str, Any] = {
        "read_timeout": args.total_timeout,
        "retry": RetryPolicy(attempt_timeout=args.attempt_timeout),
        "use_proxies": args.no_sync,
        "api": args.api,
        "v3_transport": args.v3_transport,
    }
    if args.username:
        user, sep, password = args.username.partition(":")
        if not sep:
            password = ask_password("Password: ")
        options["username"], options["password"] = user, password
    if bool(args.cert_file) != bool(args.key_file):  # as etcdctl (Go's TLS config) checks them
        raise PlainExit(
            f"KeyFile and CertFile must both be present[key: {args.key_file or ''}, cert: {args.cert_file or ''}]"
        )
    for path in (args.cert_file, args.key_file, args.ca_file):
        if path and not os.path.exists(path):
            raise PlainExit(f"open {path}: no such file or directory")
    if args.ca_file:
        options["ca_cert"] = args.ca_file
    if args.cert_file:
        options["cert"] = (args.cert_file, args.key_file) if args.key_file else args.cert_file
    return options


def client_for(endpoints: str, options: dict[str, Any]) -> Client:
    """A :class:`Client` of comma-separated endpoint URLs, with ``options``."""
    hosts: list[tuple[str, int]] = []
    schemes = set()
    for url in (part.strip() for part in endpoints.split(",") if part.strip()):
        if "://" not in url and ":" in url.split("/")[0] and not url[0].isalpha():
            # Go's url.Parse, as etcdctl uses it: "127.0.0.1:2379" has no scheme and a colon in its path
            raise PlainExit(f'parse "{url}": first path segment in URL cannot contain colon')
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"not an endpoint URL: {url!r}")
        schemes.add(parts.scheme)
        hosts.append((parts.hostname, parts.port or (443 if parts.scheme == "https" else 2379)))
    if not hosts:
        raise UsageError("no endpoint given")
    if len(schemes) > 1:
        raise UsageError("the endpoints mix http and https")
    return Client(host=tuple(hosts), protocol=schemes.pop(), **options)


def make_client(args: argparse.Namespace, options: dict[str, Any] | None = None) -> Client:
    """A :class:`Client` for the global options."""
    options = client_options(args) if options is None else options
    if args.discovery_srv:
        scheme = "https" if args.ca_file or args.cert_file else "http"
        return Client(srv_domain=args.discovery_srv, protocol=scheme, **options)
    return client_for(args.endpoints, options)
