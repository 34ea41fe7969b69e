"""Which member to ask: the member list, failover, redirects, the cluster-id guard."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence

import aiohttp
from yarl import URL

from ._http import Response, TransportFailure, exchange
from .exceptions import EtcdClusterIdChanged, EtcdConnectionFailed, EtcdException, EtcdWatchTimedOut

__all__ = ["Cluster", "member_url"]

log = logging.getLogger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: How many redirects one request may follow.
MAX_REDIRECTS = 3


def member_url(protocol: str, host: str, port: int) -> str:
    """``protocol://host:port``, with IPv6 literals in brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{protocol}://{host}:{port}"


class Cluster:
    """The members a client may talk to, and the member it is pinned to.

    :param members: base URLs (``http://host:port``), the first is tried first.
    :param allow_reconnect: move to the next member when one fails.
    :param allow_redirect: follow redirects a member answers with.
    :param expected_cluster_id: refuse answers from another cluster; when
        ``None`` the id of the first answer is learned and guarded from then on.
    """

    def __init__(
        self,
        members: Sequence[str],
        *,
        allow_reconnect: bool,
        allow_redirect: bool,
        expected_cluster_id: str | None,
    ) -> None:
        if not members:
            raise ValueError("a cluster needs at least one member")
        self.members: list[str] = list(members)
        self.allow_reconnect = allow_reconnect
        self.allow_redirect = allow_redirect
        self.cluster_id = expected_cluster_id
        self._pinned = 0

    @property
    def current(self) -> str:
        """The base URL of the member requests go to first."""
        return self.members[self._pinned]

    def _candidates(self) -> list[str]:
        start = self._pinned
        ordered = self.members[start:] + self.members[:start]
        return ordered if self.allow_reconnect else ordered[:1]

    def _pin(self, base: str) -> None:
        with contextlib.suppress(ValueError):  # the list changed while the request ran
            self._pinned = self.members.index(base)

    async def request(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: aiohttp.ClientTimeout,
        replay_safe: bool = True,
        watch: bool = False,
    ) -> Response:
        """Send ``method path`` (already percent-encoded, query included) to a member.

        Members are tried in order starting from the pinned one; the one that
        answers becomes pinned. A request that may already have reached a
        member is sent to the next one only when ``replay_safe``.
        """
        failures: list[TransportFailure] = []
        for base in self._candidates():
            try:
                resp = await self._follow(session, method, base + path, body, headers, timeout)
            except TransportFailure as failure:
                log.debug("member %s failed: %s", base, failure)
                failures.append(failure)
                if watch and failure.timed_out:
                    # The caller's own deadline: another member would not be faster.
                    raise EtcdWatchTimedOut(f"the watch timed out: {failure}", cause=failure.cause) from failure.cause
                if failure.sent and not replay_safe:
                    raise EtcdConnectionFailed(
                        f"{method} to {failure.url} broke off after the request was sent; it may or may not "
                        "have taken effect, so it was not repeated on another member",
                        cause=failure.cause,
                    ) from failure.cause
                continue
            self._check_cluster_id(resp)
            self._pin(base)
            return resp
        raise self._exhausted(failures)

    async def _follow(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        timeout: aiohttp.ClientTimeout,
    ) -> Response:
        for _ in range(MAX_REDIRECTS + 1):
            resp = await exchange(session, method, URL(url, encoded=True), body=body, headers=headers, timeout=timeout)
            if resp.status not in _REDIRECTS:
                return resp
            location = resp.headers.get("Location")
            if not self.allow_redirect or not location:
                raise EtcdException(
                    f"the server redirected {method} {url} to {location!r} and "
                    f"allow_redirect is {self.allow_redirect}"
                )
            url = str(URL(url, encoded=True).join(URL(location, encoded=True)))
        raise EtcdException(f"more than {MAX_REDIRECTS} redirects for {method} {url}")

    def _check_cluster_id(self, resp: Response) -> None:
        seen = resp.headers.get("X-Etcd-Cluster-Id")
        if not seen:
            return
        if self.cluster_id is None:
            self.cluster_id = seen
        elif seen != self.cluster_id:
            raise EtcdClusterIdChanged(
                f"{resp.url} belongs to cluster {seen}, the client talks to cluster {self.cluster_id}"
            )

    def _exhausted(self, failures: list[TransportFailure]) -> EtcdConnectionFailed:
        last = failures[-1]
        tried = ", ".join(f.url for f in failures)
        names = "no member" if len(failures) > 1 else "the server"
        exc = EtcdConnectionFailed(f"{names} could be reached: {last}; tried {tried}", cause=last.cause)
        exc.__cause__ = last.cause
        return exc
