"""The wire rules of etcd's v2 API: what may be repeated, what is transient, what an error is.

Pure functions of requests and answers; the v2 client's
:class:`~aio_etcd._v2.rules.V2Rules` hands them to the core. The table of
what is safe to repeat is documented for users in :mod:`aio_etcd.retry`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._core import SAFE, UNSAFE, ReplayRule, Response
from .._core import NotEtcd as _NotEtcd
from ..exceptions import EtcdError, EtcdException

__all__ = [
    "NotEtcd",
    "etcd_error",
    "leader_view",
    "not_applied",
    "parse_machines",
    "read_answered",
    "replay_rule",
    "transient",
    "v2_transient",
]


class NotEtcd(_NotEtcd):
    """What answered is not an etcd v2 member (raised by the v2 checks of answers)."""

    def __init__(self, resp: Response, what: str, api: str = "v2") -> None:
        super().__init__(resp, what, api)


def replay_rule(method: str, params: Mapping[str, Any]) -> ReplayRule:
    """The :class:`~aio_etcd.retry.ReplayRule` of a request to the keys API (the table of :mod:`aio_etcd.retry`).

    :param params: the form of a ``PUT``/``POST``, the query of a ``GET``/``DELETE``.
    """
    if method in ("GET", "HEAD"):
        return SAFE
    if method == "PUT" and params.get("refresh") == "true" and params.get("prevExist") != "false":
        return SAFE  # a refresh changes nothing but the TTL: doing it twice is doing it once
    return UNSAFE


#: The words etcd puts in the ``cause`` of a 300 error that comes from
#: applying a request to the store (a deterministic refusal, not a hiccup).
_STORE_ERROR = "nodePath "
#: Causes of 5xx answers that mean the proposal never entered the raft log.
_NOT_APPLIED = ("proposal dropped", "during rolling upgrades")


def transient(status: int, payload: Mapping[str, Any] | None, body: bytes) -> bool:
    """Whether an error answer is worth another attempt (elsewhere or later).

    5xx answers are (etcd answers 500 with errorCode 300 when a proposal timed
    out or was dropped, 301 during an election), except a 300 whose cause is a
    store refusal that every member would repeat. etcd's "during rolling
    upgrades" refusal is transient whatever its status.
    """
    if status < 500:
        return b"during rolling upgrades" in body
    if payload is not None and payload.get("errorCode") == 300:
        return not str(payload.get("cause") or "").startswith(_STORE_ERROR)
    return True


def not_applied(payload: Mapping[str, Any] | None) -> bool:
    """Whether a transient error answer says the request certainly was not applied."""
    if payload is None:
        return False
    if payload.get("errorCode") == 301:
        return True
    text = f"{payload.get('message') or ''} {payload.get('cause') or ''}"
    return any(words in text for words in _NOT_APPLIED)


def parse_machines(resp: Response) -> list[str]:
    """The member URLs of a ``/v2/machines`` answer (``NotEtcd`` if it is not one)."""
    if resp.status != 200:
        raise NotEtcd(resp, "the member list is not a 200 answer")
    urls = [url.strip().rstrip("/") for url in resp.text().split(",") if url.strip()]
    if not urls or not all(url.startswith(("http://", "https://")) and " " not in url for url in urls):
        raise NotEtcd(resp, "the member list is not a list of URLs")
    return urls


def etcd_error(resp: Response, payload: Mapping[str, Any] | None) -> EtcdException:
    """The exception an etcd error answer stands for."""
    if payload is not None and "errorCode" in payload:
        return EtcdError.exception_for(dict(payload), resp.status)
    return EtcdException(f"unexpected answer: {resp.describe()}", dict(payload) if payload else None)


def v2_transient(resp: Response) -> tuple[EtcdException, bool] | None:
    """The v2 :data:`~aio_etcd._core.rules.Classifier`: :func:`transient` answers are worth another attempt."""
    if resp.status < 500 and b"during rolling upgrades" not in resp.body:
        return None
    payload = resp.json_object()
    if not transient(resp.status, payload, resp.body):
        return None
    return etcd_error(resp, payload), not_applied(payload)


def leader_view(resp: Response) -> tuple[str, str] | None:
    """The leader a v2 member follows, and since when (``None``: it names none)."""
    body = resp.json_object() if resp.status == 200 else None
    info = (body or {}).get("leaderInfo")
    if not isinstance(info, dict) or not info.get("leader"):
        return None
    return str(info["leader"]), str(info.get("startTime"))


def read_answered(resp: Response) -> bool:
    """A quorum read's own answer: the key, or "not found" (not a refusal before the read)."""
    return resp.status == 200 or (resp.status == 404 and (resp.json_object() or {}).get("errorCode") == 100)
