"""etcdctl's words for a cluster it could not use: Go's v2 client errors, rebuilt from aio_etcd's.

etcdctl prints a ``ClusterError`` as::

    Error:  client: etcd cluster is unavailable or misconfigured; error #0: dial tcp 127.0.0.1:2379: \
    connect: connection refused

    error #0: dial tcp 127.0.0.1:2379: connect: connection refused

(one ``error #N`` per endpoint), and a command's whole deadline as ``Error:
context deadline exceeded``. Scripts match these words; aio-etcd prints them
where the cause is one Go would name the same way, and its own message otherwise.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..exceptions import EtcdConnectionFailed, EtcdException

__all__ = ["cluster_error", "member_error"]

_TRIED = re.compile(r"\(tried ([^)]*)\)$")


def _refused(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 10:
        if isinstance(cause, ConnectionRefusedError):
            return True
        if "Connect call failed" in str(cause):
            return True
        cause = getattr(cause, "cause", None) or cause.__cause__
        seen += 1
    return False


def _lines(errors: list[str]) -> str:
    first = "client: etcd cluster is unavailable or misconfigured" + "".join(
        f"; error #{i}: {error}\n" for i, error in enumerate(errors)
    )
    detail = "".join(f"error #{i}: {error}\n" for i, error in enumerate(errors))
    return f"Error:  {first}\n{detail}\n"


def cluster_error(exc: EtcdConnectionFailed) -> tuple[str, int] | None:
    """etcdctl's standard error and exit status for ``exc``, when Go would word it so; else ``None``."""
    message = str(exc)
    if "deadline (timeout= or read_timeout)" in message:
        first_contact = message.startswith(("GET /version", "GET /v2/members"))
        return "Error:  context deadline exceeded\n", 2 if first_contact else 4
    tried = _TRIED.search(message)
    if tried is None:
        return None
    urls = [url.strip() for url in tried[1].split(",") if url.strip()]
    if _refused(exc):
        return _lines([f"dial tcp {urlsplit(url).netloc}: connect: connection refused" for url in urls]), 2
    if "ServerDisconnectedError" in message:  # http to an https port: etcd closes the connection
        return _lines(["EOF" for _ in urls]), 4
    if all(url.startswith("https://") for url in urls) and "ssl:default [None]" in message:
        return _lines(["EOF" for _ in urls]), 4  # https to an http port: the handshake meets a closed connection
    if "CERTIFICATE_VERIFY_FAILED" in message and ("local issuer" in message or "self-signed" in message):
        return _lines(["x509: certificate signed by unknown authority" for _ in urls]), 4
    if "(attempt_timeout)" in message:
        return _lines([f"client: endpoint {url} exceeded header timeout" for url in urls]), 4
    return None


def member_error(exc: EtcdException, endpoints: list[str]) -> str | None:
    """A 500 or 503 from a member (etcd 3.5's ``Raft Internal Error``) as Go's client words it."""
    payload = exc.payload or {}
    if payload.get("errorCode") == 300 and len(endpoints) == 1:
        return _lines([f"client: etcd member {endpoints[0]} has no leader"])
    return None
