"""The README's first command: the tour runs every step and cleans up after itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aio_etcd as etcd
from aio_etcd.testing import EtcdCluster

TOUR = Path(__file__).resolve().parents[2] / "examples" / "tour.py"


def _run_tour(env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, str(TOUR)], capture_output=True, text=True, env=env, timeout=120)


async def test_tour_against_a_given_server_removes_its_keys(etcd_server: EtcdCluster) -> None:
    async with etcd.Client(host=etcd_server.host, port=etcd_server.port) as client:
        await client.write("/tour-neighbour", "untouched")
        done = _run_tour({"ETCD_ENDPOINT": etcd_server.url})
        assert done.returncode == 0, done.stdout + done.stderr
        # They need the tour's own servers: skipped, and counted as such, not as passed.
        assert "16 steps passed, 4 skipped, 0 failed" in done.stdout
        for name in ("auth", "tls", "failover", "v3: a watch outlives its member"):
            assert f". {name}: skipped" in done.stdout
        for name in ("write", "ttl", "compare-and-swap", "update", "append", "watch", "refresh", "keep alive", "lock"):
            assert f". {name}: " in done.stdout
        root = await client.read("/")
        assert not [n.key for n in root.leaves if n.key and n.key.startswith("/aio_etcd_tour")]
        assert (await client.read("/tour-neighbour")).value == "untouched"


def test_tour_starts_its_own_server() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ETCD_ENDPOINT"}
    done = subprocess.run([sys.executable, str(TOUR)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Starting a throwaway three-member etcd cluster" in done.stdout
    for said in ("lock: 5 tasks", "auth: with auth on", "tls: wrote and read", "failover: killed the leader",
                 "never expired", "keep alive: "):
        assert said in done.stdout
    assert "0 failed" in done.stdout


def test_tour_with_api_v3_on_a_cluster_without_v2() -> None:
    # The same steps with Client(api="v3") on etcd's v3 store (etcd 3.6 and
    # later have nothing else): only v2's users and roles are left out.
    env = {k: v for k, v in os.environ.items() if k != "ETCD_ENDPOINT"}
    env["AIO_ETCD_API"] = "v3"
    done = subprocess.run([sys.executable, str(TOUR)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "19 steps passed, 1 skipped, 0 failed (api=v3)" in done.stdout
    assert "auth: skipped: v2's users and roles have no v3 form" in done.stdout
    assert "a lease lasts at least 2 s" in done.stdout  # ttl=1 is 2 s on the v3 store, not "about a second"
    for said in ("lock: 5 tasks", "tls: wrote and read", "failover: killed the leader", "keep alive: "):
        assert said in done.stdout


def test_tour_rejects_a_bad_endpoint() -> None:
    done = _run_tour({"ETCD_ENDPOINT": "not-a-url"})
    assert done.returncode == 2
    assert "ETCD_ENDPOINT" in done.stderr
