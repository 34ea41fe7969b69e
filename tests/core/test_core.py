"""The core (aio_etcd._core.Cluster) alone, with a scripted transport, under each API's rules.

The same loop carries v2 (:class:`aio_etcd._v2.rules.V2Rules`) and the v3
gateway (:class:`aio_etcd.v3._gateway.GatewayRules`); what differs is only
what the rules say: where the member list and the cluster id come from, and
which error answers are transient and certainly not applied.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from scripted import CLUSTER_ID, A, B, Scripted, Sent, error, machines

from aio_etcd import EtcdClusterIdChanged, EtcdOutcomeUnknown
from aio_etcd._core import SAFE, UNSAFE, ApiRules, Call, Cluster, Exchange, ReplayRule, Response, RetryPolicy
from aio_etcd._v2.rules import V2Rules
from aio_etcd.v3 import _gateway

pytestmark = pytest.mark.timeout(20)

FAST = RetryPolicy(attempts=4, attempt_timeout=0.05, backoff=0.001, backoff_cap=0.002)


def v3_answer(sent: Sent, body: dict[str, Any], status: int = 200) -> Response:
    return Response.build(status, json.dumps(body).encode(), sent.url)


def v3_members(sent: Sent) -> Response:
    return v3_answer(sent, {"header": {"cluster_id": "7"}, "members": [{"clientURLs": [A]}, {"clientURLs": [B]}]})


def core(rules: ApiRules, **options: Any) -> Cluster:
    options.setdefault("allow_reconnect", True)
    return Cluster([A], rules=rules, allow_redirect=True, expected_cluster_id=None, **options)


async def run(cluster: Cluster, handler: Callable[[Sent], Response], call: Call) -> tuple[int, Scripted]:
    transport = Scripted(handler)
    try:
        status = await cluster.request(transport, call, lambda resp: resp.status, FAST, deadline=5)
    finally:
        await cluster.close()
    return status, transport


async def test_v2_rules_give_the_member_list_of_v2_machines_and_the_cluster_id_header() -> None:
    def handler(sent: Sent) -> Response:
        if sent.path == "/v2/machines":
            return machines(sent, A, B)
        return Response.build(200, b"{}", sent.url, {"X-Etcd-Cluster-Id": CLUSTER_ID})

    cluster = core(V2Rules("/v2", {"Authorization": "Basic x"}))
    status, transport = await run(cluster, handler, Call("GET", "/v2/keys/k", {}))
    assert status == 200
    assert cluster.cluster_id == CLUSTER_ID and cluster.members == [A, B]
    listing = [s for s in transport.sent if s.path == "/v2/machines"]
    assert listing and listing[0].headers == {"Authorization": "Basic x"}


async def test_the_gateway_rules_give_the_v3_member_list_and_leave_the_cluster_id_to_the_check() -> None:
    def handler(sent: Sent) -> Response:
        if sent.path == "/v3/cluster/member/list":
            return v3_members(sent)
        return v3_answer(sent, {"header": {"cluster_id": "7"}}, 200)

    cluster = core(_gateway.GatewayRules(lambda: {"Authorization": "token"}))
    status, transport = await run(cluster, handler, Call("POST", "/v3/kv/range", {}, body=b"{}"))
    assert status == 200 and cluster.members == [A, B]
    assert cluster.cluster_id is None  # the core reads no body: v3.Client._check guards it
    listing = [s for s in transport.sent if s.path == "/v3/cluster/member/list"]
    assert listing and listing[0].method == "POST" and listing[0].headers == {"Authorization": "token"}


def no_leader_then_ok(code_of: Callable[[Sent], Response]) -> Callable[[Sent], Response]:
    """The first keys request gets ``code_of``'s answer, the others a 200 (member list: A, B)."""
    first = True

    def handler(sent: Sent) -> Response:
        nonlocal first
        if sent.path == "/v2/machines":
            return machines(sent, A, B)
        if sent.path == "/v3/cluster/member/list":
            return v3_members(sent)
        if first:
            first = False
            return code_of(sent)
        return Response.build(200, b"{}", sent.url, {"X-Etcd-Cluster-Id": CLUSTER_ID})

    return handler


@pytest.mark.parametrize(
    ("rules", "path", "refusal"),
    [
        (V2Rules("/v2", {}), "/v2/keys/k", lambda s: error(s, 301, 500, "election")),
        (
            _gateway.GatewayRules(dict),
            "/v3/kv/put",
            lambda s: v3_answer(s, {"code": 14, "message": "etcdserver: no leader"}, 503),
        ),
    ],
    ids=["v2", "v3"],
)
async def test_an_answer_that_certainly_was_not_applied_lets_even_an_unsafe_call_go_on(
    rules: ApiRules, path: str, refusal: Callable[[Sent], Response]
) -> None:
    cluster = Cluster([A, B], rules=rules, allow_reconnect=True, allow_redirect=True, expected_cluster_id=None)
    status, transport = await run(cluster, no_leader_then_ok(refusal), Call("PUT", path, {}, rule=UNSAFE))
    assert status == 200
    assert [s.base for s in transport.sent if s.path == path] == [A, B]


@pytest.mark.parametrize(
    ("rules", "path", "ambiguous"),
    [
        (
            V2Rules("/v2", {}),
            "/v2/keys/k",
            lambda s: error(s, 300, 500, "Raft Internal Error", "etcdserver: request timed out"),
        ),
        (
            _gateway.GatewayRules(dict),
            "/v3/kv/put",
            lambda s: v3_answer(s, {"code": 4, "message": "context deadline exceeded"}, 504),
        ),
    ],
    ids=["v2", "v3"],
)
async def test_a_transient_answer_that_may_have_been_applied_ends_an_unsafe_call_and_repeats_a_safe_one(
    rules: ApiRules, path: str, ambiguous: Callable[[Sent], Response]
) -> None:
    unsafe = Cluster([A, B], rules=rules, allow_reconnect=True, allow_redirect=True, expected_cluster_id=None)
    with pytest.raises(EtcdOutcomeUnknown):
        await run(unsafe, no_leader_then_ok(ambiguous), Call("PUT", path, {}, rule=UNSAFE))
    safe = Cluster([A, B], rules=rules, allow_reconnect=True, allow_redirect=True, expected_cluster_id=None)
    status, _ = await run(safe, no_leader_then_ok(ambiguous), Call("PUT", path, {}, rule=ReplayRule(True)))
    assert status == 200


async def test_a_v2_answer_of_another_cluster_is_refused_by_the_header() -> None:
    cluster = Cluster(
        [A], rules=V2Rules("/v2", {}), allow_reconnect=False, allow_redirect=True, expected_cluster_id="other"
    )
    other = {"X-Etcd-Cluster-Id": CLUSTER_ID}
    with pytest.raises(EtcdClusterIdChanged):
        await run(cluster, lambda s: Response.build(200, b"{}", s.url, other), Call("GET", "/v2/keys/k", {}))


async def test_the_observer_sees_each_attempt_and_the_member_list() -> None:
    seen: list[tuple[str, str, str, int]] = []

    class Recorder:
        def on_request(self, exchange: Exchange) -> None:
            seen.append(("request", exchange.kind, exchange.url, exchange.attempt))

        def on_response(self, exchange: Exchange, response: Response, duration: float) -> None:
            seen.append(("response", exchange.kind, exchange.url, response.status))

        def on_failure(self, exchange: Exchange, error: BaseException, duration: float) -> None:
            seen.append(("failure", exchange.kind, exchange.url, exchange.attempt))

    cluster = Cluster(
        [A, B], rules=V2Rules("/v2", {}), allow_reconnect=True, allow_redirect=True, expected_cluster_id=None
    )
    cluster.observer = Recorder()
    handler = no_leader_then_ok(lambda s: error(s, 301, 500, "election"))
    await run(cluster, handler, Call("GET", "/v2/keys/k", {}, rule=SAFE))
    keys = [entry for entry in seen if "/v2/keys/" in entry[2]]
    assert keys == [
        ("request", "request", A + "/v2/keys/k", 1),
        ("response", "request", A + "/v2/keys/k", 500),
        ("request", "request", B + "/v2/keys/k", 2),
        ("response", "request", B + "/v2/keys/k", 200),
    ]
    assert ("request", "request", B + "/v2/machines", 1) in seen
