"""The one loop that makes a call's attempts, and the one path of every exchange.

The rules (``docs/clusters.rst`` states them for users):

- Members are tried in turn, starting with the pinned one (the last that
  answered; :mod:`aio_etcd._core.members`).
- An attempt has failed when the connection cannot be opened, breaks off, or
  outlives :attr:`~aio_etcd.RetryPolicy.attempt_timeout`, when the member
  answers with a transient error (as the API's rules classify it:
  :meth:`~aio_etcd._core.rules.ApiRules.classify`), or when what answered is
  not etcd (the API's check raised :class:`NotEtcd`). Then the next member is
  tried; after a pass over every member the loop waits a jittered backoff
  (:meth:`~aio_etcd.RetryPolicy.pause`). The call ends when an attempt
  succeeds, when the policy's attempts are used up, at its deadline, or
  after a pass in which every member refused the connection (or its
  certificate, or its name did not resolve): a cluster that is down is
  reported at once.
- Whether a request may be sent again after an attempt that may have reached
  a member is the :class:`~aio_etcd._core.policy.ReplayRule` its
  :class:`Call` carries; a request that may not fails with
  :class:`~aio_etcd.EtcdOutcomeUnknown`. Such a request is not given up
  because it is slow: a :class:`~aio_etcd._core.vigils.Vigil` asks its member (the API's
  :class:`~aio_etcd._core.rules.MemberProbe`) whether it still answers.
- Redirects are followed (if allowed) as their own request: they take a slot
  at the origin they go to, never carry ``Authorization`` (nor the client
  certificate) to another origin, turn into a ``GET`` on 303, and a loop
  ends with an error.
- Every exchange, whatever its kind, goes through :meth:`Cluster.exchange`
  (and :meth:`Cluster.websocket`), where the cluster's
  :class:`~aio_etcd._core.observer.Observer` sees it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from yarl import URL

from ..exceptions import EtcdClusterIdChanged, EtcdConnectionFailed, EtcdException, EtcdOutcomeUnknown
from .call import Call, NotEtcd
from .members import Members, Slots, SlotTimeout, origin
from .observer import Exchange, Observer, told
from .policy import RetryPolicy
from .rules import ApiRules
from .timeouts import quarter_up
from .transport import LineStream, Response, Transport, TransportFailure, WebSocket
from .vigils import Vigil, Vigils

__all__ = ["Call", "Cluster", "NotEtcd"]

log = logging.getLogger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: How many redirects one attempt may follow.
MAX_REDIRECTS = 3

_T = TypeVar("_T")


class Cluster(Members):
    """The core of a client: its members, the attempt loop, and the one path of every exchange.

    :param members: base URLs (``http://host:port``), the first is tried first.
    :param rules: what the API says about its answers, member list, cluster
        id and members' health (:class:`~aio_etcd._core.rules.ApiRules`).
    :param allow_reconnect: move to the next member when one fails.
    :param allow_redirect: follow redirects a member answers with.
    :param expected_cluster_id: refuse answers from another cluster; when
        ``None`` the id of the first answer is learned and guarded from then on.
    :param use_proxies: never add member URLs the cluster advertises.
    :param per_member: how many ordinary requests may be under way per origin
        at once; more wait their turn, first come first served.
    :param observer: told of every exchange
        (:class:`~aio_etcd._core.observer.Observer`); settable later as :attr:`observer`.
    """

    def __init__(
        self,
        members: Sequence[str],
        *,
        rules: ApiRules,
        allow_reconnect: bool,
        allow_redirect: bool,
        expected_cluster_id: str | None,
        use_proxies: bool = False,
        per_member: int = 10,
        observer: Observer | None = None,
    ) -> None:
        super().__init__(
            members,
            allow_reconnect=allow_reconnect,
            expected_cluster_id=expected_cluster_id,
            use_proxies=use_proxies,
            per_member=per_member,
        )
        self.allow_redirect = allow_redirect
        #: The rules of the API this core carries.
        self.rules = rules
        self.classify = rules.classify
        self._id_header = rules.cluster_id_header
        #: How a member is asked about itself while a request that must not
        #: be repeated waits for its answer (``None``: a member is never given
        #: up on before the call's deadline).
        self.probe = rules.probe
        #: Told of every exchange (``None``: nobody is).
        self.observer = observer
        self._vigils = Vigils()

    # -- the attempt loop --------------------------------------------------------------------

    async def request(
        self,
        transport: Transport,
        call: Call,
        check: Callable[[Response], _T],
        policy: RetryPolicy,
        *,
        deadline: float | None,
        attempt_timeout: float | None = None,
        attempts: int | None = -1,
    ) -> _T:
        """Make ``call``'s attempts until one gives an answer ``check`` accepts; see the module rules.

        :param check: turns an answer into the result; raises :class:`NotEtcd`
            for an answer that is not etcd's (the next member is tried) and
            the etcd exception for an error answer (raised to the caller).
        :param deadline: seconds the whole call may take (``None`` or ``math.inf``: no limit).
        :param attempt_timeout: instead of the policy's.
        :param attempts: instead of the policy's (``None``: no limit).
        """
        loop = asyncio.get_running_loop()
        end = None if deadline is None or deadline == math.inf else loop.time() + deadline
        per = attempt_timeout or policy.attempt_timeout
        limit = policy.attempts if attempts == -1 else attempts
        members = self.members
        count = len(members) if self.allow_reconnect else 1
        start = self._pinned
        step = made = passes = strangers = refused = 0
        retried_here = False
        last: BaseException | None = None
        last_base = ""
        while True:
            base = members[(start + step) % len(members)]
            budget = per
            if end is not None:
                left = end - loop.time() if made else deadline
                assert left is not None
                if left <= 0:
                    raise self._out_of_time(call, deadline, last, last_base, made)
                if left < per:
                    budget = left
            made += 1
            try:
                # One attempt: a slot (watches take none), the exchange, redirects.
                if call.lines:
                    resp = await self.exchange(
                        transport, "lines", base, call, base + call.path, budget, made, first_line=not call.head_only
                    )
                elif call.stream:
                    resp = await self.exchange(
                        transport, "stream", base, call, base + call.path, budget, made, stream=True
                    )
                else:
                    slots = self._slots.get(base) or self.slots_for(base)
                    if slots.free:  # a free slot means nobody is waiting
                        slots.free -= 1
                    else:
                        await self._wait_slot(slots, base + call.path, end)
                    try:
                        if call.rule.safe:
                            resp = await self.exchange(transport, "request", base, call, base + call.path, budget, made)
                        else:
                            resp = await self._exchange_once(transport, base, call, per, end, made)
                    finally:
                        slots.release()
                if resp.status in _REDIRECTS:
                    resp = await self._follow(transport, base, call, resp, budget, end, made)
            except TransportFailure as failure:
                last, last_base = failure, base
                if failure.timed_out and failure.limit_name == "attempt_timeout":
                    failure.limit = budget
                    if budget < per:
                        failure.limit_name = "what was left of the call's deadline"
                if failure.sent:
                    if not call.rule.safe:
                        raise self._unknown(call, base, failure, failure.cause) from failure.cause
                elif not failure.timed_out:
                    refused += 1  # refused, unknown host, bad certificate: nobody there to wait for
                if call.resume is not None:
                    call.resume(failure)
                log.debug("%s: attempt at %s failed: %s", call, base, failure)
                if failure.sent and not failure.timed_out and failure.headers is None and not retried_here:
                    # Closed before any answer: most often a keep-alive
                    # connection the member had dropped. Once more, same member.
                    retried_here = True
                    continue
            else:
                failed: EtcdException | None = None
                if resp.status >= 400:
                    verdict = self.classify(resp)
                    if verdict is not None:
                        failed, certainly_not = verdict
                        last, last_base = failed, base
                        log.debug("%s: %s answered %s", call, base, failed)
                        if not certainly_not and not call.rule.safe:
                            raise self._unknown(call, base, failed, failed) from failed
                if failed is None:
                    # The cluster id is learned (or guarded) only from an answer
                    # the check took as etcd's: a refused one pins nothing.
                    try:
                        result = check(resp)
                    except NotEtcd as exc:
                        last, last_base = exc, base
                        strangers += 1
                        log.debug("%s: %s", call, exc)
                        if strangers >= count:
                            raise
                    except EtcdClusterIdChanged:
                        raise
                    except EtcdException:
                        header = self._id_header
                        if header is not None and resp.headers.get(header) != self.cluster_id:
                            self._check_cluster_id(resp, header)
                        await self._answered(transport, base, policy, made > 1, end)
                        raise
                    else:
                        header = self._id_header
                        if header is not None and resp.headers.get(header) != self.cluster_id:
                            self._check_cluster_id(resp, header)
                        if made > 1 or not self._learned or base != self.members[self._pinned]:
                            await self._answered(transport, base, policy, made > 1, end)
                        return result
            retried_here = False
            if limit is not None and made >= limit:
                raise self._exhausted(call, last, last_base, made)
            step += 1
            if step % count == 0:
                if refused >= count:  # every member refused: the cluster is down, say so now
                    raise self._exhausted(call, last, last_base, made)
                refused = 0
                passes += 1
                wait = policy.pause(passes)
                if end is not None:
                    wait = min(wait, max(0.0, end - loop.time()))
                await asyncio.sleep(wait)
                members = self.members
                count = len(members) if self.allow_reconnect else 1
                start = self._pinned
                step = 0

    async def _exchange_once(
        self, transport: Transport, base: str, call: Call, per: float, end: float | None, attempt: int
    ) -> Response:
        """One attempt of a request that must not be sent again: it waits while its member answers.

        Its only limit is the call's deadline; a :class:`~aio_etcd._core.vigils.Vigil` gives it up
        when the member stops answering (see there).
        """
        loop = asyncio.get_running_loop()
        if getattr(transport, "reads_on_loop", True):
            # Let the loop read what is waiting on idle connections first: a
            # member that died left an end-of-stream there, and a request sent on
            # such a connection has an outcome the client could not tell from a
            # member dying with it (the first yield queues those reads behind
            # this task, the second lets them run before it goes on). A
            # transport whose connections are read off the loop (gRPC's
            # C core) says ``reads_on_loop = False``: the yields would not help it.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        # What is left of the deadline, rounded up to a quarter second: the
        # transport keeps one timeout object per distinct limit.
        now = loop.time()
        left = None if end is None else quarter_up(max(end - now, 0.001))
        vigil = Vigil(self, transport, base, per, call.rule.guarded, now, attempt)
        self._vigils.add(vigil, loop)
        try:
            return await self.exchange(transport, "request", base, call, base + call.path, left, attempt)
        except asyncio.CancelledError:
            if vigil.taken_back():
                raise self._given_up(base, call, vigil) from None
            raise
        except TransportFailure as failure:
            if vigil.taken_back():  # the cancellation came out of aiohttp as another error
                raise self._given_up(base, call, vigil) from failure
            if failure.timed_out:
                failure.limit_name = "the call's deadline"
            raise
        finally:
            self._vigils.discard(vigil)

    @staticmethod
    def _given_up(base: str, call: Call, vigil: Vigil) -> TransportFailure:
        # It may have been applied, or may be later: it is not sent again (the caller is told).
        failure = TransportFailure(base + call.path, asyncio.TimeoutError(), sent=True, timed_out=True)
        failure.limit_name = f"waited while the member answered; then {vigil.abandoned}"
        return failure

    # -- the one path of every exchange -----------------------------------------------------

    def exchange(
        self,
        transport: Transport,
        kind: str,
        member: str,
        call: Call,
        url: str,
        timeout: float | None,
        attempt: int = 1,
        *,
        method: str | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        foreign: bool = False,
        first_line: bool | None = None,
    ) -> Awaitable[Response]:
        """Send one exchange of ``call`` to ``url`` through ``transport``, in the observer's sight (await it).

        Every exchange of the core comes here (websockets: :meth:`websocket`).
        Without an observer it is the transport's own coroutine (one frame less
        a call); with one, :meth:`_observed` around it.

        :param kind: what it is, for the observer (:class:`~aio_etcd._core.observer.Exchange`).
        :param member: the member's base URL.
        :param method: instead of the call's (a redirect; then ``body`` and
            ``headers`` are the hop's too).
        :param first_line: not ``None``: open a stream of lines
            (:meth:`~aio_etcd._core.transport.Transport.open_lines`).
        :raises TransportFailure: the exchange failed below the API.
        """
        if method is None:
            method, body, headers = call.method, call.body, call.headers
        assert headers is not None
        if first_line is None:
            sent: Awaitable[Response] = transport.exchange(
                method, url, body=body, headers=headers, timeout=timeout, stream=stream, foreign=foreign
            )
        else:
            sent = transport.open_lines(
                method, url, body=body, headers=headers, timeout=timeout, foreign=foreign, first_line=first_line
            )
        observer = self.observer
        if observer is None:
            return sent
        return self._observed(observer, sent, Exchange(kind, method, url, member, attempt, str(call), 0.0))

    @staticmethod
    async def _observed(observer: Observer, sent: Awaitable[Response], seen: Exchange) -> Response:
        """``sent`` awaited in ``observer``'s sight (it is told before, and of how it ended)."""
        loop = asyncio.get_running_loop()
        seen.started = loop.time()
        try:
            observer.on_request(seen)
        except Exception as exc:
            told("on_request", exc)
        try:
            resp = await sent
        except BaseException as failure:
            try:
                observer.on_failure(seen, failure, loop.time() - seen.started)
            except Exception as exc:
                told("on_failure", exc)
            raise
        try:
            observer.on_response(seen, resp, loop.time() - seen.started)
        except Exception as exc:
            told("on_response", exc)
        return resp

    async def websocket(
        self, transport: Transport, member: str, path: str, headers: Mapping[str, str], timeout: float | None
    ) -> WebSocket:
        """Open a websocket to ``member + path`` through ``transport``, in the observer's sight.

        :raises TransportFailure: it could not be opened.
        """
        url = member + path
        observer = self.observer
        if observer is None:
            return await transport.websocket(url, headers=headers, timeout=timeout)
        loop = asyncio.get_running_loop()
        seen = Exchange("websocket", "WS", url, member, 1, f"websocket {path}", loop.time())
        try:
            observer.on_request(seen)
        except Exception as exc:
            told("on_request", exc)
        try:
            ws = await transport.websocket(url, headers=headers, timeout=timeout)
        except BaseException as failure:
            try:
                observer.on_failure(seen, failure, loop.time() - seen.started)
            except Exception as exc:
                told("on_failure", exc)
            raise
        try:
            observer.on_response(seen, Response.build(101, b"", url), loop.time() - seen.started)
        except Exception as exc:
            told("on_response", exc)
        return ws

    async def ask(
        self,
        transport: Transport,
        member: str,
        call: Call,
        timeout: float | None,
        *,
        kind: str = "ask",
        attempt: int = 1,
    ) -> Response:
        """One exchange of ``call`` with ``member`` alone: no slot, no retry, no check of the answer.

        For questions about one member (its status, its ``/metrics``): the
        caller reads the answer.

        :raises TransportFailure: the exchange failed below the API.
        """
        return await self.exchange(transport, kind, member, call, member + call.path, timeout, attempt)

    async def ask_member(
        self, transport: Transport, base: str, timeout: float, attempt: int = 1
    ) -> tuple[str, Any]:
        """How ``base`` is: ``("alive", view)``, ``("leaderless", None)`` or ``("gone", None)``
        (see :class:`~aio_etcd._core.rules.MemberProbe`)."""
        if self.probe is None:
            return "alive", None
        resp = await self._probe(transport, base, self.probe.status(), timeout, attempt)
        view = None if resp is None else self.probe.view(resp)
        if view is None:
            return ("gone" if resp is None else "leaderless"), None
        return "alive", view

    async def read_through(self, transport: Transport, base: str, timeout: float, attempt: int = 1) -> bool:
        """Whether a linearizable read through ``base`` (:attr:`MemberProbe.settle`) was answered."""
        if self.probe is None:
            return False
        resp = await self._probe(transport, base, self.probe.settle(), timeout, attempt)
        return resp is not None and self.probe.settled(resp)

    async def _probe(
        self, transport: Transport, base: str, call: Call, timeout: float, attempt: int
    ) -> Response | None:
        """One probe of ``base`` (no slot, no retry); ``None`` when it failed below the API."""
        try:
            return await self.ask(transport, base, call, timeout, kind="probe", attempt=attempt)
        except TransportFailure:
            return None

    async def _follow(
        self,
        transport: Transport,
        base: str,
        call: Call,
        resp: Response,
        budget: float,
        end: float | None,
        attempt: int,
    ) -> Response:
        """Follow the redirect ``resp`` (and any after it), each hop with a slot at its own origin."""
        method, url, body, headers = call.method, base + call.path, call.body, call.headers
        foreign = False
        hops = [url]
        while resp.status in _REDIRECTS:
            location = resp.headers.get("Location")
            if not self.allow_redirect or not location:
                raise EtcdException(
                    f"the server redirected {method} {resp.url} to {location!r} and "
                    f"allow_redirect is {self.allow_redirect}"
                )
            target = str(URL(url, encoded=True).join(URL(location, encoded=True)))
            if target in hops:
                raise EtcdException(f"{call}: redirect loop: {' -> '.join([*hops, target])}")
            if len(hops) > MAX_REDIRECTS:
                raise EtcdException(f"{call}: more than {MAX_REDIRECTS} redirects: {' -> '.join([*hops, target])}")
            hops.append(target)
            if resp.status == 303 and method != "HEAD":
                method, body = "GET", None
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            where = origin(target)
            if where != origin(base):
                # Credentials chosen for one member never go to another origin.
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                foreign = True
            url = target
            slots = None
            if not call.stream:
                slots = self.slots_for(where)
                if slots.free:
                    slots.free -= 1
                else:
                    await self._wait_slot(slots, url, end)
            try:
                resp = await self.exchange(
                    transport,
                    "redirect",
                    base,
                    call,
                    url,
                    budget,
                    attempt,
                    method=method,
                    body=body,
                    headers=headers,
                    stream=call.stream,
                    foreign=foreign,
                )
            finally:
                if slots is not None:
                    slots.release()
        return resp

    async def _wait_slot(self, slots: Slots, url: str, end: float | None) -> None:
        try:
            await slots.wait(end)
        except SlotTimeout as exc:
            raise TransportFailure(url, asyncio.TimeoutError(), sent=False, timed_out=True) from exc

    async def _answered(
        self, transport: Transport, base: str, policy: RetryPolicy, moved: bool, end: float | None
    ) -> None:
        """``base`` answered as etcd: pin it, and learn the member list if it is time to."""
        await self.answered(base, moved, end, lambda: self._list_members(transport, policy))

    async def sync(self, transport: Transport, policy: RetryPolicy) -> None:
        """Learn the member list now (or wait for the background refresh under way)."""
        await self.learn(lambda: self._list_members(transport, policy))

    async def _list_members(self, transport: Transport, policy: RetryPolicy) -> list[str]:
        """The member list, read through the attempt loop with the API's request and parser."""
        rules = self.rules
        return await self.request(
            transport,
            rules.members_call(),
            rules.parse_members,
            policy,
            deadline=policy.attempt_timeout * 2,
            attempts=2,
        )

    def _check_cluster_id(self, resp: Response, header: str) -> None:
        seen = resp.headers.get(header)
        if seen:
            try:
                self.guard_cluster_id(seen, resp.url)
            except EtcdClusterIdChanged:
                if isinstance(resp, LineStream):
                    resp.close()  # a stream of another cluster: nobody will read it
                raise

    # -- errors ---------------------------------------------------------------------------------

    @staticmethod
    def _unknown(call: Call, base: str, failure: BaseException, cause: BaseException) -> EtcdOutcomeUnknown:
        what = f"{base} answered {failure}" if isinstance(failure, EtcdException) else str(failure)
        exc = EtcdOutcomeUnknown(
            f"{call}: {what}; it was not sent again (not safe to repeat). It may have been applied, may "
            f"never be, or may still be applied later, when {base} reaches its peers again: a read now "
            "does not settle it (docs/errors.rst says what does)",
            cause=cause,
        )
        exc.member = base
        return exc

    def _exhausted(self, call: Call, last: BaseException | None, base: str, made: int) -> EtcdException:
        if isinstance(last, EtcdException):
            return last  # etcd's own word on the last attempt (a 5xx), in its python-etcd class
        tried = sorted(set(self.members)) if self.allow_reconnect else [base]
        who = "the server could not be reached" if len(tried) == 1 else "no member could be reached"
        cause = last.cause if isinstance(last, TransportFailure) else last
        exc = EtcdConnectionFailed(
            f"{call}: {who} in {made} attempt{'s' if made > 1 else ''}: {last} (tried {', '.join(tried)})",
            cause=cause,
        )
        exc.__cause__ = cause
        return exc

    def _out_of_time(
        self, call: Call, deadline: float | None, last: BaseException | None, base: str, made: int
    ) -> EtcdConnectionFailed:
        cause = last.cause if isinstance(last, TransportFailure) else last
        last_words = f"; last attempt ({made} made): {last}" if last is not None else ""
        exc = EtcdConnectionFailed(
            f"{call}: no answer within the call's {deadline:g}s deadline (timeout= or read_timeout){last_words}",
            cause=cause,
        )
        exc.__cause__ = cause
        return exc
