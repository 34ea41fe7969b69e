"""Reading etcd's answers: results, etcd errors, and answers that are not etcd's.

Each ``*_answer`` function takes a complete :class:`~aio_etcd._core.Response`
and returns what the call gives back, raises the etcd exception an error
answer stands for, or raises :class:`~aio_etcd._v2.wire.NotEtcd` when what
answered is not an etcd v2 member (another HTTP service, a proxy's error
page): the attempt loop then tries the next member.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from yarl import URL

from ._core import Response
from ._v2.wire import NotEtcd, parse_machines
from .exceptions import EtcdError, EtcdInsufficientPermissions
from .result import EtcdResult

__all__ = ["any_answer", "json_answer", "key_answer", "machines_answer", "nodeless_key_answer", "raise_error"]

machines_answer = parse_machines


def raise_error(resp: Response) -> None:
    """Raise what an error answer (status >= 300) of an etcd member stands for.

    :raises NotEtcd: the answer carries no etcd error (a bare 404 from a
        member without the v2 API, a proxy's page...).
    """
    payload = resp.json_object()
    if resp.status == 401 and payload is None:
        payload = {"message": "The request requires user authentication", "cause": resp.text()[:200]}
    if payload is not None and ("errorCode" in payload or resp.status in EtcdError.status_codes):
        exc = EtcdError.exception_for(payload, resp.status)
        if isinstance(exc, EtcdInsufficientPermissions):
            # etcd does not say what was refused; name it (never the credentials).
            exc = EtcdInsufficientPermissions(f"{exc} (refused: {unquote(URL(resp.url).path)})", exc.payload)
        raise exc
    if resp.status == 404 and payload is None:
        raise NotEtcd(resp, "a 404 without an etcd error")
    raise NotEtcd(resp, f"an HTTP {resp.status} without an etcd error")


def key_answer(resp: Response) -> EtcdResult:
    """The result of an answer of the keys API: an ``action`` and a ``node``."""
    return _key_result(resp, True)


def nodeless_key_answer(resp: Response) -> EtcdResult:
    """The result of a write that asked ``noValueOnSuccess``: etcd leaves the ``node`` out."""
    return _key_result(resp, False)


def _key_result(resp: Response, needs_node: bool) -> EtcdResult:
    if resp.status >= 300:
        raise_error(resp)
    try:
        body = json.loads(resp.body)
    except ValueError:  # includes an empty body
        raise NotEtcd(resp, "an answer without a body" if not resp.body else "an answer that is not JSON") from None
    if type(body) is not dict or type(body.get("action")) is not str:
        if type(body) is dict and "errorCode" in body:
            EtcdError.handle(body, resp.status)
        raise NotEtcd(resp, "a key answer without an action")
    node = body.get("node")
    if type(node) is not dict and (needs_node or node is not None):
        raise NotEtcd(resp, "a key answer without a node")
    headers = resp.headers
    etcd_index = headers.get("X-Etcd-Index")
    if etcd_index is None:
        raise NotEtcd(resp, "a key answer without X-Etcd-Index")
    raft_index = headers.get("X-Raft-Index")
    return EtcdResult.from_response(
        body,
        etcd_index=int(etcd_index) if etcd_index.isdigit() else None,
        raft_index=int(raft_index) if raft_index and raft_index.isdigit() else None,
        created=resp.status == 201,
    )


def json_answer(resp: Response, *, needs: str) -> dict[str, Any]:
    """The decoded JSON of a cluster-information answer: an object holding ``needs``."""
    if resp.status >= 300:
        raise_error(resp)
    try:
        data = json.loads(resp.body)
    except ValueError:
        raise NotEtcd(resp, "an answer that is not JSON") from None
    if not isinstance(data, dict) or needs not in data:
        raise NotEtcd(resp, f"not a JSON object with {needs!r}")
    return data


def any_answer(resp: Response) -> Response:
    """The answer itself, once it is not an error."""
    if resp.status >= 300:
        raise_error(resp)
    return resp
