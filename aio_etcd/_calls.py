"""The cluster-information calls and the low-level call of :class:`~aio_etcd.Client`.

``machines``, ``members``, ``leader``, the stats, ``versions``,
``api_execute`` and ``raise_for_answer``: everything that is not the keys API.
They go through the same request path as every call (``Client._send``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode

from . import _answers
from ._http import Response
from .cluster import Call, NotEtcd
from .exceptions import EtcdException
from .retry import SAFE, UNSAFE

if TYPE_CHECKING:
    from .v2on3 import KeysOnV3

__all__ = ["FORM", "JSON", "ClusterCalls", "flag"]

#: What :meth:`ClusterCalls._from_v3` answers when the keys go to the v2 API.
_V2 = object()

#: Request headers of a form body and of a JSON body.
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}
_T = TypeVar("_T")


def flag(value: bool) -> str:
    """A boolean as etcd reads it."""
    return "true" if value else "false"


class ClusterCalls:
    """What :class:`~aio_etcd.Client` offers besides keys and watches."""

    _headers: dict[str, str]
    _version_prefix: str

    async def _send(
        self,
        call: Call,
        check: Callable[[Response], _T],
        *,
        timeout: float | None = None,
        attempt_timeout: float | None = None,
    ) -> _T:
        raise NotImplementedError

    async def _not_etcd(self, exc: NotEtcd) -> str:
        raise NotImplementedError

    if TYPE_CHECKING:  # ApiModes's, declared here for the type checker only

        async def _v3_store(self) -> KeysOnV3 | None: ...

    @property
    def base_uri(self) -> str:
        raise NotImplementedError

    async def _from_v3(self, name: str) -> Any:
        """With a v3 store, the answer of its form of the cluster call ``name``
        (:mod:`aio_etcd.v2on3._cluster`, loaded only then); else ``_V2``."""
        keys3 = await self._v3_store()
        if keys3 is None:
            return _V2
        from .v2on3 import _cluster

        return await getattr(_cluster, name)(keys3.v3)

    async def _get_json(self, path: str, *, needs: str) -> dict[str, Any]:
        call = Call("GET", path, self._headers)
        return await self._send(call, functools.partial(_answers.json_answer, needs=needs))

    async def machines(self) -> list[str]:
        """The client URLs of the cluster's members, as etcd lists them."""
        on_v3 = await self._from_v3("machines")
        if on_v3 is not _V2:
            return on_v3  # type: ignore[no-any-return]
        call = Call("GET", self._version_prefix + "/machines", self._headers, op="member list")
        return await self._send(call, _answers.machines_answer)

    async def members(self) -> dict[str, dict[str, Any]]:
        """The cluster's members, by member id (``id``, ``name``, ``peerURLs``, ``clientURLs``)."""
        on_v3 = await self._from_v3("members")
        if on_v3 is not _V2:
            return on_v3  # type: ignore[no-any-return]
        data = await self._get_json(self._version_prefix + "/members", needs="members")
        members = data["members"]
        if not isinstance(members, list) or not all(isinstance(m, dict) and "id" in m for m in members):
            raise EtcdException(f"{self.base_uri} answered a member list without member ids: {members!r:.200}")
        return {member["id"]: member for member in members}

    async def leader(self) -> dict[str, Any]:
        """The member that leads the cluster now."""
        on_v3 = await self._from_v3("leader")
        if on_v3 is not _V2:
            return on_v3  # type: ignore[no-any-return]
        return dict(await self._get_json(self._version_prefix + "/members/leader", needs="id"))

    async def stats(self) -> dict[str, Any]:
        """The answering member's own statistics (``/stats/self``)."""
        on_v3 = await self._from_v3("stats")
        if on_v3 is not _V2:
            return on_v3  # type: ignore[no-any-return]
        return dict(await self._get_json(self._version_prefix + "/stats/self", needs="id"))

    async def leader_stats(self) -> dict[str, Any]:
        """The leader's view of its followers (``/stats/leader``; only the leader answers; v2 only)."""
        if await self._v3_store() is not None:
            raise EtcdException("leader_stats() has no v3 form (api='v3'); v3.Client.status() names the leader")
        return dict(await self._get_json(self._version_prefix + "/stats/leader", needs="leader"))

    async def store_stats(self) -> dict[str, Any]:
        """Counters of the key store (``/stats/store``)."""
        on_v3 = await self._from_v3("store_stats")
        if on_v3 is not _V2:
            return on_v3  # type: ignore[no-any-return]
        return dict(await self._get_json(self._version_prefix + "/stats/store", needs="watchers"))

    async def versions(self) -> dict[str, str]:
        """``/version``: ``{"etcdserver": ..., "etcdcluster": ...}``."""
        return dict(await self._get_json("/version", needs="etcdserver"))

    @property
    def version(self) -> Awaitable[str]:
        """The server's version; use as ``await client.version``."""
        return self._version_field("etcdserver")

    @property
    def cluster_version(self) -> Awaitable[str]:
        """The cluster's version; use as ``await client.cluster_version``."""
        return self._version_field("etcdcluster")

    async def _version_field(self, field: str) -> str:
        return str((await self.versions()).get(field, ""))

    # -- low level ------------------------------------------------------------------------

    async def api_execute(
        self,
        path: str,
        method: str,
        params: Mapping[str, Any] | None = None,
        data: bytes | str | Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        replay_safe: bool | None = None,
        raise_for_status: bool = True,
    ) -> Response:
        """Send a request to a route the client does not wrap and return the answer.

        It takes the client's path for every call: its credentials, member
        choice, failover, deadline and retry policy.

        :param path: the path, already percent-encoded (``/v2/stats/self``).
        :param params: query parameters.
        :param data: the body: bytes or str as is, a mapping as a form.
        :param headers: more request headers (the client's credentials are added).
        :param replay_safe: whether the request may be sent again after an
            attempt that may have reached a member. By default only ``GET``
            (and ``HEAD``) are; pass ``True`` for a request you know to be
            idempotent, ``False`` to forbid replaying even a ``GET``. A request
            that may not be replayed raises :class:`EtcdOutcomeUnknown` when
            its outcome is unknown.
        :param raise_for_status: raise the :class:`EtcdException` an error
            answer stands for (default); with ``False`` every answer the
            server gave is returned, errors included (5xx answers are still
            retried first, as for every call).
        :returns: the answer, with ``status``, ``headers``, ``body``, ``text()`` and ``json()``.
        """
        method = method.upper()
        if params:
            path += ("&" if "?" in path else "?") + urlencode(
                {k: flag(v) if isinstance(v, bool) else str(v) for k, v in params.items()}, quote_via=quote
            )
        body: bytes | None
        send_headers = dict(self._headers)
        if isinstance(data, Mapping):
            body = urlencode({k: str(v) for k, v in data.items()}).encode()
            send_headers.update(FORM)
        elif isinstance(data, str):
            body = data.encode()
        else:
            body = data
        if headers:
            send_headers.update(headers)
        if replay_safe is None:
            replay_safe = method in ("GET", "HEAD")
        call = Call(method, path, send_headers, body=body, rule=SAFE if replay_safe else UNSAFE)
        return await self._send(call, _answers.any_answer if raise_for_status else _any, timeout=timeout)

    async def api_execute_json(
        self,
        path: str,
        method: str,
        params: Mapping[str, Any] | None = None,
        data: Any = None,
        *,
        timeout: float | None = None,
        replay_safe: bool | None = None,
    ) -> Any:
        """Like :meth:`api_execute`, sending ``data`` as JSON and decoding the JSON answer.

        :returns: the decoded answer, or ``None`` for an empty one (``204``).
        """
        body = None if data is None else json.dumps(data).encode()
        resp = await self.api_execute(
            path, method, params, body, timeout=timeout, headers=JSON, replay_safe=replay_safe
        )
        return resp.json() if resp.body.strip() else None

    async def raise_for_answer(self, resp: Response) -> None:
        """Raise the :class:`EtcdException` an error answer stands for, as every call of the client does.

        For answers got with ``api_execute(..., raise_for_status=False)``.
        Does nothing for an answer below 300. A bare 404 (a member without
        the v2 API) is explained: v2 not enabled, or etcd 3.6 and later.
        """
        if resp.status < 300:
            return
        try:
            _answers.raise_error(resp)
        except NotEtcd as exc:
            raise EtcdException(await self._not_etcd(exc)) from None


def _any(resp: Response) -> Response:
    return resp
