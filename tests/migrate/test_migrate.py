"""aio_etcd.migrate and ``aio-etcd migrate`` on real etcd: from a v2 etcd (3.5) to a v3-only etcd
(``etcd_v3_server``: 3.5.1 by default, the 3.6 or 3.7 named by ``ETCD_BIN`` in CI), and one etcd
serving both APIs."""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

import aio_etcd as etcd
from aio_etcd import v3
from aio_etcd.migrate import Report, migrate, progress_key, verify
from aio_etcd.testing import EtcdCluster

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def sides(
    etcd_server: EtcdCluster, etcd_v3_server: EtcdCluster
) -> AsyncIterator[tuple[etcd.Client, v3.Client]]:
    async with etcd_server.client() as source, etcd_v3_server.v3_client() as dest:
        yield source, dest


async def _fill(source: etcd.Client, top: str, count: int = 40) -> None:
    for i in range(count):
        await source.write(f"{top}/d{i % 4}/k{i}", f"v{i}", ttl=30 if i % 10 == 0 else None)


async def _following(run: asyncio.Task[Report], dest: v3.Client, key: bytes, index: int) -> None:
    """Wait until the running migration recorded that it applied v2's change ``index``."""
    while True:
        kv = await dest.get(key)
        if kv is not None and json.loads(kv.value).get("index", 0) >= index:
            return
        if run.done():
            run.result()
            raise AssertionError("the migration ended")
        await asyncio.sleep(0.05)


async def test_copy_with_ttls_dirs_hidden_and_verify(sides: tuple[etcd.Client, v3.Client], etcd_prefix: str) -> None:
    source, dest = sides
    await _fill(source, etcd_prefix)
    await source.write(etcd_prefix + "/empty", None, dir=True)
    await source.write(etcd_prefix + "/tdir", None, dir=True, ttl=20)
    await source.write(etcd_prefix + "/tdir/child", "c")
    await source.write(etcd_prefix + "/_hidden", "h")
    report = await migrate(
        source, dest, prefix=etcd_prefix, dest_prefix="/new", verify_after=True, hidden=[etcd_prefix + "/_hidden"]
    )
    assert report.differences == [] and report.conflicts == []
    assert report.keys_copied == 40 + 1 + 1  # keys, the directory's child, the hidden key
    assert report.dirs_dropped == [etcd_prefix + "/empty"]
    assert report.hidden_copied == [etcd_prefix + "/_hidden"]
    child = await dest.get(f"/new{etcd_prefix}/tdir/child")
    assert child is not None and child.value == b"c" and child.lease  # expires with its directory
    ttl_keys = [await dest.get(f"/new{etcd_prefix}/d{i % 4}/k{i}") for i in (0, 10, 20, 30)]
    assert len({kv.lease for kv in ttl_keys if kv is not None}) <= 2  # expiries within 0.5 s share a lease
    assert report.leases_created <= 3
    info = await dest.time_to_live(child.lease)
    assert 17 <= info.ttl <= 20
    record = await dest.get(progress_key(etcd_prefix, "/new"))
    assert record is not None and json.loads(record.value)["index"] == report.snapshot_index
    assert "hidden" in report.to_json()["hidden_note"]


async def test_dry_run_writes_nothing_and_keep_empty_dirs(
    sides: tuple[etcd.Client, v3.Client], etcd_prefix: str
) -> None:
    source, dest = sides
    await _fill(source, etcd_prefix, 10)
    await source.write(etcd_prefix + "/empty", None, dir=True)
    report = await migrate(source, dest, prefix=etcd_prefix, dry_run=True)
    assert report.keys_copied == 10 and report.dry_run
    assert (await dest.range(etcd_prefix, prefix=True, count_only=True)).count == 0
    await migrate(source, dest, prefix=etcd_prefix, keep_empty_dirs=True)
    marker = await dest.get(etcd_prefix + "/empty/")
    assert marker is not None and marker.value == b""
    assert await verify(source, dest, prefix=etcd_prefix) == []


async def test_follow_applies_every_change_in_order(sides: tuple[etcd.Client, v3.Client], etcd_prefix: str) -> None:
    source, dest = sides
    await _fill(source, etcd_prefix)
    stop = asyncio.Event()
    run = asyncio.create_task(migrate(source, dest, prefix=etcd_prefix, follow=True, stop=stop, ttl_poll=0.5))
    last = 0
    for i in range(120):  # during and after the copy: sets, deletes, directory deletes, refreshes
        key = f"{etcd_prefix}/d{i % 4}/k{i % 30}"
        last = (await source.write(key, f"w{i}", ttl=20 if i % 7 == 0 else None)).modifiedIndex or last
        if i % 11 == 0:
            last = (await source.delete(key)).modifiedIndex or last
        if i == 60:
            last = (await source.delete(f"{etcd_prefix}/d3", recursive=True)).modifiedIndex or last
    refreshed = await source.refresh(f"{etcd_prefix}/d0/k0", ttl=60)  # no event in a v2 watch
    await _following(run, dest, progress_key(etcd_prefix), last)
    kv = None
    for _ in range(100):  # the TTL poll moves it to a lease of its own time
        kv = await dest.get(f"{etcd_prefix}/d0/k0")
        if kv is not None and kv.lease and (await dest.time_to_live(kv.lease)).ttl > 40:
            break
        await asyncio.sleep(0.1)
    stop.set()
    report = await asyncio.wait_for(run, 30)
    assert report.last_index >= last and report.changes_followed > 0 and report.ttl_moves >= 1
    assert refreshed.ttl == 60
    assert await verify(source, dest, prefix=etcd_prefix) == []


async def test_keys_whose_ttl_ran_out_before_their_batch_are_read_again(
    sides: tuple[etcd.Client, v3.Client], etcd_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aio_etcd.migrate as migration

    source, dest = sides
    for i in range(150):
        await source.write(f"{etcd_prefix}/live/k{i}", f"l{i}", ttl=2)
        await source.write(f"{etcd_prefix}/gone/k{i}", f"g{i}", ttl=2)
        await source.write(f"{etcd_prefix}/plain/k{i}", f"p{i}")
    snapshot = migration._snapshot

    async def slow_snapshot(*args: object) -> object:
        # A copy so long that every TTL read in the snapshot runs out before
        # its key is written; meanwhile half of them are refreshed in v2.
        tree = await snapshot(*args)  # type: ignore[arg-type]
        for i in range(150):
            await source.refresh(f"{etcd_prefix}/live/k{i}", ttl=60)
        await asyncio.sleep(3)
        return tree

    monkeypatch.setattr(migration, "_snapshot", slow_snapshot)
    report = await migrate(source, dest, prefix=etcd_prefix, verify_after=True)
    assert report.expired == 150  # gone from v2 when read again: not written, and counted
    assert report.ttl_rereads == 150  # refreshed: written with a lease of the new remaining time
    assert report.keys_copied == 300 and report.differences == []
    live = await dest.get(f"{etcd_prefix}/live/k7")
    assert live is not None and live.value == b"l7" and (await dest.time_to_live(live.lease)).ttl > 50
    assert await dest.get(f"{etcd_prefix}/gone/k7") is None
    assert report.to_json()["expired"] == 150


async def test_a_lease_gone_before_the_commit_costs_a_retry_not_the_migration(
    sides: tuple[etcd.Client, v3.Client], etcd_prefix: str
) -> None:
    source, dest = sides
    await _fill(source, etcd_prefix)
    grant = dest.grant
    revoked: list[int] = []
    sabotage = [True]

    async def grant_then_lose(ttl: int) -> v3.LeaseGrant:
        # The race of a short lease: it runs out between its grant and the
        # transaction that uses it (here: revoked at once, every time asked).
        lease = await grant(ttl)
        if sabotage[0]:
            sabotage[0] = False
            await dest.revoke(lease.id)
            revoked.append(lease.id)
        return lease

    dest.grant = grant_then_lose  # type: ignore[method-assign]
    stop = asyncio.Event()
    run = asyncio.create_task(migrate(source, dest, prefix=etcd_prefix, follow=True, stop=stop))
    await _following(run, dest, progress_key(etcd_prefix), 1)  # the copy is done
    assert len(revoked) == 1
    sabotage[0] = True  # and once more while following
    index = (await source.write(etcd_prefix + "/later", "x", ttl=40)).modifiedIndex
    assert index is not None
    await _following(run, dest, progress_key(etcd_prefix), index)
    stop.set()
    report = await asyncio.wait_for(run, 30)
    assert len(revoked) == 2 and report.conflicts == []
    later = await dest.get(etcd_prefix + "/later")
    assert later is not None and later.lease not in revoked
    assert await verify(source, dest, prefix=etcd_prefix) == []


async def test_resume_continues_from_the_recorded_index(
    sides: tuple[etcd.Client, v3.Client], etcd_prefix: str
) -> None:
    source, dest = sides
    await _fill(source, etcd_prefix, 10)
    stop = asyncio.Event()
    stop.set()  # copy, then stop at once
    first = await migrate(source, dest, prefix=etcd_prefix, follow=True, stop=stop)
    await source.write(etcd_prefix + "/d0/k0", "changed while stopped")
    await source.delete(etcd_prefix + "/d1/k1")
    second = await migrate(source, dest, prefix=etcd_prefix, follow=True, stop=stop)
    assert second.resumed_from == first.last_index and second.keys_copied == 0
    assert await verify(source, dest, prefix=etcd_prefix) == []


async def test_resume_after_v2_forgot_the_index_copies_again(
    sides: tuple[etcd.Client, v3.Client], etcd_prefix: str
) -> None:
    source, dest = sides
    await _fill(source, etcd_prefix, 10)
    stop = asyncio.Event()
    stop.set()
    await migrate(source, dest, prefix=etcd_prefix, follow=True, stop=stop)
    await source.delete(etcd_prefix + "/d1/k1")
    for i in range(1010):  # past v2's window of 1,000 events
        await source.write(f"{etcd_prefix}-noise/{i % 5}", str(i))
    again = await migrate(source, dest, prefix=etcd_prefix, follow=True, stop=stop)
    assert again.resumed_from is None and again.reconciled == 1  # the deleted key left v3 too
    assert await dest.get(etcd_prefix + "/d1/k1") is None
    assert await verify(source, dest, prefix=etcd_prefix) == []


async def test_a_v3_key_changed_after_the_copy_began_is_not_overwritten(
    sides: tuple[etcd.Client, v3.Client], etcd_prefix: str
) -> None:
    source, dest = sides
    await source.write(etcd_prefix + "/a", "1")
    stop = asyncio.Event()
    run = asyncio.create_task(migrate(source, dest, prefix=etcd_prefix, follow=True, stop=stop))
    first = (await source.write(etcd_prefix + "/b", "x")).modifiedIndex
    assert first is not None
    await _following(run, dest, progress_key(etcd_prefix), first)
    await dest.put(etcd_prefix + "/a", b"an app moved early")  # a v3 writer
    index = (await source.write(etcd_prefix + "/a", "2")).modifiedIndex
    assert index is not None
    await _following(run, dest, progress_key(etcd_prefix), index)
    stop.set()
    report = await run
    assert report.conflicts == [etcd_prefix + "/a"]
    kv = await dest.get(etcd_prefix + "/a")
    assert kv is not None and kv.value == b"an app moved early"
    overwritten = await migrate(source, dest, prefix=etcd_prefix, overwrite=True, verify_after=True)
    assert overwritten.differences == []


def _cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aio_etcd", "migrate", *args],
        capture_output=True, text=True, timeout=60, **kwargs,  # type: ignore[call-overload]
    )  # fmt: skip


@pytest.fixture
def v3_only(etcd_v3_server: EtcdCluster) -> EtcdCluster:
    return etcd_v3_server


async def test_two_etcds_and_bad_input(etcd_server: EtcdCluster, v3_only: EtcdCluster, etcd_prefix: str) -> None:
    async with etcd_server.client() as source:
        await _fill(source, etcd_prefix, 20)
    # Copied over gRPC, compared through the gateway (--to-transport: the v3 side's transport).
    done = await asyncio.to_thread(
        _cli, "--from", etcd_server.url, "--to", v3_only.url, "--prefix", etcd_prefix, "--to-transport", "grpc"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["keys_copied"] == 20
    checked = await asyncio.to_thread(
        _cli, "--from", etcd_server.url, "--to", v3_only.url, "--prefix", etcd_prefix, "--verify",
        "--to-transport", "gateway",
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    verified = json.loads(checked.stdout)
    assert verified["differences"] == [] and verified["keys_copied"] == 0 and verified["v2_keys"] == 20
    assert verified["mode"] == "verify only" and "nothing was copied by this run" in checked.stderr
    # --verify alone against an empty side: it says it copied nothing, and what was meant.
    empty = await asyncio.to_thread(
        _cli, "--from", etcd_server.url, "--to", v3_only.url, "--prefix", etcd_prefix, "--dest-prefix", "/nowhere",
        "--verify",
    )  # fmt: skip
    assert empty.returncode == 1
    assert "did you mean --copy --verify?" in json.loads(empty.stdout)["hint"]
    assert "nothing was copied by this run; 20 of 20 v2 keys are missing in v3" in empty.stderr
    copied = await asyncio.to_thread(
        _cli, "--from", etcd_server.url, "--to", v3_only.url, "--prefix", etcd_prefix, "--dest-prefix", "/nowhere",
        "--copy", "--verify",
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout)["mode"] == "copy + verify" and json.loads(copied.stdout)["keys_copied"] == 20
    async with v3_only.v3_client() as dest:
        await dest.put(etcd_prefix + "/d0/k0", b"different")
    differs = await asyncio.to_thread(
        _cli, "--from", etcd_server.url, "--to", v3_only.url, "--prefix", etcd_prefix, "--verify"
    )
    assert differs.returncode == 1 and f"difference: {etcd_prefix}/d0/k0" in differs.stderr
    unreachable = await asyncio.to_thread(_cli, "--from", "http://127.0.0.1:9", "--to", v3_only.url, "--verify")
    assert unreachable.returncode == 3 and "could not be reached" in unreachable.stderr
    no_v2 = await asyncio.to_thread(_cli, "--from", v3_only.url, "--to", v3_only.url)
    assert no_v2.returncode == 4 and "v2" in no_v2.stderr
    bad = await asyncio.to_thread(_cli, "--from", etcd_server.url, "--to", "not-a-url")
    assert bad.returncode == 2
    bad = await asyncio.to_thread(_cli, "--from", etcd_server.url, "--to", v3_only.url, "--to-transport", "http")
    assert bad.returncode == 2 and "--to-transport" in bad.stderr


def _into_closed_pipe(*args: str) -> tuple[int, str]:
    """Run ``aio-etcd migrate`` with a standard output nobody reads (``... | head`` after head ended)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "aio_etcd", "migrate", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    with proc.stderr:
        errors = proc.stderr.read()
    return proc.wait(timeout=60), errors


async def test_a_reader_that_went_away_ends_the_command_quietly(etcd_server: EtcdCluster, etcd_prefix: str) -> None:
    status, errors = await asyncio.to_thread(
        _into_closed_pipe, "--from", etcd_server.url, "--to", etcd_server.url, "--prefix", etcd_prefix, "--verify"
    )
    assert status == 141  # as a shell tool killed by SIGPIPE
    assert "Traceback" not in errors and "BrokenPipeError" not in errors


async def test_auth_refused_on_the_v3_side(etcd_server: EtcdCluster) -> None:
    with EtcdCluster(v2=False) as guarded:
        async with guarded.v3_client() as admin:
            await admin.auth.user_add("root", "rootpw")
            await admin.auth.user_grant("root", "root")
            await admin.auth.enable()
        done = await asyncio.to_thread(
            _cli, "--from", etcd_server.url, "--to", guarded.url, "--to-username", "root:wrong", "--prefix", "/x"
        )
        assert done.returncode == 4 and "refused the credentials" in done.stderr
        allowed = await asyncio.to_thread(
            _cli, "--from", etcd_server.url, "--to", guarded.url, "--to-username", "root:rootpw", "--prefix", "/x"
        )
        assert allowed.returncode == 0, allowed.stderr


async def test_killed_mid_copy_then_run_again(
    etcd_server: EtcdCluster, etcd_v3_server: EtcdCluster, etcd_prefix: str
) -> None:
    async with etcd_server.client(per_host_pool_size=16) as source:
        sem = asyncio.Semaphore(16)

        async def put(i: int) -> None:
            async with sem:
                # A tenth with TTLs of 2 to 30 s: many run out between the two runs, or during one.
                await source.write(f"{etcd_prefix}/d{i % 50}/k{i}", f"v{i}", ttl=2 + i % 29 if i % 10 == 0 else None)

        await asyncio.gather(*(put(i) for i in range(4000)))
        args = ["--from", etcd_server.url, "--to", etcd_v3_server.url, "--prefix", etcd_prefix]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "aio_etcd", "migrate", *args, stdout=subprocess.DEVNULL
        )
        try:
            async with etcd_v3_server.v3_client() as dest:
                while True:  # until the copy is under way: its progress record says "copying"
                    kv = await dest.get(progress_key(etcd_prefix))
                    if kv is not None or proc.returncode is not None:
                        break
                    await asyncio.sleep(0.01)
                os.kill(proc.pid, signal.SIGKILL)
                await asyncio.wait_for(proc.wait(), 10)
                for i in range(0, 4000, 97):  # changes between the two runs, deletes included
                    await source.write(f"{etcd_prefix}/d{i % 50}/k{i}", "newer")
                await source.delete(f"{etcd_prefix}/d1/k1")
                done = await asyncio.to_thread(_cli, *args)
                assert done.returncode == 0, done.stderr
                assert await verify(source, dest, prefix=etcd_prefix) == []
                errors, missing = await _lease_errors(source, dest, etcd_prefix)
                print(f"lease end - v2 expiry: {len(errors)} keys, from {min(errors):+.3f} s to {max(errors):+.3f} s")
                assert missing == [] and max(abs(e) for e in errors) <= 1.0  # issue 23 item 7
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def test_a_follow_stream_that_lost_its_place_reads_v2_again(
    sides: tuple[etcd.Client, v3.Client], etcd_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aio_etcd.migrate as migration

    streams: list[migration._Changes] = []

    class Recorded(migration._Changes):
        async def start(self, *, fresh: bool = False) -> None:
            streams.append(self)
            await super().start(fresh=fresh)

    monkeypatch.setattr(migration, "_Changes", Recorded)
    source, dest = sides
    await _fill(source, etcd_prefix, 10)
    stop = asyncio.Event()
    run = asyncio.create_task(migrate(source, dest, prefix=etcd_prefix, follow=True, stop=stop))
    index = (await source.write(etcd_prefix + "/d0/k0", "seen")).modifiedIndex
    assert index is not None
    await _following(run, dest, progress_key(etcd_prefix), index)
    # What a stream broken for longer than v2's 1,000-event window meets on its way back:
    await streams[0].close()
    await source.delete(etcd_prefix + "/d1/k1")  # a change the stream never saw
    streams[0].queue.put_nowait(migration.EtcdEventIndexCleared("the index was cleared"))
    while (await dest.get(etcd_prefix + "/d1/k1")) is not None:  # noqa: ASYNC110 (the re-read removes it)
        await asyncio.sleep(0.05)
    stop.set()
    report = await asyncio.wait_for(run, 30)
    assert report.reconciled == 1 and report.reread_seconds > 0
    assert await verify(source, dest, prefix=etcd_prefix) == []


def _v2_expiry(stamp: str) -> float:
    """v2's ``expiration`` (RFC 3339, nanoseconds) as a wall-clock time."""
    whole, _, rest = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(whole + "+00:00").timestamp() + float("0." + (rest or "0"))


async def _lease_end(dest: v3.Client, lease: int, rounds: int = 6) -> tuple[float, float] | None:
    """When ``lease`` ends (wall clock), as ``(earliest, latest)`` within 0.1 s; None once it is gone
    or when it ends too soon to be measured so closely.

    etcd's TimeToLive answers whole seconds, truncated: an answer ``n`` read
    between ``sent`` and ``back`` puts the end in ``[sent + n, back + n + 1)``.
    Each further read is timed so that a whole second boundary falls in the
    middle of what is still unknown, which halves it.
    """
    sent = time.time()
    n = (await dest.time_to_live(lease)).ttl
    back = time.time()
    if n <= 0:  # gone, or ending within a second (0 also means ended up to a second ago, not revoked yet)
        return None
    low, high = sent + n, back + n + 1
    for _ in range(rounds):
        middle = (low + high) / 2
        whole = math.floor(middle - time.time() - 0.02)
        if whole < 0:
            break
        await asyncio.sleep(max(0.0, middle - whole - time.time()))  # a moment set by the clock, not a wait for etcd
        sent = time.time()
        n = (await dest.time_to_live(lease)).ttl
        back = time.time()
        if n <= 0:
            return None
        low, high = max(low, sent + n), min(high, back + n + 1)
    return (low, high) if high - low < 0.1 else None  # None: ends too soon to be narrowed down


async def _lease_errors(source: etcd.Client, dest: v3.Client, prefix: str) -> tuple[list[float], list[str]]:
    """For each v2 key with a TTL under ``prefix``: its v3 lease's end minus its v2 expiry (seconds);
    and the keys v2 still has for more than a second that v3 lacks (or holds without a lease)."""
    tree = await source.read(prefix, recursive=True)
    expiries = {node.key: _v2_expiry(node.expiration) for node in tree.leaves if node.expiration and node.key}
    by_lease: dict[int, list[float]] = {}
    missing: list[str] = []
    for key, expires in expiries.items():
        kv = await dest.get(key)
        if kv is None or not kv.lease:
            if expires > time.time() + 1:
                missing.append(key)
            continue
        by_lease.setdefault(kv.lease, []).append(expires)
    ends = await asyncio.gather(*(_lease_end(dest, lease) for lease in by_lease))
    errors: list[float] = []
    for end, expiry_list in zip(ends, by_lease.values(), strict=True):
        if end is None:  # runs out while measured: so must the v2 keys
            missing.extend(f"a key expiring at {e}" for e in expiry_list if e > time.time() + 2)
            continue
        low, high = end
        errors.extend((low + high) / 2 - expires for expires in expiry_list)
    return errors, missing


async def test_follow_with_a_writer_leases_end_within_a_second_of_v2(
    sides: tuple[etcd.Client, v3.Client], etcd_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 23 item 7: migrated leases ended 2 s after the v2 expiry with a writer running."""
    import aio_etcd.migrate as migration

    source, dest = sides
    for i in range(240):  # many keys expiring in each second, at all fractions of it
        await source.write(f"{etcd_prefix}/k{i}", f"v{i}", ttl=20 + i % 12 if i % 4 else None)
        if i % 30 == 0:
            await asyncio.sleep(0.15)  # written over more than a second
    snapshot = migration._snapshot

    async def long_copy(*args: object) -> object:
        tree = await snapshot(*args)  # type: ignore[arg-type]
        await asyncio.sleep(1.5)  # the copy of a large tree: the changes meanwhile are applied late
        return tree

    monkeypatch.setattr(migration, "_snapshot", long_copy)
    stop = asyncio.Event()
    run = asyncio.create_task(migrate(source, dest, prefix=etcd_prefix, follow=True, stop=stop, ttl_poll=0.5))
    rnd = random.Random(7)
    last = 0
    for i in range(300):  # the writer, during the copy and after: sets with TTLs, some without
        written = await source.write(f"{etcd_prefix}/w{i % 200}", f"w{i}", ttl=rnd.randint(15, 20) if i % 5 else None)
        last = written.modifiedIndex or last
        if i % 20 == 0:
            await asyncio.sleep(0.1)  # a writer at a few hundred writes a second, spread over the run
    await _following(run, dest, progress_key(etcd_prefix), last)
    stop.set()
    await asyncio.wait_for(run, 30)
    errors, missing = await _lease_errors(source, dest, etcd_prefix)
    print(f"lease end - v2 expiry: {len(errors)} keys, from {min(errors):+.3f} s to {max(errors):+.3f} s")
    assert missing == []
    assert len(errors) > 50
    assert max(abs(e) for e in errors) <= 1.0


async def _lease_ending_at(dest: v3.Client, when: float) -> int:
    """A lease granted at the moment that makes it end at ``when`` (wall clock), give or take the grant's round trip."""
    whole = math.floor(when - time.time() - 0.05)
    await asyncio.sleep(max(0.0, when - whole - time.time()))  # a moment on the clock, not a wait for etcd
    return (await dest.grant(whole)).id


async def test_verify_measures_lease_ends_against_the_v2_expiration(
    sides: tuple[etcd.Client, v3.Client], etcd_prefix: str
) -> None:
    """Issue 23 item 7: verify compared whole-second TTLs within 2 s; a lease 1.6 s late passed."""
    source, dest = sides
    offsets = {"on-time": 0.0, "half-late": 0.5, "late-2": 2.0, "late-1.6": 1.6, "early-1.6": -1.6}
    for name, offset in offsets.items():
        written = await source.write(f"{etcd_prefix}/{name}", name, ttl=30)
        assert written.expiration is not None
        lease = await _lease_ending_at(dest, _v2_expiry(written.expiration) + offset)
        await dest.put(f"{etcd_prefix}/{name}", name.encode(), lease=lease)
    found = await verify(source, dest, prefix=etcd_prefix)
    said = {d.key.rsplit("/", 1)[1]: d.what for d in found}
    assert sorted(said) == ["early-1.6", "late-1.6", "late-2"], said
    for name in said:
        figure = float(said[name].split("ends ")[1].split("s ")[0])
        assert abs(figure - abs(offsets[name])) <= 0.15, said[name]  # measured, not the whole-second TTL
    assert "after its v2 expiry" in said["late-2"] and "before its v2 expiry" in said["early-1.6"]
    assert found.expired == 0 and found.v2_keys == 5
