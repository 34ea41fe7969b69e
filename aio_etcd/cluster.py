"""Which member to ask, and the one loop that makes a call's attempts.

The rules (``docs/clusters.rst`` states them for users):

- Members are tried in turn, starting with the pinned one (the last that
  answered). The member that answers becomes pinned.
- An attempt has failed when the connection cannot be opened, breaks off, or
  outlives :attr:`~aio_etcd.RetryPolicy.attempt_timeout`, when the member
  answers with a transient etcd error (5xx, etcd's "during rolling upgrades"),
  or when what answered is not etcd. Then the next member is tried; after a
  pass over every member the loop waits a jittered backoff
  (:meth:`~aio_etcd.RetryPolicy.pause`). The call ends when an attempt
  succeeds, when the policy's attempts are used up, at its deadline, or
  after a pass in which every member refused the connection (or its
  certificate, or its name did not resolve): a cluster that is down is
  reported at once.
- Whether a request may be sent again after an attempt that may have reached
  a member is :mod:`aio_etcd.retry`'s :func:`~aio_etcd.retry.replay_rule`; a
  request that may not fails with :class:`~aio_etcd.EtcdOutcomeUnknown`.
- With failover on (and ``use_proxies`` off), the member list is learned from
  ``/v2/machines`` after the first answer and after every failover, so members
  the caller did not list are used too. Until a list has been read once, a call
  that got its answer waits for the list (within its deadline) before it
  returns: a client given one member can fail over from its first call on. Later
  reads of the list run in the background; one that failed is tried again on an
  answer at least :attr:`Cluster.RELIST_AFTER` seconds later.
- At most ``per_member`` ordinary requests (``per_host_pool_size``) are under
  way per origin; more wait their turn in order of arrival. Watches are not
  counted: they may wait for hours.
- Redirects are followed (if allowed) as their own request: they take a slot
  at the origin they go to, never carry ``Authorization`` (nor the client
  certificate) to another origin, turn into a ``GET`` on 303, and a loop
  ends with an error.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from yarl import URL

from ._http import LineStream, Response, Transport, TransportFailure, _uncancel
from .exceptions import (
    EtcdClusterIdChanged,
    EtcdConnectionFailed,
    EtcdError,
    EtcdException,
    EtcdOutcomeUnknown,
)
from .retry import SAFE, ReplayRule, RetryPolicy, not_applied, transient

__all__ = ["Call", "Cluster", "MemberProbe", "NotEtcd", "member_url", "parse_machines"]

log = logging.getLogger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: How many redirects one attempt may follow.
MAX_REDIRECTS = 3

_T = TypeVar("_T")


class NotEtcd(EtcdException):
    """What answered is not an etcd v2 member (raised by the checks of answers).

    The loop moves on to the next member; when every member answered so, it
    raises this, and the client turns it into a plain
    :class:`~aio_etcd.EtcdException` with this message.
    """

    def __init__(self, resp: Response, what: str, api: str = "v2") -> None:
        super().__init__(f"{resp.url} did not answer as an etcd {api} member ({what}): {resp.describe()}")
        self.response = resp


class Call:
    """One request as the client means it: what to send, and how it may be retried.

    :param op: what the call is, for error messages (``"read"``, ``"write"``).
    :param key: the key it is about, for error messages.
    :param resume: for watches: told of each failure, it may rewrite
        :attr:`path` so that the next member starts where this one stopped.
    :param lines: the answer is a stream of lines (v3 watches, observes):
        the attempt ends with the first line, and the result holds the
        open :class:`~aio_etcd._http.LineStream`.
    :param head_only: with ``lines``, the attempt ends with the answer's
        head, not its first line (a v2 stream, silent until a change).
    """

    __slots__ = ("method", "path", "body", "headers", "rule", "stream", "op", "key", "resume", "lines", "head_only")

    def __init__(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        *,
        body: bytes | None = None,
        rule: ReplayRule = SAFE,
        stream: bool = False,
        op: str = "",
        key: str | bytes | None = None,
        resume: Callable[[TransportFailure], None] | None = None,
        lines: bool = False,
        head_only: bool = False,
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.rule = rule
        self.stream = stream
        self.op = op
        self.key = key
        self.resume = resume
        self.lines = lines
        self.head_only = head_only

    def __str__(self) -> str:
        what = self.op or f"{self.method} {self.path.split('?', 1)[0]}"
        key = self.key
        if isinstance(key, bytes):  # a v3 key: shown as text where it is text
            key = key.decode("utf-8", "backslashreplace")
        return what if key is None else f"{what} {key!r}"


class _Slots:
    """A first-come-first-served limit on the requests under way to one origin.

    A freed slot goes straight to the longest waiting request, so a newcomer
    never overtakes it. ``free`` is above zero only while nobody waits.
    While anybody waits, one timer looks every tenth of a second for waiters
    past their deadline, so waiting costs no timer of its own.
    """

    __slots__ = ("free", "waiters", "_sweeping")

    #: Seconds between two looks for waiters past their deadline.
    SWEEP = 0.1

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiters: collections.deque[tuple[asyncio.Future[None], float | None]] = collections.deque()
        self._sweeping = False

    async def wait(self, end: float | None = None) -> None:
        """Wait for a slot handed over by :meth:`release`.

        :param end: the loop time to give up at (at most :attr:`SWEEP` later).
        :raises SlotTimeout: no slot came by then.
        """
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[None] = loop.create_future()
        self.waiters.append((turn, end))
        if end is not None and not self._sweeping:
            self._sweeping = True
            loop.call_later(self.SWEEP, self._sweep, loop)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self.release()  # handed over just as we were cancelled: pass it on
            raise

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        waiting = False
        for turn, end in self.waiters:
            if turn.done():
                continue
            if end is not None and end <= now:
                turn.set_exception(SlotTimeout())
            else:
                waiting = waiting or end is not None
        self._sweeping = waiting
        if waiting:
            loop.call_later(self.SWEEP, self._sweep, loop)

    def release(self) -> None:
        """Give the slot to the first live waiter, or free it."""
        waiters = self.waiters
        while waiters:
            turn = waiters.popleft()[0]
            if not turn.done():  # cancelled and expired waiters are skipped
                turn.set_result(None)
                return
        self.free += 1


class _Vigil:
    """Watches the member of an attempt that must not be sent again, while the attempt waits.

    A request that may not be repeated is never abandoned just because it is
    slow: a member that is alive answers it in the end (a follower holds a
    proposal through a leader election). Once the attempt has run
    :attr:`~aio_etcd.RetryPolicy.attempt_timeout`, the member is asked
    (:attr:`Cluster.probe`) every half ``attempt_timeout`` whether it still
    answers; the attempt is abandoned, by cancelling the task that waits for
    it, when it did not answer twice in a row, or, for a ``guarded`` request
    (one whose late arrival is harmless), as soon as it does not answer or has
    no leader. One :class:`_Vigils` timer looks after every vigil of a cluster:
    a timer per request costs noticeably more CPU under concurrency.
    """

    __slots__ = (
        "_cluster", "_transport", "_base", "_task", "_per", "_guarded", "due", "_prober", "abandoned", "not_applied"
    )

    def __init__(
        self, cluster: Cluster, transport: Transport, base: str, per: float, guarded: bool, now: float
    ) -> None:
        self._cluster = cluster
        self._transport = transport
        self._base = base
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._per = per
        self._guarded = guarded
        self._prober: asyncio.Task[None] | None = None
        #: The loop time from which the member is probed.
        self.due = now + per / 2
        #: Set when the vigil gave up on the member and cancelled the attempt.
        self.abandoned = ""
        #: Set when the request certainly was not applied (and never will be).
        self.not_applied = False

    def start(self) -> None:
        self._prober = self._task.get_loop().create_task(self._watch())

    async def _watch(self) -> None:
        misses = 0
        first: Any = None
        cluster, transport, base, per = self._cluster, self._transport, self._base, self._per
        while True:
            verdict, view = await cluster.ask_member(transport, base, per)
            if verdict == "gone":
                misses += 1
                if self._guarded or misses >= 2:
                    return self._abandon(f"{base} no longer answers")
            else:
                misses = 0
                moved = first is not None and view != first
                if self._guarded and (verdict == "leaderless" or moved):
                    return self._abandon(f"{base} lost its leader")
                if moved and await cluster.read_through(transport, base, per):
                    # A new leader took over after the request reached the
                    # member, and a linearizable read through the member has
                    # been answered since: whatever the member proposed under
                    # the old leader has been applied by now (its answer is on
                    # its way: give it a moment) or never will be.
                    await asyncio.sleep(self._per / 2)
                    self.not_applied = True
                    return self._abandon(f"{base} follows a new leader and did not apply it")
                if first is None:
                    first = view
            await asyncio.sleep(per / 2)

    def _abandon(self, why: str) -> None:
        self.abandoned = why
        self._task.cancel()

    def stop(self) -> None:
        if self._prober is not None:
            self._prober.cancel()

    def taken_back(self) -> bool:
        """Whether the task's cancellation was this vigil's (and is now taken back)."""
        return bool(self.abandoned) and _uncancel(self._task)


class _Vigils:
    """Starts the probing of each :class:`_Vigil` when it is due, with one timer for all."""

    __slots__ = ("_waiting", "_ticking")

    TICK = 0.1

    def __init__(self) -> None:
        self._waiting: set[_Vigil] = set()
        self._ticking = False

    def add(self, vigil: _Vigil, loop: asyncio.AbstractEventLoop) -> None:
        self._waiting.add(vigil)
        if not self._ticking:
            self._ticking = True
            loop.call_later(self.TICK, self._tick, loop)

    def discard(self, vigil: _Vigil) -> None:
        self._waiting.discard(vigil)
        vigil.stop()

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for vigil in [v for v in self._waiting if v.due <= now]:
            self._waiting.discard(vigil)
            vigil.start()
        if self._waiting:
            loop.call_later(self.TICK, self._tick, loop)
        else:
            self._ticking = False


class SlotTimeout(Exception):
    """No slot came free in time."""


def member_url(protocol: str, host: str, port: int) -> str:
    """``protocol://host:port``, with IPv6 literals in brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{protocol}://{host}:{port}"


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


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


#: What :class:`Cluster` asks of an error answer (status 400 and above):
#: ``None`` when it is the caller's to see, else the error and whether the
#: request certainly was not applied (so even an unsafe request may go on).
Classifier = Callable[[Response], "tuple[EtcdException, bool] | None"]


def v2_transient(resp: Response) -> tuple[EtcdException, bool] | None:
    """The v2 :data:`Classifier`: :func:`~aio_etcd.retry.transient` answers are worth another attempt."""
    if resp.status < 500 and b"during rolling upgrades" not in resp.body:
        return None
    payload = resp.json_object()
    if not transient(resp.status, payload, resp.body):
        return None
    return etcd_error(resp, payload), not_applied(payload)


class MemberProbe:
    """How an API asks one member about itself, for requests that wait on that member.

    :param status: makes the request that asks the member how it is.
    :param view: what a status answer says of the member's leader: a value
        that changes whenever the member follows a new leader (its id and
        term, say), ``None`` when it has no leader.
    :param settle: makes a linearizable read through the member: once it is
        answered after a new leader took over, every proposal the member made
        under an earlier leader has been applied, or never will be.
    :param settled: whether an answer to ``settle`` is the read's own (not a
        refusal made before the read, such as a permission error).
    """

    __slots__ = ("status", "view", "settle", "settled")

    def __init__(
        self,
        status: Callable[[], Call],
        view: Callable[[Response], Any],
        settle: Callable[[], Call],
        settled: Callable[[Response], bool],
    ) -> None:
        self.status = status
        self.view = view
        self.settle = settle
        self.settled = settled


class Cluster:
    """The members a client may talk to, the member it is pinned to, and the attempt loop.

    :param members: base URLs (``http://host:port``), the first is tried first.
    :param allow_reconnect: move to the next member when one fails.
    :param allow_redirect: follow redirects a member answers with.
    :param expected_cluster_id: refuse answers from another cluster; when
        ``None`` the id of the first answer is learned and guarded from then on.
    :param use_proxies: never add member URLs the cluster advertises.
    :param machines_path: where the cluster lists its members (``/v2/machines``).
    :param per_member: how many ordinary requests may be under way per origin
        at once; more wait their turn, first come first served.
    :param refresh_headers: headers for the background member-list request
        (the credentials).
    :param classify: which error answers are worth another attempt (v2's
        rules by default).
    :param members_call: makes the request that lists the members, instead
        of a ``GET`` of ``machines_path``; ``parse_members`` reads its answer.
    :param probe: how to ask one member whether it is alive, which leader it
        follows, and to read through it (:class:`MemberProbe`).
    """

    def __init__(
        self,
        members: Sequence[str],
        *,
        allow_reconnect: bool,
        allow_redirect: bool,
        expected_cluster_id: str | None,
        use_proxies: bool = False,
        machines_path: str = "/v2/machines",
        per_member: int = 10,
        refresh_headers: Mapping[str, str] | None = None,
        classify: Classifier = v2_transient,
        members_call: Callable[[], Call] | None = None,
        parse_members: Callable[[Response], list[str]] = parse_machines,
        probe: MemberProbe | None = None,
    ) -> None:
        if not members:
            raise ValueError("a cluster needs at least one member")
        self.seeds: list[str] = list(members)
        self.members: list[str] = list(members)
        self.allow_reconnect = allow_reconnect
        self.allow_redirect = allow_redirect
        self.use_proxies = use_proxies
        self.machines_path = machines_path
        self.cluster_id = expected_cluster_id
        self.per_member = per_member
        self.refresh_headers = dict(refresh_headers or {})
        self.classify = classify
        self.members_call = members_call
        self.parse_members = parse_members
        #: How a member is asked about itself while a request that must not
        #: be repeated waits for its answer (``None``: a member is never given
        #: up on before the call's deadline).
        self.probe = probe
        self._pinned = 0
        self._learned = False
        self._listed = False  # a member list was read since the members were last set
        self._relist: asyncio.TimerHandle | None = None
        self._slots: dict[str, _Slots] = {}
        self._vigils = _Vigils()
        self._refresh: asyncio.Task[None] | None = None

    #: Seconds after a failed read of the member list before an answer triggers another.
    RELIST_AFTER = 5.0

    @property
    def current(self) -> str:
        """The base URL of the member requests go to first."""
        return self.members[self._pinned]

    def set_members(self, members: Sequence[str]) -> None:
        """Replace the member list (discovery), keeping the pinned member if it is still there."""
        if not members:
            raise ValueError("a cluster needs at least one member")
        current = self.current
        self.seeds = list(members)
        self.members = list(members)
        self._pinned = self.members.index(current) if current in self.members else 0
        self._learned = self._listed = False

    def avoid(self, base: str) -> None:
        """Stop preferring ``base`` (a member a stream found dead or frozen): pin the next one."""
        if self.allow_reconnect and self.current == base and len(self.members) > 1:
            self._pinned = (self._pinned + 1) % len(self.members)

    def _pin(self, base: str) -> None:
        with contextlib.suppress(ValueError):  # the list changed while the request ran
            self._pinned = self.members.index(base)

    async def close(self) -> None:
        """Stop the background member-list refresh, if one runs."""
        if self._relist is not None:
            self._relist.cancel()
            self._relist = None
        task, self._refresh = self._refresh, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

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
                    resp = await transport.open_lines(
                        call.method,
                        base + call.path,
                        body=call.body,
                        headers=call.headers,
                        timeout=budget,
                        first_line=not call.head_only,
                    )
                elif call.stream:
                    resp = await transport.exchange(
                        call.method, base + call.path, body=call.body, headers=call.headers, timeout=budget, stream=True
                    )
                else:
                    slots = self._slots.get(base) or self._new_slots(base)
                    if slots.free:  # a free slot means nobody is waiting
                        slots.free -= 1
                    else:
                        await self._wait_slot(slots, base + call.path, end)
                    try:
                        if call.rule.safe:
                            resp = await transport.exchange(
                                call.method, base + call.path, body=call.body, headers=call.headers, timeout=budget
                            )
                        else:
                            resp = await self._exchange_once(transport, base, call, per, end)
                    finally:
                        slots.release()
                if resp.status in _REDIRECTS:
                    resp = await self._follow(transport, base, call, resp, budget, end)
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
                        if resp.headers.get("X-Etcd-Cluster-Id") != self.cluster_id:
                            self._check_cluster_id(resp)
                        await self._answered(transport, base, policy, made > 1, end)
                        raise
                    else:
                        if resp.headers.get("X-Etcd-Cluster-Id") != self.cluster_id:
                            self._check_cluster_id(resp)
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
        self, transport: Transport, base: str, call: Call, per: float, end: float | None
    ) -> Response:
        """One attempt of a request that must not be sent again: it waits while its member answers.

        Its only limit is the call's deadline; a :class:`_Vigil` gives it up
        when the member stops answering (see there).
        """
        loop = asyncio.get_running_loop()
        # Let the loop read what is waiting on idle connections first: a
        # member that died left an end-of-stream there, and a request sent on
        # such a connection has an outcome the client could not tell from a
        # member dying with it (the first yield queues those reads behind
        # this task, the second lets them run before it goes on).
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        # What is left of the deadline, rounded up to a quarter second: the
        # transport keeps one timeout object per distinct limit.
        now = loop.time()
        left = None if end is None else math.ceil(max(end - now, 0.001) * 4) / 4
        vigil = _Vigil(self, transport, base, per, call.rule.guarded, now)
        self._vigils.add(vigil, loop)
        try:
            return await transport.exchange(
                call.method, base + call.path, body=call.body, headers=call.headers, timeout=left
            )
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
    def _given_up(base: str, call: Call, vigil: _Vigil) -> TransportFailure:
        # Not applied, and never will be: as good as never sent (the next member may have it).
        failure = TransportFailure(base + call.path, asyncio.TimeoutError(), sent=not vigil.not_applied, timed_out=True)
        failure.limit_name = f"waited while the member answered; then {vigil.abandoned}"
        return failure

    async def ask_member(self, transport: Transport, base: str, timeout: float) -> tuple[str, Any]:
        """How ``base`` is: ``("alive", view)``, ``("leaderless", None)`` or ``("gone", None)``
        (see :class:`MemberProbe`)."""
        if self.probe is None:
            return "alive", None
        resp = await self._ask(transport, base, self.probe.status(), timeout)
        view = None if resp is None else self.probe.view(resp)
        if view is None:
            return ("gone" if resp is None else "leaderless"), None
        return "alive", view

    async def read_through(self, transport: Transport, base: str, timeout: float) -> bool:
        """Whether a linearizable read through ``base`` (:attr:`MemberProbe.settle`) was answered."""
        if self.probe is None:
            return False
        resp = await self._ask(transport, base, self.probe.settle(), timeout)
        return resp is not None and self.probe.settled(resp)

    @staticmethod
    async def _ask(transport: Transport, base: str, call: Call, timeout: float) -> Response | None:
        """One exchange with ``base`` alone (no slot, no retry); ``None`` when it failed below HTTP."""
        try:
            return await transport.exchange(
                call.method, base + call.path, body=call.body, headers=call.headers, timeout=timeout
            )
        except TransportFailure:
            return None

    async def _follow(
        self, transport: Transport, base: str, call: Call, resp: Response, budget: float, end: float | None
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
            origin = _origin(target)
            if origin != _origin(base):
                # Credentials chosen for one member never go to another origin.
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                foreign = True
            url = target
            slots = None
            if not call.stream:
                slots = self._slots.get(origin) or self._new_slots(origin)
                if slots.free:
                    slots.free -= 1
                else:
                    await self._wait_slot(slots, url, end)
            try:
                resp = await transport.exchange(
                    method, url, body=body, headers=headers, timeout=budget, stream=call.stream, foreign=foreign
                )
            finally:
                if slots is not None:
                    slots.release()
        return resp

    async def _wait_slot(self, slots: _Slots, url: str, end: float | None) -> None:
        try:
            await slots.wait(end)
        except SlotTimeout as exc:
            raise TransportFailure(url, asyncio.TimeoutError(), sent=False, timed_out=True) from exc

    def _new_slots(self, origin: str) -> _Slots:
        slots = self._slots[origin] = _Slots(self.per_member)
        return slots

    async def _answered(
        self, transport: Transport, base: str, policy: RetryPolicy, moved: bool, end: float | None
    ) -> None:
        """``base`` answered as etcd: pin it, and learn the member list if it is time to.

        While no list was read yet, wait for the first read (at most until the
        call's ``end``), so the caller can fail over from then on.
        """
        if base != self.members[self._pinned]:
            self._pin(base)
        if not self.allow_reconnect or self.use_proxies:
            self._learned = True  # nothing to learn
            return
        if moved or not self._learned:
            self._learned = True
            if self._refresh is None or self._refresh.done():
                self._refresh = asyncio.get_running_loop().create_task(self._refresh_members(transport, policy))
        task = self._refresh
        if self._listed or task is None or task.done() or task is asyncio.current_task():
            return
        left = None if end is None else end - asyncio.get_running_loop().time()
        if left is None or left > 0:
            await asyncio.wait((task,), timeout=left)  # never cancels the read; it logs its own failure

    async def sync(self, transport: Transport, policy: RetryPolicy) -> None:
        """Learn the member list now (or wait for the background refresh under way)."""
        if self._refresh is None or self._refresh.done():
            self._learned = True
            self._refresh = asyncio.get_running_loop().create_task(self._refresh_members(transport, policy))
        await asyncio.shield(self._refresh)

    async def _refresh_members(self, transport: Transport, policy: RetryPolicy) -> None:
        """Learn members the caller did not list (in the background; failures are logged)."""
        if self.members_call is not None:
            call = self.members_call()
        else:
            call = Call("GET", self.machines_path, self.refresh_headers, op="member list")
        try:
            advertised = await self.request(
                transport, call, self.parse_members, policy, deadline=policy.attempt_timeout * 2, attempts=2
            )
        except Exception as exc:  # never an error in anybody's call: the list stays as it was
            log.debug("could not refresh the member list: %s", exc)
            if not self._listed:  # an answer a little later tries again
                self._relist = asyncio.get_running_loop().call_later(self.RELIST_AFTER, self._forget_learning)
            return
        self._listed = True
        merged = self.seeds + [url for url in advertised if url not in self.seeds]
        if merged != self.members:
            log.info("etcd members now %s", merged)
            current = self.current
            self.members = merged
            self._pin(current)

    def _forget_learning(self) -> None:
        self._relist = None
        if not self._listed:
            self._learned = False

    def _check_cluster_id(self, resp: Response) -> None:
        seen = resp.headers.get("X-Etcd-Cluster-Id")
        if seen:
            try:
                self.guard_cluster_id(seen, resp.url)
            except EtcdClusterIdChanged:
                if isinstance(resp, LineStream):
                    resp.close()  # a stream of another cluster: nobody will read it
                raise

    def guard_cluster_id(self, seen: str, url: str) -> None:
        """Learn the cluster id ``seen`` in an answer from ``url``, or refuse it if it is another one."""
        if self.cluster_id is None:
            self.cluster_id = seen
        elif seen != self.cluster_id:
            raise EtcdClusterIdChanged(
                f"{url} belongs to cluster {seen}, the client talks to cluster {self.cluster_id}"
            )

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
