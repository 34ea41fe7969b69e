"""The v3 gateway's table of what may be sent again (aio_etcd.v3._gateway.replay_rule).

A pure function; v2's table is tested in tests/unit/test_unit_retry_rules.py,
and the behaviour both drive on fake and real servers (tests/core/test_retry.py,
tests/keys/test_faults.py, tests/v3/test_v3_fake_server.py, tests/core/test_core.py).
"""

from __future__ import annotations

import pytest

from aio_etcd import retry
from aio_etcd.v3 import _gateway
from aio_etcd.v3 import txn as T

#: What each v3.Client method passed as safe= before the gateway's table decided (issue 21).
BEFORE = {
    "/v3/kv/range": True,
    "/v3/kv/put": False,
    "/v3/kv/deleterange": False,
    "/v3/kv/compaction": False,
    "/v3/lease/grant": False,
    "/v3/lease/revoke": False,
    "/v3/lease/timetolive": True,
    "/v3/lease/leases": True,
    "/v3/lease/keepalive": True,
    "/v3/cluster/member/list": True,
    "/v3/maintenance/status": True,
    "/v3/election/leader": True,
    "/v3/election/resign": True,
    "/v3/election/proclaim": False,
    "/v3/election/campaign": False,
    "/v3/lock/lock": False,
    "/v3/lock/unlock": True,
    "/v3/auth/user/add": False,
    "/v3/watch": False,
}


@pytest.mark.parametrize(("path", "safe"), sorted(BEFORE.items()))
def test_gateway_table_says_what_the_methods_said(path: str, safe: bool) -> None:
    rule = _gateway.replay_rule(path, {})
    assert (rule.safe, rule.guarded) == (safe, False)


def test_a_transaction_is_safe_exactly_when_it_writes_nothing() -> None:
    reads = T.Txn().if_(T.value("k") == "v").then(T.get("k")).else_(T.get("j"))
    writes = T.Txn().if_(T.value("k") == "v").then(T.get("k")).else_(T.put("k", "v"))
    deletes = T.Txn().then(T.delete("k"))
    nested_write = T.Txn().then(T.get("k"), T.Txn().then(T.delete("k")))
    nested_read = T.Txn().then(T.Txn().then(T.get("k")))
    for txn in (reads, writes, deletes, nested_write, nested_read):
        assert _gateway.replay_rule("/v3/kv/txn", txn.request()).safe is not txn.writes


def test_the_table_hands_the_one_safe_and_unsafe_rule() -> None:
    assert _gateway.replay_rule("/v3/kv/put", {}) is retry.UNSAFE
    assert _gateway.replay_rule("/v3/kv/range", {}) is retry.SAFE
