"""The v2 keys API's retry rules, as pure functions: what may be sent again, what is worth
another attempt, what certainly was not applied (no etcd needed)."""

from __future__ import annotations

import pytest

from aio_etcd.retry import RetryPolicy, not_applied, replay_rule, transient


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_reads_may_be_sent_again(method: str) -> None:
    assert replay_rule(method, {}).safe
    assert replay_rule(method, {"wait": "true", "recursive": "true"}).safe


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("PUT", {"value": "x"}),
        ("PUT", {"value": "x", "prevValue": "y"}),
        ("PUT", {"value": "x", "prevIndex": "3"}),
        ("PUT", {"dir": "true"}),
        ("POST", {"value": "x"}),
        ("DELETE", {}),
        ("DELETE", {"prevValue": "x"}),
        ("DELETE", {"recursive": "true"}),
        # a refresh that may create the key is a write like any other
        ("PUT", {"refresh": "true", "ttl": "5", "prevExist": "false"}),
    ],
)
def test_writes_are_sent_once(method: str, params: dict[str, str]) -> None:
    rule = replay_rule(method, params)
    assert not rule.safe
    assert not rule.guarded  # v2 has nothing that would settle an unknown outcome


def test_a_refresh_may_be_sent_again() -> None:
    assert replay_rule("PUT", {"refresh": "true", "ttl": "5"}).safe
    assert replay_rule("PUT", {"refresh": "true", "ttl": "5", "prevExist": "true"}).safe


@pytest.mark.parametrize(
    ("status", "payload", "body", "worth_it"),
    [
        (500, {"errorCode": 300, "cause": "etcdserver: request timed out"}, b"", True),
        (500, {"errorCode": 300, "cause": "nodePath /a: not a directory"}, b"", False),
        (500, {"errorCode": 301, "message": "Election in progress"}, b"", True),
        (503, None, b"<html>proxy</html>", True),
        (404, {"errorCode": 100}, b"", False),
        (412, {"errorCode": 101}, b"", False),
        (400, None, b"etcdserver: request refused during rolling upgrades", True),
    ],
)
def test_transient(status: int, payload: dict[str, object] | None, body: bytes, worth_it: bool) -> None:
    assert transient(status, payload, body) is worth_it


@pytest.mark.parametrize(
    ("payload", "certain"),
    [
        (None, False),
        ({"errorCode": 301}, True),
        ({"errorCode": 300, "cause": "etcdserver: proposal dropped"}, True),
        ({"errorCode": 300, "message": "refused during rolling upgrades"}, True),
        # a timed-out proposal may still be committed later
        ({"errorCode": 300, "cause": "etcdserver: request timed out"}, False),
    ],
)
def test_not_applied(payload: dict[str, object] | None, certain: bool) -> None:
    assert not_applied(payload) is certain


def test_backoff_grows_to_its_cap_and_jitters_down() -> None:
    policy = RetryPolicy(backoff=0.1, backoff_cap=0.5, jitter=0.0)
    assert [policy.pause(n) for n in (1, 2, 3, 4, 5)] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])
    jittered = RetryPolicy(backoff=0.1, backoff_cap=0.5, jitter=0.5)
    assert all(0.05 <= jittered.pause(1) <= 0.1 for _ in range(200))


@pytest.mark.parametrize(
    "options",
    [{"attempts": 0}, {"attempt_timeout": 0}, {"keepalive_attempt_timeout": -1}, {"backoff": -0.1},
     {"jitter": 1.5}, {"deadline": 0}],
)
def test_a_policy_refuses_nonsense(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**options)  # type: ignore[arg-type]
