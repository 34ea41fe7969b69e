"""aio-etcd dump and load: a subtree to JSON lines and back, and bad input."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from cli import OURS, run

import aio_etcd as etcd
from aio_etcd.testing import EtcdCluster


async def _run(server: EtcdCluster, *args: str, stdin: bytes = b"") -> tuple[int | None, str, str]:
    return await run(OURS, list(args), url=server.url, stdin=stdin, timeout=120)


def _without_ttl(text: str) -> list[dict[str, object]]:
    entries = [json.loads(line) for line in text.splitlines()]
    for entry in entries:
        if "ttl" in entry:
            entry["ttl"] = "T"
    return entries


async def test_dump_and_load_round_trip(etcd_server: EtcdCluster, etcd_client: etcd.Client, etcd_prefix: str) -> None:
    p = etcd_prefix
    await etcd_client.write(f"{p}/a b?c%&+ключ", "v 1")
    await etcd_client.write(f"{p}/t", "with ttl", ttl=300)
    await etcd_client.write(f"{p}/empty", None, dir=True)
    await etcd_client.write(f"{p}/d/x", "multi\nline\n")
    await asyncio.gather(*(etcd_client.write(f"{p}/many/k{i:05}", str(i)) for i in range(2000)))
    await etcd_client.write(f"{p}/_hidden/h", "hidden")
    code, dumped, _ = await _run(etcd_server, "dump", p)
    assert code == 0
    entries = [json.loads(line) for line in dumped.splitlines()]
    assert {"key": f"{p}/empty", "dir": True} in entries
    assert {"key": f"{p}/d/x", "value": "multi\nline\n"} in entries
    assert any(e["key"] == f"{p}/t" and 290 < e["ttl"] <= 300 for e in entries)
    assert not any("_hidden" in e["key"] for e in entries)  # etcd does not list hidden names
    assert len(entries) == 1 + 3 + 2 + 1 + 2000  # the prefix, 3 keys/dirs, d and x, many, its keys
    code, hidden, _ = await _run(etcd_server, "dump", f"{p}/_hidden")  # named, a hidden directory is dumped
    assert [json.loads(line) for line in hidden.splitlines()] == [
        {"key": f"{p}/_hidden", "dir": True},
        {"key": f"{p}/_hidden/h", "value": "hidden"},
    ]

    await etcd_client.delete(p, recursive=True)
    code, _, said = await _run(etcd_server, "load", "-", stdin=dumped.encode())
    assert code == 0, said
    assert "2003 keys and 4 directories written" in said
    code, again, _ = await _run(etcd_server, "dump", p)
    assert _without_ttl(again) == _without_ttl(dumped)


async def test_load_stops_at_bad_input_and_dry_run_writes_nothing(
    etcd_server: EtcdCluster, etcd_client: etcd.Client, etcd_prefix: str, tmp_path: Path
) -> None:
    good = json.dumps({"key": f"{etcd_prefix}/first", "value": "1"})
    after = json.dumps({"key": f"{etcd_prefix}/after", "value": "2"})
    for bad in ("not json", '{"key": "relative", "value": "x"}', json.dumps({"key": f"{etcd_prefix}/v", "value": 3}),
                json.dumps({"key": f"{etcd_prefix}/t", "value": "x", "ttl": 0})):
        path = tmp_path / "bad.jsonl"
        path.write_text(f"{good}\n{bad}\n{after}\n")
        code, _, said = await _run(etcd_server, "load", "--dry-run", str(path))
        assert code == 1 and "line 2:" in said
        assert not await etcd_client.contains(f"{etcd_prefix}/first")  # a dry run writes nothing
        code, _, said = await _run(etcd_server, "load", str(path))
        assert code == 1 and "line 2:" in said and "1 entries before it were written" in said
        assert (await etcd_client.read(f"{etcd_prefix}/first")).value == "1"
        assert not await etcd_client.contains(f"{etcd_prefix}/after")
        await etcd_client.delete(f"{etcd_prefix}/first")
    code, _, said = await _run(etcd_server, "load", str(tmp_path / "missing.jsonl"))
    assert code == 1 and "cannot read" in said
