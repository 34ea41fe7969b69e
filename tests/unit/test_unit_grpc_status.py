"""How the gRPC transport reads a call's status: etcd's error answer, or a failure below etcd."""

from __future__ import annotations

import json

import grpc
import pytest

from aio_etcd._core import TransportFailure
from aio_etcd.v3._grpc.transport import GrpcTransport

URL = "http://127.0.0.1:1/etcdserverpb.KV/Put"


def _error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


@pytest.mark.parametrize(
    ("code", "details", "sent"),
    [
        (grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses", False),
        (grpc.StatusCode.UNAVAILABLE, "Socket closed", True),
        (grpc.StatusCode.CANCELLED, "Received RST_STREAM with error code 8", True),
        (grpc.StatusCode.INTERNAL, "Internal error from Core", True),  # grpc/grpc#36066
        (grpc.StatusCode.INTERNAL, "Received RST_STREAM with error code 2", True),
    ],
)
def test_grpcs_own_failures_are_failures_of_the_connection(code: grpc.StatusCode, details: str, sent: bool) -> None:
    with pytest.raises(TransportFailure) as failed:
        GrpcTransport._failed(_error(code, details), URL)
    assert failed.value.sent is sent and not failed.value.timed_out


@pytest.mark.parametrize(
    ("code", "details", "status"),
    [
        (grpc.StatusCode.UNAVAILABLE, "etcdserver: leader changed", 503),
        (grpc.StatusCode.INTERNAL, "etcdserver: some internal error", 500),
        (grpc.StatusCode.INVALID_ARGUMENT, "etcdserver: key is not provided", 400),
    ],
)
def test_etcds_errors_are_its_answers(code: grpc.StatusCode, details: str, status: int) -> None:
    answer = GrpcTransport._failed(_error(code, details), URL)
    assert answer.status == status
    assert json.loads(answer.body) == {"code": code.value[0], "message": details}
