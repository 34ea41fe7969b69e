"""A 3-member etcd whose peer traffic runs through proxies, and the faults a robustness run injects.

Members are started by :class:`aio_etcd.testing.EtcdCluster` (free loopback
ports, a guardian that stops etcd whatever happens to this process); only the
peer URLs differ: each member listens on its own peer port but advertises its
proxy's port (``peerproxy.py``, a separate process), so the harness can cut a
member off from the others. Clients talk to the members directly.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aio_etcd.testing import EtcdCluster, EtcdMember, free_port

PROXY = Path(__file__).resolve().parent / "peerproxy.py"


class ProxiedCluster(EtcdCluster):
    """An :class:`EtcdCluster` whose members reach each other only through a proxy process."""

    def __init__(self, **options: Any) -> None:
        super().__init__(size=3, **options)
        self.proxy_ports: dict[str, int] = {}
        self.proxy: subprocess.Popen[str] | None = None

    def _proxy_url(self, member: EtcdMember) -> str:
        return f"http://{self.host}:{self.proxy_ports[member.name]}"

    def _tell(self, command: str) -> str:
        assert self.proxy is not None and self.proxy.stdin is not None and self.proxy.stdout is not None
        self.proxy.stdin.write(command + "\n")
        self.proxy.stdin.flush()
        answer = self.proxy.stdout.readline()
        if not answer.startswith("ok "):
            raise RuntimeError(f"the peer proxy did not take {command!r}: {answer!r}")
        return answer.strip()

    def _layout(self) -> bool:
        new = super()._layout()
        if self.proxy is None:
            self.proxy = subprocess.Popen(
                [sys.executable, str(PROXY)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
        for index, member in enumerate(self.members):
            if member.name not in self.proxy_ports:
                self.proxy_ports[member.name] = free_port(self.host)
                self._tell(f"listen {index} {self.proxy_ports[member.name]} {member.peer_port}")
        return new

    def _command(self, member: EtcdMember, new: bool) -> list[str]:
        args = super()._command(member, new)
        args[args.index("--initial-advertise-peer-urls") + 1] = self._proxy_url(member)
        initial = ",".join(f"{m.name}={self._proxy_url(m)}" for m in self.members)
        args[args.index("--initial-cluster") + 1] = initial
        return args

    def _spawn(self, member: EtcdMember, new: bool) -> None:
        super()._spawn(member, new)
        if member.pid is not None:
            self._tell(f"pid {self.members.index(member)} {member.pid}")

    def block(self, index: int) -> None:
        self._tell(f"block {index}")

    def unblock(self, index: int) -> None:
        self._tell(f"unblock {index}")

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            proxy, self.proxy = self.proxy, None
            if proxy is not None:
                try:
                    assert proxy.stdin is not None
                    proxy.stdin.write("quit\n")
                    proxy.stdin.close()
                    proxy.wait(5)
                except (OSError, subprocess.TimeoutExpired):
                    proxy.kill()
                    proxy.wait()


class Faults:
    """Injects one random fault at a time while the workload runs, and always undoes it.

    Kinds: ``kill-leader`` / ``kill-follower`` (SIGKILL, restart from the same
    data directory after 0.5-2 s), ``pause`` (SIGSTOP for 3-10 s, then SIGCONT)
    and ``blackhole`` (no peer traffic to or from a member for 4-10 s).
    """

    KINDS = ("kill-leader", "kill-follower", "pause", "blackhole")

    def __init__(self, cluster: ProxiedCluster, rng: random.Random, *, gap: tuple[float, float] = (1.0, 3.0)) -> None:
        self.cluster = cluster
        self.rng = rng
        self.gap = gap
        self.done: Counter[str] = Counter()
        self.log: list[dict[str, Any]] = []
        self.t0 = time.monotonic()

    async def _leader(self) -> int | None:
        for _ in range(100):
            index = await asyncio.to_thread(self.cluster.leader_index)
            if index is not None:
                return index
            await asyncio.sleep(0.1)
        return None

    async def _wait_all_healthy(self) -> None:
        await asyncio.to_thread(self.cluster.wait_healthy)

    async def one(self, kind: str) -> None:
        cluster = self.cluster
        leader = await self._leader()
        if leader is None:
            return
        if kind == "kill-leader" or (kind in ("pause", "blackhole") and self.rng.random() < 0.5):
            target = leader
        else:
            target = self.rng.choice([i for i in range(3) if i != leader])
        entry: dict[str, Any] = {"kind": kind, "member": target, "leader": target == leader}
        entry["at"] = round(time.monotonic() - self.t0, 2)
        member = cluster.members[target]
        if kind.startswith("kill"):
            try:
                await asyncio.to_thread(cluster.stop_member, target, kill=True)
                await asyncio.sleep(self.rng.uniform(0.5, 2.0))
            finally:
                await asyncio.to_thread(cluster.start_member, target, wait=False)
                await self._wait_all_healthy()
        elif kind == "pause":
            pid = member.pid
            if pid is None:
                return
            entry["seconds"] = round(self.rng.uniform(3, 10), 1)
            try:
                os.kill(pid, signal.SIGSTOP)
                await asyncio.sleep(entry["seconds"])
            finally:
                os.kill(pid, signal.SIGCONT)
        elif kind == "blackhole":
            entry["seconds"] = round(self.rng.uniform(4, 10), 1)
            try:
                await asyncio.to_thread(cluster.block, target)
                await asyncio.sleep(entry["seconds"])
            finally:
                await asyncio.to_thread(cluster.unblock, target)
        self.done[kind] += 1
        self.log.append(entry)

    async def run(self, until: float) -> None:
        """Inject faults until ``time.monotonic()`` passes ``until`` (the last one may end a little later)."""
        while time.monotonic() < until - 4:
            await asyncio.sleep(self.rng.uniform(*self.gap))
            if time.monotonic() >= until - 4:
                break
            kind = self.rng.choice(self.KINDS)
            try:
                await self.one(kind)
                await asyncio.wait_for(self._settle(), 30)
            except Exception as exc:  # noted in the summary; the next fault waits for a healthy cluster again
                self.log.append({"kind": kind, "error": f"{type(exc).__name__}: {exc}"[:300]})

    async def _settle(self) -> None:
        """Wait for a leader and every member healthy before the next fault."""
        await self._leader()
        await self._wait_all_healthy()
