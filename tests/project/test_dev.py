"""aio-etcd dev: the version it runs, and members killed and started while it runs."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
from pathlib import Path

import pytest

from aio_etcd.testing import EtcdNotAvailable, find_etcd

pytestmark = pytest.mark.timeout(120)


def _newest() -> list[str]:
    """etcd 3.7 where tools/etcd/build.sh built it, else etcd 3.5.1 serving only v3."""
    try:
        return ["--version", find_etcd("3.7", v2=False)]
    except EtcdNotAvailable:
        return ["--version", "3.5", "--v3-only"]


class Dev:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: list[str] = []

    async def line_with(self, text: str) -> str:
        assert self.proc.stdout is not None
        while True:
            line = (await asyncio.wait_for(self.proc.stdout.readline(), 60)).decode()
            assert line, f"aio-etcd dev ended; it printed {self.seen}"
            self.seen.append(line)
            if text in line:
                return line

    async def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()


async def _dev(*args: str, env: dict[str, str] | None = None) -> Dev:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aio_etcd", "dev", *args,
        env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    return Dev(proc)


async def test_members_killed_and_started_from_the_console() -> None:
    dev = await _dev("--members", "3", *_newest())
    try:
        await dev.line_with("Running")
        pids = [int(line.split("(pid ")[1].rstrip(")\n")) for line in dev.seen if "(pid " in line]
        assert len(pids) == 3
        await dev.send("kill 1")
        assert f"(m1, pid {pids[1]}) killed" in await dev.line_with("member 1")
        os.kill(pids[2], signal.SIGKILL)  # from outside: the server notices
        assert "exited (killed by SIGKILL)" in await dev.line_with(f"pid {pids[2]}")
        await dev.send("start 2")
        await dev.line_with("member 2 (m2) started")
        await dev.line_with("member 2 (m2) is healthy")
        await dev.send("restart m1")
        await dev.line_with("member 1 (m1) is healthy")
        await dev.send("status")
        lines = [await dev.line_with("  m0  "), await dev.line_with("  m1  "), await dev.line_with("  m2  ")]
        assert all("running, pid" in line for line in lines), lines
        await dev.send("bogus")
        assert "type help" in await dev.line_with("bogus")
        dev.proc.send_signal(signal.SIGINT)
        await dev.line_with("stopping etcd (3 members)")
        await dev.line_with("etcd stopped")
        assert await asyncio.wait_for(dev.proc.wait(), 30) == 0
    finally:
        if dev.proc.returncode is None:
            dev.proc.kill()
            await dev.proc.wait()


def _fake(tmp_path: Path, version: str) -> str:
    script = tmp_path / "etcd"
    script.write_text(f"#!/bin/sh\necho 'etcd Version: {version}'\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


async def test_the_version_it_runs_and_etcd_bin() -> None:
    distro = find_etcd()
    dev = await _dev(env={"ETCD_BIN": distro})  # honoured, and said
    try:
        first = await dev.line_with("starting etcd")
        assert f"ETCD_BIN={distro}" in first and "3.5.1" in first
        await dev.line_with("Running")
        dev.proc.send_signal(signal.SIGTERM)
        await dev.line_with("etcd stopped")
    finally:
        if dev.proc.returncode is None:
            dev.proc.kill()
        await dev.proc.wait()


async def test_version_wins_over_etcd_bin_loudly(tmp_path: Path) -> None:
    other = _fake(tmp_path, "3.6.0")
    dev = await _dev("--version", "3.5", "--v3-only", env={"ETCD_BIN": other})
    try:
        first = await dev.line_with("starting etcd")
        assert "3.5.1" in first and f"ETCD_BIN={other} is not used" in first
        assert "v3 API only" in await dev.line_with("1 member, ")
        await dev.line_with("Running")
        dev.proc.send_signal(signal.SIGTERM)
        await dev.line_with("etcd stopped")
    finally:
        if dev.proc.returncode is None:
            dev.proc.kill()
        await dev.proc.wait()


async def test_v2_auth_on_a_v3_only_server_is_refused() -> None:
    dev = await _dev("--version", "3.5", "--v3-only", "--auth")
    _, err = await asyncio.wait_for(dev.proc.communicate(), 30)
    assert dev.proc.returncode == 2 and b"--auth sets up etcd's v2 auth" in err
