"""How the v3 client reads the gateway's error bodies: which exception, and whether an
error is worth another attempt (pure functions, no etcd needed)."""

from __future__ import annotations

import pytest

from aio_etcd.v3 import errors as E


def _error(code: int, message: str) -> E.EtcdServerError:
    exc = E.error_from({"code": code, "message": message}, 400, "put '/a' at http://127.0.0.1:1")
    assert exc is not None
    return exc


@pytest.mark.parametrize(
    ("code", "message", "cls"),
    [
        (3, "etcdserver: request is too large", E.EtcdRequestTooLarge),
        (11, "etcdserver: mvcc: required revision has been compacted", E.EtcdCompacted),
        (11, "etcdserver: mvcc: required revision is a future revision", E.EtcdFutureRevision),
        (5, "etcdserver: requested lease not found", E.EtcdLeaseNotFound),
        (3, "etcdserver: authentication failed, invalid user ID or password", E.EtcdAuthFailed),
        (16, "etcdserver: invalid auth token", E.EtcdAuthFailed),
        (7, "etcdserver: permission denied", E.EtcdPermissionDenied),
        (14, "etcdserver: no leader", E.EtcdNoLeader),
        (2, "election: not leader", E.EtcdNotLeader),
        (2, "election: no leader", E.EtcdServerError),  # the election service's words: not raft's "no leader"
        (3, "etcdserver: key not found", E.EtcdKeyNotFound),
        (14, "transport is closing", E.EtcdUnavailable),
        (2, "something new", E.EtcdServerError),
    ],
)
def test_error_classes(code: int, message: str, cls: type[E.EtcdServerError]) -> None:
    exc = _error(code, message)
    assert type(exc) is cls
    assert exc.code == code and exc.grpc_message == message
    assert "put '/a' at http://127.0.0.1:1" in str(exc)


def test_grpc_code_alias_and_non_errors() -> None:
    exc = E.error_from({"grpc_code": 14, "message": "x"}, None, "w")
    assert isinstance(exc, E.EtcdUnavailable)
    assert E.error_from({"header": {}}, 200, "w") is None  # an ordinary answer
    assert E.error_from({"code": True, "message": "x"}, 400, "w") is None
    assert E.error_from({"code": 2}, 400, "w") is None


@pytest.mark.parametrize(
    ("code", "message", "worth_it", "certainly_not_applied"),
    [
        (14, "etcdserver: no leader", True, True),
        (8, "etcdserver: too many requests", True, True),
        (14, "etcdserver: request timed out", True, False),
        (4, "context deadline exceeded", True, False),
        (2, "context deadline exceeded", True, False),
        # etcd's Lock and Election services pass Unavailable errors on as Unknown
        (2, "etcdserver: leader changed", True, False),
        (2, "etcdserver: request timed out, possibly due to previous leader failure", True, False),
        (2, "etcdserver: unhealthy cluster", True, False),
        (14, "connection error: desc = \"transport: handshake failed: tls: bad certificate\"", True, False),
        (2, "remote error: tls: bad certificate", True, True),
        (3, "etcdserver: request is too large", False, False),
        (9, "etcdserver: duplicate key given in txn request", False, False),
        (7, "etcdserver: permission denied", False, False),
    ],
)
def test_is_transient(code: int, message: str, worth_it: bool, certainly_not_applied: bool) -> None:
    assert E.is_transient(_error(code, message)) == (worth_it, certainly_not_applied)


@pytest.mark.parametrize(
    ("reason", "renewable"),
    [
        ("etcdserver: permission denied", True),  # 3.5
        ("rpc error: code = Unauthenticated desc = etcdserver: invalid auth token", True),  # 3.6, 3.7
        ("etcdserver: revision of auth store is old", True),
        ("etcdserver: mvcc: required revision has been compacted", False),
    ],
)
def test_token_refused(reason: str, renewable: bool) -> None:
    assert E.token_refused(reason) is renewable
