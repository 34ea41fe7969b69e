"""``aio-etcd lock NAME -- COMMAND``: the command runs only while the lock is held."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

import aio_etcd as etcd
from aio_etcd.testing import EtcdCluster

EVENT_TIMEOUT = 20.0


async def _start(server: EtcdCluster, *args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "ETCDCTL_ENDPOINTS": server.url}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aio_etcd", *args, env=env, stderr=asyncio.subprocess.PIPE
    )


async def _queue(client: etcd.Client, name: str) -> list[str | None]:
    try:
        listing = await client.read(f"{client.lock_prefix}/{name}")
    except etcd.EtcdKeyNotFound:
        return []
    return [node.key for node in listing.leaves if not node.dir]


async def test_exit_status_is_passed_through(
    etcd_server: EtcdCluster, etcd_client: etcd.Client, tmp_path: Path
) -> None:
    name = "cli" + tmp_path.name
    marker = tmp_path / "ran"
    script = f"import pathlib; pathlib.Path({str(marker)!r}).write_text('x'); raise SystemExit(7)"
    proc = await _start(etcd_server, "lock", name, "--ttl", "5", "--", sys.executable, "-c", script)
    assert await asyncio.wait_for(proc.wait(), EVENT_TIMEOUT) == 7
    assert marker.exists()
    assert await _queue(etcd_client, name) == []  # released


async def test_timeout_gives_up_without_running_the_command(
    etcd_server: EtcdCluster, etcd_client: etcd.Client, tmp_path: Path
) -> None:
    name = "cli" + tmp_path.name
    holder = etcd.Lock(etcd_client, name)
    assert await holder.acquire(lock_ttl=30)
    marker = tmp_path / "ran"
    proc = await _start(etcd_server, "lock", name, "--timeout", "0.3", "--", "touch", str(marker))
    _, errors = await asyncio.wait_for(proc.communicate(), EVENT_TIMEOUT)
    assert proc.returncode == 1
    assert b"not acquired" in errors
    assert not marker.exists()
    assert await _queue(etcd_client, name) == [holder.key]  # it left nothing behind
    await holder.release()


@pytest.mark.parametrize("how", ["SIGTERM", "lock lost"])
async def test_the_command_never_runs_without_the_lock(
    etcd_server: EtcdCluster, etcd_client: etcd.Client, tmp_path: Path, how: str
) -> None:
    name = "cli" + tmp_path.name
    pid_file = tmp_path / "pid"
    script = (
        f"import os, pathlib, time; pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid())); time.sleep(60)"
    )
    start = (await etcd_client.write("/cli-start", "x")).modifiedIndex or 0
    proc = await _start(etcd_server, "lock", name, "--ttl", "3", "--", sys.executable, "-c", script)
    created = await asyncio.wait_for(
        etcd_client.watch(f"{etcd_client.lock_prefix}/{name}", index=start + 1, recursive=True), EVENT_TIMEOUT
    )
    while not pid_file.exists() or not pid_file.read_text():  # the command started under the lock
        assert proc.returncode is None
        await asyncio.sleep(0.05)
    child = int(pid_file.read_text())
    if how == "SIGTERM":
        proc.send_signal(signal.SIGTERM)
        expected = 143
    else:
        assert created.key is not None
        await etcd_client.delete(created.key)  # the lock is taken away
        expected = 1
    _, errors = await asyncio.wait_for(proc.communicate(), EVENT_TIMEOUT)
    assert proc.returncode == expected, errors
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # the command was stopped
    assert await _queue(etcd_client, name) == []
