"""A development etcd in one command: ``python -m aio_etcd.testing``.

Starts real etcd members (:class:`~aio_etcd.testing.EtcdCluster`), prints how
to reach them (endpoints, ``export ETCDCTL_...`` lines, the matching
:class:`aio_etcd.Client` arguments), and runs until Ctrl-C or ``SIGTERM``.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from .testing import EtcdCluster, EtcdNotAvailable, etcd_version, find_etcd

__all__ = ["main"]


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Start a development etcd (v2 API on) and keep it running until Ctrl-C or SIGTERM.",
    )
    parser.add_argument("--members", type=int, default=1, metavar="N", help="members of the cluster (default 1)")
    parser.add_argument("--tls", action="store_true", help="serve https, with a CA and a client certificate")
    parser.add_argument("--auth", action="store_true", help="enable v2 auth with a root user and a new password")
    parser.add_argument("--port", type=int, metavar="P", help="client port of the first member (default: a free one)")
    parser.add_argument(
        "--data-dir", metavar="D", help="keep the data here, and start from it next time (default: a temporary one)"
    )
    return parser


def _certificates(directory: Path, host: str) -> tuple[str, str, str, str, str]:
    """A CA, a server certificate for ``host`` and localhost, and a client certificate (PEM files)."""
    try:
        import trustme
    except ImportError as exc:
        raise SystemExit("--tls needs the trustme package: pip install trustme (the test extra has it)") from exc
    directory.mkdir(parents=True, exist_ok=True)
    files = ("ca.pem", "server.pem", "server-key.pem", "client.pem", "client-key.pem")
    names = {name: directory / name for name in files}
    if not all(path.exists() for path in names.values()):
        ca = trustme.CA()
        server = ca.issue_cert(host, "localhost")
        client = ca.issue_cert("aio-etcd-dev-client")
        ca.cert_pem.write_to_path(str(names["ca.pem"]))
        server.cert_chain_pems[0].write_to_path(str(names["server.pem"]))
        server.private_key_pem.write_to_path(str(names["server-key.pem"]))
        client.cert_chain_pems[0].write_to_path(str(names["client.pem"]))
        client.private_key_pem.write_to_path(str(names["client-key.pem"]))
    return tuple(str(names[n]) for n in names)  # type: ignore[return-value]


async def _enable_auth(cluster: EtcdCluster, options: dict[str, Any]) -> str:
    """Create the root user with a new password and turn v2 auth on; the password."""
    from .auth import Auth, EtcdUser

    password = secrets.token_urlsafe(12)
    async with cluster.client(**options) as client:
        root = EtcdUser(client, "root")
        root.password = password
        await root.write()
        await Auth(client).enable()
    return password


async def _serve(args: argparse.Namespace) -> int:
    binary = find_etcd()
    root = Path(args.data_dir) if args.data_dir else None
    tls = None
    options: dict[str, Any] = {}
    scratch = None
    if args.tls:
        if root is None:
            scratch = Path(tempfile.mkdtemp(prefix="aio-etcd-dev-tls-"))
        ca, server, server_key, client, client_key = _certificates((root or scratch or Path()) / "tls", "127.0.0.1")
        tls = (server, server_key, ca)
        options = {"ca_cert": ca, "cert": (client, client_key)}
    cluster = EtcdCluster(
        size=args.members, binary=binary, tls=tls, port=args.port, data_dir=root, fsync=root is not None
    )
    await asyncio.to_thread(cluster.start)
    try:
        password = await _enable_auth(cluster, options) if args.auth else None
        version = ".".join(map(str, etcd_version(binary)))
        where = f"data in {root}" if root is not None else "data in a temporary directory, removed on exit"
        print(f"etcd {version}: {args.members} member{'s' if args.members > 1 else ''}, {where}")
        for member in cluster.members:
            print(f"  {member.name}  {member.client_url}  (pid {member.pid})")
        print()
        print("export ETCDCTL_API=2")
        print(f"export ETCDCTL_ENDPOINTS={','.join(cluster.client_urls)}")
        if tls is not None:
            print(f"export ETCDCTL_CA_FILE={options['ca_cert']}")
            print(f"export ETCDCTL_CERT_FILE={options['cert'][0]}")
            print(f"export ETCDCTL_KEY_FILE={options['cert'][1]}")
        if password is not None:
            print(f"export ETCDCTL_USERNAME=root:{password}")
        client_args = [f"host={cluster.endpoints!r}"]
        if tls is not None:
            client_args += ['protocol="https"', f"ca_cert={options['ca_cert']!r}", f"cert={options['cert']!r}"]
        if password is not None:
            client_args += ['username="root"', f"password={password!r}"]
        print(f"\nPython: aio_etcd.Client({', '.join(client_args)})")
        print("\nRunning; Ctrl-C or SIGTERM stops it.", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await asyncio.to_thread(cluster.stop)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    print("etcd stopped", flush=True)
    return 0


def main(argv: list[str] | None = None, prog: str = "python -m aio_etcd.testing") -> int:
    """Run the development server; the exit status."""
    args = _parser(prog).parse_args(argv)
    if args.members < 1:
        print("--members must be at least 1", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(args))
    except EtcdNotAvailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
