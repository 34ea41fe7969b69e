"""The benchmark runs (in --quick mode) and reports every workload; its figures are not judged here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"
WORKLOADS = ["read_seq", "write_seq", "read_conc", "write_conc", "tree_read", "watch_fanout"]


@pytest.mark.timeout(300)
def test_quick_benchmark_reports_every_workload(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--rounds", "1", "--contenders", "floor,aio_etcd", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split("|")[1].strip() for line in done.stdout.splitlines() if line.startswith("| ")}
    assert set(WORKLOADS) <= rows
    assert "| workload | floor | aio_etcd |" in done.stdout
    figures = json.loads(out.read_text())["results"]
    for contender in ("floor", "aio_etcd"):
        for workload in WORKLOADS:
            (run,) = figures[contender][workload]
            assert run["ops"] > 0 and run["cpu_us_per_op"] > 0
    for contender in ("floor", "aio_etcd"):
        fanout = figures[contender]["watch_fanout"][0]
        assert fanout["pending_before_write"] == fanout["ops"]  # every watcher waited for the write
        assert fanout["delivered"] == fanout["ops"]  # and woke with it


CHAOS = BENCH.parent / "chaos.py"


@pytest.mark.timeout(120)
def test_chaos_benchmark_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    done = subprocess.run(
        [sys.executable, str(CHAOS), "--kills", "1", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for line in ("writes resumed after the kill", "unknown outcomes surfaced to plain writes and reads: 0 ",
                 "acknowledged writes lost: 0", "keys expired: 0", "lock holder still holds (same key): True"):
        assert line in done.stdout
    figures = json.loads(out.read_text())
    assert len(figures["kills"]) == 1
    assert figures["appends_duplicated"] == {}
    assert figures["cas_counter_within_bounds"] is True


@pytest.mark.timeout(120)
def test_watch_rate_benchmark_reports_and_checks_delivery(tmp_path: Path) -> None:
    out = tmp_path / "rate.json"
    script = BENCH.parent / "watch_rate.py"
    args = ["--rates", "100", "--duration", "1", "--watchers", "2", "--drain", "20", "--json", str(out)]
    done = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=110, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| writes/s asked | writes/s done | events/s per watcher |" in done.stdout
    (result,) = json.loads(out.read_text())["results"]
    assert result["rate"] == 100 and result["writes"] == 100
    assert result["received"] == [100, 100] and result["out_of_order"] == [0, 0]  # all, in order


@pytest.mark.timeout(200)
def test_per_call_benchmark_reports_every_contender_and_workload(tmp_path: Path) -> None:
    out = tmp_path / "percall.json"
    done = subprocess.run(
        [sys.executable, str(BENCH.parent / "percall_v3.py"), "--quick", "--rounds", "1", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())["results"]
    assert {"grpc-floor", "aio_etcd.v3-grpc"} <= set(figures)
    for contender, workloads in figures.items():
        assert set(workloads) == {"get_seq", "put_seq", "get_conc", "put_conc", "range_5000"}, contender
        for (run,) in workloads.values():
            assert run["cpu_us"] > 0 and run["ops_s"] > 0 and run["etcd_us"] >= 0
    assert "get_conc    aio_etcd.v3-grpc" in done.stdout
