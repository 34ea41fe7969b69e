"""The attempt loop with a scripted transport: failover, replay rules, deadlines, answers that are not etcd's."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from scripted import (
    A,
    B,
    C,
    Handler,
    Scripted,
    Sent,
    cut,
    error,
    etcd_json,
    hang,
    machines,
    node,
    raw,
    refused,
    timed_out,
)

import aio_etcd as etcd
from aio_etcd._http import Response
from aio_etcd._v2.keys import HttpKeys

pytestmark = pytest.mark.timeout(20)

FAST = etcd.RetryPolicy(attempts=6, attempt_timeout=0.05, backoff=0.001, backoff_cap=0.002)


def per_member(**answers: Handler) -> Handler:
    """Answers by member (``a=``, ``b=``, ``c=``); the member list answers A, B, C."""

    def handler(sent: Sent) -> Response | Any:
        if sent.path == "/v2/machines":
            return machines(sent, A, B, C)
        return answers[sent.base.split("//")[1].split(":")[0]](sent)

    return handler


def in_turn(*handlers: Handler) -> Handler:
    """Each handler once, in order; the last one again and again."""
    calls = iter(handlers)
    last = handlers[-1]

    def handler(sent: Sent) -> Response | Any:
        nonlocal last
        last = next(calls, last)
        return last(sent)

    return handler


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., tuple[etcd.Client, Scripted]]]:
    """Builds clients of members a, b, c over a scripted transport; closes them after the test."""
    clients: list[etcd.Client] = []

    def build(handler: Handler, hosts: int = 3, **options: Any) -> tuple[etcd.Client, Scripted]:
        transport = Scripted(handler)
        options.setdefault("retry", FAST)
        members = (("a", 2379), ("b", 2379), ("c", 2379))[:hosts]
        client = etcd.Client(host=members, transport=transport, **options)
        clients.append(client)
        return client, transport

    yield build
    for client in clients:
        await client.close()


# -- idempotent calls are retried ---------------------------------------------------------------


@pytest.mark.parametrize("failure", [timed_out, cut, refused], ids=["timeout", "cut", "refused"])
async def test_read_moves_to_the_next_member(make: Any, failure: Handler) -> None:
    client, transport = make(per_member(a=failure, b=node, c=node))
    result = await client.read("/k")
    assert result.value == "v"
    assert transport.bases()[-1] == B
    assert client.base_uri == B  # pinned to the member that answered


@pytest.mark.parametrize(
    ("call", "form"),
    [
        (lambda c: c.refresh("/k", ttl=5), {"ttl": "5", "refresh": "true", "prevExist": "true"}),
        (
            lambda c: c.write("/k", None, ttl=5, refresh=True, prevValue="me"),
            {"ttl": "5", "refresh": "true", "prevValue": "me"},
        ),
    ],
    ids=["refresh", "refresh-prevValue"],
)
async def test_refreshes_are_sent_again_after_an_unknown_outcome(make: Any, call: Any, form: dict[str, str]) -> None:
    client, transport = make(per_member(a=timed_out, b=cut, c=node))
    await call(client)
    keys = [s for s in transport.sent if s.path.startswith("/v2/keys")]
    # A connection closed before any answer is tried once more at the same member.
    assert [(s.method, s.base) for s in keys] == [("PUT", A), ("PUT", B), ("PUT", B), ("PUT", C)]
    assert all(s.form() == form for s in keys)


async def test_a_5xx_answer_is_retried_and_the_call_succeeds(make: Any) -> None:
    timed = in_turn(lambda s: error(s, 300, 500, "Raft Internal Error", "etcdserver: request timed out"), node)
    client, transport = make(per_member(a=timed, b=timed, c=timed), hosts=1)
    assert (await client.read("/k")).value == "v"
    assert transport.bases() == [A, A]


async def test_a_store_refusal_with_code_300_is_not_retried(make: Any) -> None:
    refusal = lambda s: error(s, 300, 500, "Raft Internal Error", "nodePath /1/d : Not a file ()")  # noqa: E731
    client, transport = make(per_member(a=refusal, b=node, c=node))
    with pytest.raises(etcd.EtcdException) as info:
        await client.write("/d", None, dir=True, prevExist=True)
    assert info.value.error_code == 300
    assert transport.bases() == [A]


# -- calls that are not safe to repeat -------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.write("/k", "v"),
        lambda c: c.set("/k", "v", ttl=5),
        lambda c: c.delete("/k"),
        lambda c: c.write("/d", None, dir=True),
        lambda c: c.write("/q", "job", append=True),
        lambda c: c.write("/k", "v", prevValue="old"),
        lambda c: c.write("/k", "v", prevIndex=7),
        lambda c: c.write("/k", "v", prevExist=False),
        lambda c: c.write("/k", "v", prevExist=True),
        lambda c: c.delete("/k", prevValue="old"),
        lambda c: c.delete("/k", prevIndex=7),
        lambda c: c.api_execute("/v2/keys/k", "DELETE"),
        lambda c: c.api_execute("/v2/keys/q", "POST", data={"value": "x"}),
        lambda c: c.api_execute("/v2/keys/k", "GET", replay_safe=False),
    ],
    ids=["write", "set-ttl", "delete", "mkdir", "append", "prevValue", "prevIndex", "create", "prevExist", "cad-value",
         "cad-index", "raw-delete", "raw-post", "raw-get-marked-unsafe"],
)
@pytest.mark.parametrize(
    "failure",
    [timed_out, cut, lambda s: error(s, 300, 500, "Raft Internal Error", "etcdserver: request timed out")],
    ids=["timeout", "cut", "300-timed-out"],
)
async def test_unsafe_calls_are_never_sent_twice(make: Any, call: Any, failure: Handler) -> None:
    client, transport = make(per_member(a=failure, b=node, c=node))
    with pytest.raises(etcd.EtcdOutcomeUnknown) as info:
        await call(client)
    assert len(transport.bases()) == 1
    message = str(info.value)
    assert "not sent again" in message
    assert "a read now does not settle it" in message
    assert A in message
    assert info.value.member == A
    assert not info.value.settled
    assert isinstance(info.value, etcd.EtcdConnectionFailed)
    assert info.value.cause is not None


@pytest.mark.parametrize(
    "not_sent",
    [refused, lambda s: error(s, 300, 500, "Raft Internal Error", "raft proposal dropped"),
     lambda s: error(s, 300, 500, "Not capable of accessing auth store during rolling upgrades")],
    ids=["refused", "proposal-dropped", "rolling-upgrade"],
)
async def test_unsafe_calls_move_on_when_the_first_member_certainly_did_nothing(make: Any, not_sent: Handler) -> None:
    client, transport = make(per_member(a=not_sent, b=lambda s: node(s, action="create"), c=node))
    result = await client.write("/q", "job", append=True)
    assert result.newKey
    assert transport.bases() == [A, B]


async def test_api_execute_replays_what_the_caller_marks_safe(make: Any) -> None:
    client, transport = make(per_member(a=cut, b=node, c=node))
    resp = await client.api_execute("/v2/keys/k", "DELETE", replay_safe=True)
    assert resp.status == 200
    assert transport.bases() == [A, A, B]  # closed before any answer: once more at A, then B
    resp = await client.api_execute("/v2/keys/k", "GET")
    assert resp.status == 200


def slow(seconds: float, answer: Handler = node) -> Handler:
    async def handler(sent: Sent) -> Response:
        await asyncio.sleep(seconds)
        result = answer(sent)
        assert isinstance(result, Response)
        return result

    return handler


STATS = "/v2/stats/self"
QUORUM_READ = "/v2/keys/%00aio_etcd?quorum=true"


def stats(sent: Sent, leader: str = "l1", since: str = "t1") -> Response:
    return etcd_json({"name": "m", "leaderInfo": {"leader": leader, "startTime": since}}, url=sent.url)


def slow_member(answer: Handler, *, status: Callable[[Sent], Response] = stats) -> Handler:
    """Member a is slow to answer keys requests (``answer``) and answers statistics with ``status``."""

    def handler(sent: Sent) -> Response | Any:
        if sent.path == "/v2/machines":
            return machines(sent, A, B, C)
        if sent.path == STATS:
            return status(sent) if sent.base == A else stats(sent)
        return answer(sent) if sent.base == A else node(sent)

    return handler


async def test_an_unsafe_call_waits_for_a_member_that_still_answers(make: Any) -> None:
    # A follower holds a write through a leader election: far longer than attempt_timeout.
    client, transport = make(slow_member(slow(0.4)))
    result = await client.write("/k", "v", prevValue="old")
    assert result.value == "v"
    assert transport.bases() == [A]
    probes = [s for s in transport.sent if s.base == A and s.path == STATS]
    assert len(probes) >= 2  # the member was asked how it is while the write waited


async def test_an_unsafe_call_gives_up_on_a_member_that_stopped_answering(make: Any) -> None:
    client, transport = make(slow_member(hang, status=hang))  # type: ignore[arg-type]
    with pytest.raises(etcd.EtcdOutcomeUnknown) as info:
        await client.write("/k", "v", timeout=30)
    assert transport.bases() == [A]
    assert "no longer answers" in str(info.value)
    assert len([s for s in transport.sent if s.base == A and s.path == STATS]) == 2  # two unanswered in a row


async def test_an_unsafe_call_goes_on_once_a_new_leader_settled_it(make: Any) -> None:
    """The member follows a new leader, and a quorum read through it was answered since: what it
    proposed under the old one was applied by then or never will be. Not applied: next member."""
    leaders = iter(["l1", "l1", "l2"])

    def status(sent: Sent) -> Response:
        return stats(sent, leader=next(leaders, "l2"))

    def answer(sent: Sent) -> Response | Any:
        if sent.path == QUORUM_READ:
            return error(sent, 100, 404, "Key not found")
        return hang(sent)

    client, transport = make(slow_member(answer, status=status), retry=etcd.RetryPolicy(attempt_timeout=0.1))
    result = await client.write("/k", "v")
    assert result.value == "v"
    writes = [s.base for s in transport.sent if s.path == "/v2/keys/k"]
    assert writes == [A, B]
    assert [s.base for s in transport.sent if s.path == QUORUM_READ] == [A]


async def test_a_new_leader_without_a_read_through_the_member_settles_nothing(make: Any) -> None:
    leaders = iter(["l1", "l2"])

    def status(sent: Sent) -> Response:
        return stats(sent, leader=next(leaders, "l2"))

    def answer(sent: Sent) -> Response | Any:
        if sent.path == QUORUM_READ:
            return error(sent, 110, 401, "The request requires user authentication")  # refused before the read
        return hang(sent)

    client, transport = make(slow_member(answer, status=status), retry=etcd.RetryPolicy(attempt_timeout=0.1))
    with pytest.raises(etcd.EtcdOutcomeUnknown, match="deadline"):
        await client.write("/k", "v", timeout=1)
    assert [s.base for s in transport.sent if s.path == "/v2/keys/k"] == [A]


async def test_an_unsafe_call_waits_no_longer_than_its_deadline(make: Any) -> None:
    client, transport = make(slow_member(hang))
    with pytest.raises(etcd.EtcdOutcomeUnknown) as info:
        await client.write("/k", "v", timeout=0.3)
    assert "deadline" in str(info.value)
    assert transport.bases() == [A]


async def test_a_cancelled_unsafe_call_stops_probing(make: Any) -> None:
    probed = asyncio.Event()

    def status(sent: Sent) -> Response:
        probed.set()
        return stats(sent)

    client, transport = make(slow_member(hang, status=status))
    task = asyncio.ensure_future(client.write("/k", "v"))
    await probed.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    seen = len(transport.sent)
    await asyncio.sleep(0.2)
    assert len(transport.sent) == seen  # no prober left behind


# -- deadlines and attempts ---------------------------------------------------------------------------


async def test_every_attempt_fits_in_the_deadline(make: Any) -> None:
    policy = etcd.RetryPolicy(attempts=None, attempt_timeout=0.05, backoff=0.01, backoff_cap=0.02)
    client, transport = make(per_member(a=hang, b=hang, c=hang), retry=policy)
    with pytest.raises(etcd.EtcdConnectionFailed) as info:
        await client.read("/k", timeout=0.3)
    timeouts = [s.timeout for s in transport.sent if s.path.startswith("/v2/keys")]
    assert all(t is not None and t <= 0.05 for t in timeouts)
    assert sum(t for t in timeouts if t is not None) <= 0.3
    message = str(info.value)
    assert "read '/k'" in message and "0.3s deadline" in message and "http://" in message


async def test_attempts_are_bounded_by_the_policy(make: Any) -> None:
    client, transport = make(per_member(a=timed_out, b=timed_out, c=timed_out))
    with pytest.raises(etcd.EtcdConnectionFailed) as info:
        await client.read("/k")
    assert len(transport.bases()) == FAST.attempts
    assert transport.bases()[:3] == [A, B, C]
    assert f"in {FAST.attempts} attempts" in str(info.value)


async def test_every_member_refusing_fails_after_one_pass(make: Any) -> None:
    client, transport = make(per_member(a=refused, b=refused, c=refused))
    with pytest.raises(etcd.EtcdConnectionFailed, match="no member could be reached in 3 attempts"):
        await client.read("/k")
    assert transport.bases() == [A, B, C]


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    policy = etcd.RetryPolicy(backoff=0.1, backoff_cap=0.3, jitter=0.5)
    random.seed(7)
    for passes, full in [(1, 0.1), (2, 0.2), (3, 0.3), (6, 0.3)]:
        waits = {policy.pause(passes) for _ in range(50)}
        assert all(full / 2 <= wait <= full for wait in waits)
        assert len(waits) > 40  # jittered, not one value
    assert etcd.RetryPolicy(jitter=0).pause(2) == 0.1


def test_policy_refuses_nonsense() -> None:
    for bad in ({"attempts": 0}, {"attempt_timeout": 0}, {"backoff": -1}, {"jitter": 2}, {"deadline": 0}):
        with pytest.raises(ValueError):
            etcd.RetryPolicy(**bad)


async def test_policy_deadline_wins_over_read_timeout_and_the_call_over_both(make: Any) -> None:
    client, _ = make(per_member(a=node, b=node, c=node), read_timeout=5, retry=etcd.RetryPolicy(deadline=2))
    assert client.read_timeout == 2
    client, _ = make(per_member(a=hang, b=hang, c=hang), read_timeout=5)
    with pytest.raises(etcd.EtcdConnectionFailed, match=r"0\.1s deadline"):
        await client.read("/k", timeout=0.1)


# -- answers that are not etcd's ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (lambda s: raw(s, 200, b'{"status": "ok"}', {"X-Etcd-Index": "3"}), "without an action"),
        (lambda s: raw(s, 200, b"<html>hello</html>"), "not JSON"),
        (lambda s: raw(s, 200, b"[1, 2]", {"X-Etcd-Index": "3"}), "without an action"),
        (lambda s: raw(s, 200, b'{"action": "get", "node": {"key": "/k"}}'), "without X-Etcd-Index"),
        (lambda s: raw(s, 502, b"<html>Bad gateway</html>"), "HTTP 502"),
        (lambda s: raw(s, 403, b"<html>Forbidden</html>"), "HTTP 403 without an etcd error"),
    ],
    ids=["status-ok", "html", "json-list", "no-index", "proxy-502", "proxy-403"],
)
async def test_an_answer_that_is_not_etcds_moves_on_then_names_the_member(
    make: Any, answer: Handler, reason: str
) -> None:
    client, transport = make(per_member(a=answer, b=node, c=node))
    assert (await client.read("/k")).value == "v"
    assert transport.bases()[:2] == [A, B]

    client, transport = make(per_member(a=answer, b=answer, c=answer))
    with pytest.raises(etcd.EtcdException) as info:
        await client.read("/k")
    assert type(info.value) is etcd.EtcdException
    assert reason in str(info.value)
    assert "http://" in str(info.value)


@pytest.mark.parametrize(
    ("call", "path", "body"),
    [
        (lambda c: c.members(), "/v2/members", b'{"status": "ok"}'),
        (lambda c: c.members(), "/v2/members", b'{"members": [1, 2]}'),
        (lambda c: c.stats(), "/v2/stats/self", b"[]"),
        (lambda c: c.machines(), "/v2/machines", b"<html>not a list</html>"),
        (lambda c: c.leader(), "/v2/members/leader", b'"text"'),
    ],
    ids=["members-status", "members-no-ids", "stats-list", "machines-html", "leader-string"],
)
async def test_cluster_calls_refuse_answers_that_are_not_etcds(make: Any, call: Any, path: str, body: bytes) -> None:
    client, _ = make(lambda s: raw(s, 200, body), hosts=1)
    with pytest.raises(etcd.EtcdException) as info:
        await call(client)
    assert not isinstance(info.value, etcd.EtcdConnectionFailed)
    assert "http://a:2379" in str(info.value)
    assert client.machines_cache == [A]


@pytest.mark.parametrize("consume", ["watch_iter", "eternal_watch"])
async def test_a_watch_against_something_else_raises_instead_of_looping(make: Any, consume: str) -> None:
    client, transport = make(lambda s: raw(s, 200, b""), hosts=1)
    with pytest.raises(etcd.EtcdException, match="empty watch answer without X-Etcd-Index"):
        if consume == "watch_iter":
            async for _ in client.watch_iter("/k"):
                pass
        else:
            await client.eternal_watch("/k", lambda event: None)
    assert len(transport.sent) == 1


# -- the member list ------------------------------------------------------------------------------------


async def test_the_first_answer_waits_for_the_member_list(make: Any) -> None:
    # A client given one member learns the others before its first call
    # returns, so it can fail over from then on (the seed may die next).
    asked = asyncio.Event()
    release = asyncio.Event()

    async def slow(sent: Sent) -> Response:
        asked.set()
        await release.wait()
        return machines(sent, A, B, C)

    client, transport = make(
        lambda s: slow(s) if s.path == "/v2/machines" else node(s), hosts=1, allow_reconnect=True
    )
    first = asyncio.ensure_future(client.read("/k"))
    await asked.wait()
    await asyncio.sleep(0.01)  # time enough for the read to return, were it not waiting
    assert not first.done()  # answered, but waiting for the list
    release.set()
    assert (await first).value == "v"
    assert client.machines_cache == [A, B, C]
    assert [s.path for s in transport.sent] == ["/v2/keys/k", "/v2/machines"]


async def test_later_member_list_reads_never_fail_or_delay_a_call(make: Any) -> None:
    stuck = asyncio.Event()
    release = asyncio.Event()
    lists = 0

    async def second_list_hangs(sent: Sent) -> Response:
        nonlocal lists
        lists += 1
        if lists > 1:
            stuck.set()
            await release.wait()
        return machines(sent, A, B, C)

    def handler(sent: Sent) -> Any:
        if sent.path == "/v2/machines":
            return second_list_hangs(sent)
        return cut(sent) if sent.base == A and lists else node(sent)

    client, _ = make(handler, hosts=1, allow_reconnect=True)
    assert (await client.read("/k")).value == "v"  # learns A, B, C
    assert (await client.read("/k")).value == "v"  # A is cut: B answers, and the list is read again...
    await stuck.wait()
    assert (await client.read("/k")).value == "v"  # ...in the background, while calls go on
    release.set()
    assert await client.sync_members() == [A, B, C]


async def test_a_failed_member_list_costs_one_wait_and_is_tried_again(make: Any) -> None:
    lists: list[float] = []

    def handler(sent: Sent) -> Any:
        if sent.path == "/v2/machines":
            lists.append(asyncio.get_running_loop().time())
            return cut(sent) if len(lists) <= 2 else machines(sent, A, B, C)
        return node(sent)

    broken, _ = make(handler, hosts=1, allow_reconnect=True)
    backend = broken.backend
    assert isinstance(backend, HttpKeys)
    backend.cluster.RELIST_AFTER = 0.05
    assert (await broken.read("/k")).value == "v"
    assert broken.machines_cache == [A]  # the read of the list failed: it stays as it was
    assert (await broken.read("/k")).value == "v"  # and is not tried again at once
    assert len(lists) == 2  # (the failed read's own second attempt)
    await asyncio.sleep(0.1)
    assert (await broken.read("/k")).value == "v"  # a while later, it is
    assert broken.machines_cache == [A, B, C]


async def test_garbage_member_list_is_ignored(make: Any) -> None:
    client, _ = make(lambda s: raw(s, 200, b"<html>x</html>") if s.path == "/v2/machines" else node(s), hosts=1,
                     allow_reconnect=True)
    await client.read("/k")
    assert await client.sync_members() == [A]


# -- redirects ----------------------------------------------------------------------------------------


async def test_a_redirect_to_another_origin_drops_the_credentials(make: Any) -> None:
    def handler(sent: Sent) -> Response:
        if sent.base == A:
            return raw(sent, 307, b"", {"Location": "http://elsewhere:2379/v2/keys/k"})
        return node(sent)

    client, transport = make(handler, hosts=1, username="u", password="p")
    await client.write("/k", "v")
    first, second = transport.sent[:2]
    assert "Authorization" in first.headers and not first.foreign
    assert "Authorization" not in second.headers and second.foreign
    assert (second.method, second.body) == ("PUT", first.body)


async def test_a_303_becomes_a_get(make: Any) -> None:
    def handler(sent: Sent) -> Response:
        if sent.path.startswith("/v2/keys/k"):
            return raw(sent, 303, b"", {"Location": "/v2/keys/other"})
        return node(sent)

    client, transport = make(handler, hosts=1, username="u", password="p")
    await client.write("/k", "v")
    second = transport.sent[1]
    assert (second.method, second.body, second.path) == ("GET", None, "/v2/keys/other")
    assert "Authorization" in second.headers  # same origin
    assert "Content-Type" not in second.headers


async def test_a_redirect_loop_ends_with_an_error(make: Any) -> None:
    def handler(sent: Sent) -> Response:
        target = "/v2/keys/b" if sent.path.startswith("/v2/keys/a") else "/v2/keys/a"
        return raw(sent, 307, b"", {"Location": target})

    client, transport = make(handler, hosts=1)
    with pytest.raises(etcd.EtcdException, match="redirect loop"):
        await client.read("/a")
    assert [s.path for s in transport.sent] == ["/v2/keys/a", "/v2/keys/b"]


# -- shared watches --------------------------------------------------------------------------------


async def test_each_waiter_of_a_shared_watch_gets_its_own_exception(make: Any) -> None:
    client, transport = make(per_member(a=refused, b=refused, c=refused))
    waiters = [asyncio.create_task(client.watch("/k", index=5)) for _ in range(3)]
    errors = await asyncio.gather(*waiters, return_exceptions=True)
    assert len([s for s in transport.sent if s.stream]) == 3  # one shared request, tried at each member
    assert all(isinstance(e, etcd.EtcdConnectionFailed) for e in errors)
    assert len({id(e) for e in errors}) == 3
    assert len({str(e) for e in errors}) == 1
    assert all(isinstance(e, etcd.EtcdConnectionFailed) and e.cause is not None for e in errors)


async def test_waiting_for_a_connection_slot_counts_against_the_deadline(make: Any) -> None:
    holding = asyncio.Event()

    async def hang_and_tell(sent: Sent) -> Response:
        holding.set()
        return await hang(sent)

    client, transport = make(hang_and_tell, hosts=1, per_host_pool_size=1, retry=etcd.RetryPolicy(attempt_timeout=5))
    holder = asyncio.create_task(client.read("/first"))
    await holding.wait()  # the first read holds the only slot, and hangs
    with pytest.raises(etcd.EtcdConnectionFailed, match=r"read '/second'.*0\.3s deadline"):
        await client.read("/second", timeout=0.3)
    assert [s.path for s in transport.sent] == ["/v2/keys/first"]  # the second never got a slot
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder
