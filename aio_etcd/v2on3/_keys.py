"""The v2 keys API on a v3 store: each call as v3 requests, answered as a v2 server would.

Every change is one v3 transaction. Its comparisons hold the v2 rules
(a key's directories are not keys, a key is not a directory, ``prev*``
conditions), so concurrent writers can never break them; when a comparison
fails, the ``else`` branch has read what is needed to name the v2 error, so
a refusal costs no second request.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import secrets
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._core import GUARDED, SAFE, UNSAFE, ReplayRule
from ..exceptions import EtcdException, EtcdNotFile, EtcdOutcomeUnknown
from ..result import EtcdResult
from ..v3 import Client as V3Client
from ..v3 import txn as T  # noqa: N812 (the documented spelling)
from ._layout import (
    Layout,
    ancestors,
    empty,
    error,
    keep_parent,
    mark_parent,
    unb64,
    v2_key,
)
from ._reads import RACES, KeysReader, revision_of

if TYPE_CHECKING:
    from ._lock import MutexQueue

__all__ = ["KeysOnV3"]

#: How many of its own leases a client remembers (the newest).
REMEMBERED = 10_000
#: Seconds a fence key lives (see :meth:`KeysOnV3._guarded`): far longer
#: than any request can be held by a paused or cut-off member.
FENCE_TTL = 24 * 3600

log = logging.getLogger(__name__)


def _kvs(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The key-values of one ``response_range`` of a transaction."""
    found: list[dict[str, Any]] = (response.get("response_range") or {}).get("kvs") or []
    return found


def _some(start: bytes, end: bytes) -> T.Compare:
    """True when something is stored in ``[start, end)``."""
    return T.version(start, range_end=end) > 0


def _no_key_above(layout: Layout, above: list[str]) -> list[T.Compare]:
    """That none of the directories ``above`` is a key (v2 refuses a key below a key: 104)."""
    return [T.version(layout.file(directory)) == 0 for directory in above]


def _read_above(layout: Layout, above: list[str]) -> list[T.Op]:
    """For the ``else`` branch: which of the directories ``above`` is a key."""
    return [T.get(layout.file(directory), keys_only=True) for directory in above]


def _key_above(above: list[str], responses: list[dict[str, Any]], revision: int) -> EtcdException | None:
    """The 104 of the first directory above that the reads of :func:`_read_above` found to be a key."""
    for directory, response in zip(above, responses, strict=False):
        if _kvs(response):
            return error(104, directory, revision)
    return None


def _causes(kv: Mapping[str, Any], prev_value: Any, prev_index: int | None) -> str:
    """v2's cause of a failed compare (``[asked != held]`` for each condition that failed), or ``""``."""
    held = unb64(kv.get("value")).decode("utf-8", "surrogateescape")
    modified = int(kv.get("mod_revision") or 0)
    causes = []
    if prev_value is not None and str(prev_value) != held:
        causes.append(f"[{prev_value} != {held}]")
    if prev_index is not None and int(prev_index) != modified:
        causes.append(f"[{prev_index} != {modified}]")
    return " ".join(causes)


class KeysOnV3(KeysReader):
    """The v2 keys calls of :class:`aio_etcd.Client` (``api="v3"``) on a :class:`aio_etcd.v3.Client`:
    the reads of :class:`~aio_etcd.v2on3._reads.KeysReader`, and the changes.

    :param v3: the v3 client that carries every request.
    :param prefix: where the key space lives in v3 (see :mod:`aio_etcd.v2on3`).
    """

    def __init__(self, v3: V3Client, prefix: str = "") -> None:
        super().__init__(v3, prefix)
        #: The TTL each lease this client granted lately was granted for (the
        #: newest :data:`REMEMBERED`; a refresh renews only these).
        self.granted: collections.OrderedDict[int, int] = collections.OrderedDict()
        self._fence_name = self.layout.prefix + b"!aio_etcd/fence/" + secrets.token_hex(8).encode() + b"/"
        self._epoch = 0
        self._fence_lease = 0
        self._fence_lease_until = 0.0
        self._fence_grant: asyncio.Task[None] | None = None

    # -- requests ----------------------------------------------------------------------

    async def _txn(self, txn: T.Txn, *, rule: ReplayRule, op: str, key: str, timeout: float | None) -> dict[str, Any]:
        # The v3 client's own transaction path (over gRPC: the message from the builders' raw
        # fields), its answer in the gateway's shapes, which the writes below read.
        answer = await self.v3.session.txn_answer(txn, rule=rule, op=op, key=key.encode(), timeout=timeout)
        self._saw(revision_of(answer))
        return answer

    # -- changes that are repeated safely ----------------------------------------------

    def _fence_key(self, epoch: int) -> bytes:
        return self._fence_name + str(epoch).encode()

    async def _guarded(
        self,
        make: Callable[[], T.Txn],
        own: bytes,
        settle: Callable[[dict[str, Any] | None, int], dict[str, Any] | None],
        *,
        op: str,
        key: str,
        timeout: float | None,
    ) -> dict[str, Any]:
        """Commit the transaction ``make()`` exactly once, repeating it where that is safe.

        Every attempt also holds only while this client's current *fence
        key* does not exist. When an attempt's outcome is unknown (its
        member died, froze or lost its leader, or etcd answered that it timed
        out), the client writes that fence key through another member: from
        then on no copy of the attempt can be applied, however late it
        arrives. It reads ``own`` (the key the change is about) in the same
        transaction and asks ``settle(kv, before)`` what that state says,
        where ``before`` is the newest revision seen before the attempt was
        sent: ``None`` means the change surely was not applied (it is sent
        again under a new fence), an answer is the change's own (it was
        applied), and :class:`~aio_etcd.EtcdOutcomeUnknown` (``settled``) is
        raised when the state cannot tell.
        """
        if self._fence_grant is None:
            # The fence lease is granted ahead, in the background: when it is
            # needed, a member has just failed, and a grant may take long.
            self._fence_grant = asyncio.get_running_loop().create_task(self._grant_fence_lease())
        for _ in range(RACES):
            epoch = self._epoch
            before = self.revision
            txn = make().if_(T.create(self._fence_key(epoch)) == 0)
            try:
                answer = await self._txn(txn, rule=GUARDED, op=op, key=key, timeout=timeout)
            except EtcdOutcomeUnknown as unknown:
                kv, fenced_at = await self._fence(epoch, own, unknown, key, timeout)
                applied = settle(kv, before)
                if applied is not None:
                    return applied
                if kv is None or int(kv.get("mod_revision") or 0) > before:
                    exc = EtcdOutcomeUnknown(
                        f"{op} {key!r}: {unknown.args[0] if unknown.args else unknown}; the client made sure it "
                        f"can no longer be applied after revision {fenced_at}, but the key changed meanwhile, "
                        "so it cannot tell whether it was applied before that",
                        cause=unknown.cause,
                    )
                    exc.member, exc.settled = unknown.member, True
                    raise exc from unknown
                log.debug("%s %r: not applied before the fence at %d; sending it again", op, key, fenced_at)
                continue
            if answer.get("succeeded") or self._epoch == epoch:
                return answer
            # Refused under a fence written meanwhile (maybe the reason): again under the new one.
        raise EtcdException(f"{op} {key!r}: {RACES} attempts were fenced by others of this client; try again")

    async def _fence(
        self, epoch: int, own: bytes, unknown: EtcdOutcomeUnknown, key: str, timeout: float | None
    ) -> tuple[dict[str, Any] | None, int]:
        """Write the fence key of ``epoch`` (new attempts use the next one); ``own`` as it is then."""
        if self._epoch == epoch:
            self._epoch = epoch + 1
        txn = T.txn().then(T.put(self._fence_key(epoch), b"", lease=self._fence_lease_id()), T.get(own))
        try:
            # Writing a fence twice is writing it once: this one may be repeated.
            answer = await self._txn(txn, rule=SAFE, op="fence after", key=key, timeout=timeout)
        except EtcdException as exc:
            raise unknown from exc  # not settled: the first attempt may still land
        kvs = _kvs((answer.get("responses") or [{}, {}])[1])
        return (kvs[0] if kvs else None), revision_of(answer)

    def _fence_lease_id(self) -> int:
        """The lease for fence keys; 0 (a key that stays until deleted) while none could be granted."""
        if self._fence_lease and asyncio.get_running_loop().time() < self._fence_lease_until:
            return self._fence_lease
        if self._fence_grant is None or self._fence_grant.done():
            self._fence_grant = asyncio.get_running_loop().create_task(self._grant_fence_lease())
        log.info("no lease for fence keys yet: this fence key of %r stays until deleted", self.layout.prefix)
        return 0

    async def _grant_fence_lease(self) -> None:
        try:
            grant = await self.v3.grant(FENCE_TTL)
        except EtcdException as exc:
            log.debug("no lease for fence keys (%s); asked again at the next fence", exc)
            self._fence_grant = None
            return
        self._fence_lease = grant.id
        self._fence_lease_until = asyncio.get_running_loop().time() + FENCE_TTL - 3600

    def lock_queue(self, name: str) -> MutexQueue:
        """The queue of an :class:`aio_etcd.Lock` named ``name`` on this store: etcd's own
        lock layout (``<name>/<lease id>``, outside the prefix), shared with ``etcdctl lock``."""
        from ._lock import MutexQueue

        return MutexQueue(self.v3, name)

    async def close(self) -> None:
        """Stop the background grant of the fence lease, if it runs (the client closes)."""
        task, self._fence_grant = self._fence_grant, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _grant(self, ttl: int) -> int:
        grant = await self.v3.grant(max(1, ttl))
        granted = self.granted
        granted[grant.id] = grant.ttl
        if len(granted) > REMEMBERED:
            granted.popitem(last=False)  # long expired, most likely; a refresh then moves its key
        return grant.id

    # -- writes ------------------------------------------------------------------------

    async def write(
        self,
        key: str,
        value: Any,
        *,
        ttl: int | None,
        dir: bool,
        append: bool,
        prevValue: Any,  # noqa: N803 - etcd's spelling
        prevIndex: int | None,  # noqa: N803
        prevExist: bool | None,  # noqa: N803
        refresh: bool,
        noValueOnSuccess: bool,  # noqa: N803
        timeout: float | None,
    ) -> EtcdResult:
        """The v2 ``PUT`` (``POST`` with ``append``) of the keys API."""
        name = v2_key(key)
        if name == "/" and not append:
            raise error(107, "/", self.revision)
        if prevValue is not None and str(prevValue) == "":
            raise error(201, "", self.revision)
        text = "" if value is None else str(value)  # v2 stores no value as ""
        if append:
            result = await self._append(name, text, ttl, timeout)
        elif refresh:
            assert ttl is not None  # the client checked
            result = await self._refresh(name, ttl, prevValue, prevIndex, timeout)
        elif dir:
            result = await self._mkdir(name, ttl, prevExist, timeout)
        else:
            result = await self._set(name, text, ttl, prevValue, prevIndex, prevExist, timeout)
        if noValueOnSuccess:
            return self._result(result.action or "set", None, result.etcd_index or 0, new=result.newKey)
        return result

    async def _set(
        self,
        name: str,
        value: str,
        ttl: int | None,
        prev_value: Any,
        prev_index: int | None,
        prev_exist: bool | None,
        timeout: float | None,
        lease: int | None = None,
    ) -> EtcdResult:
        """A key's value (``lease``: one granted for ``ttl`` already)."""
        layout = self.layout
        own = layout.file(name)
        start, end = layout.below(name)
        above = ancestors(name)
        if lease is None:
            lease = await self._grant(ttl) if ttl is not None else 0
        conditional = prev_value is not None or prev_index is not None or prev_exist is not None
        if prev_value is not None or prev_index is not None:
            action = "compareAndSwap"
        else:
            action = {None: "set", True: "update", False: "create"}[prev_exist]

        def make() -> T.Txn:
            txn = T.txn().if_(*_no_key_above(layout, above), empty(start, end))
            if prev_exist is False:
                txn.if_(T.version(own) == 0)
            elif prev_exist:
                txn.if_(T.version(own) > 0)
            if prev_value is not None:
                txn.if_(T.value(own) == str(prev_value))
            if prev_index is not None:
                txn.if_(T.mod(own) == int(prev_index))
            txn.then(T.put(own, value, lease=lease, prev_kv=True))
            if lease:
                keeper = mark_parent(layout, name)
                if keeper is not None:
                    txn.then(keeper)
            if action != "set" or lease:
                # A set with a TTL too: watches take a put that keeps the value
                # and moves the key to a new lease, without a record, for a refresh.
                txn.then(T.put(layout.action, action.encode()))
            txn.else_(T.get(own), T.get(start, range_end=end, limit=1, keys_only=True), *_read_above(layout, above))
            return txn

        def settle(kv: dict[str, Any] | None, before: int) -> dict[str, Any] | None:
            # A plain write whose value (and lease) is there, written after the
            # attempt was sent, is the attempt's: had another client written
            # the same, this write would have changed nothing after it. A
            # compare-and-swap cannot be told from such a write: not settled.
            if conditional or kv is None or int(kv.get("mod_revision") or 0) <= before:
                return None
            if unb64(kv.get("value")) != value.encode() or int(kv.get("lease") or 0) != lease:
                return None
            return self._applied_put(kv)

        answer = await self._guarded(make, own, settle, op="write", key=name, timeout=timeout)
        revision = revision_of(answer)
        responses = answer.get("responses") or []
        if not answer.get("succeeded"):
            raise self._write_refused(name, responses, above, prev_value, prev_index, prev_exist, revision)
        prev = (responses[0].get("response_put") or {}).get("prev_kv")
        node = self._ttl_node(
            {
                "key": name,
                "value": value,
                "modifiedIndex": revision,
                "createdIndex": int(prev["create_revision"]) if prev else revision,
            },
            ttl,
        )
        prev_node = layout.file_node(prev, {}) if prev else None
        return self._result(action, node, revision, prev_node, new=prev is None)

    def _applied_put(self, kv: dict[str, Any]) -> dict[str, Any]:
        """The answer a put would have had that is found applied as ``kv`` (its previous value unknown
        where the history was compacted)."""
        modified = int(kv["mod_revision"])
        answer: dict[str, Any] = {"header": {"revision": str(modified)}, "succeeded": True}
        put: dict[str, Any] = {}
        if int(kv.get("create_revision") or 0) != modified:
            put["prev_kv"] = {**kv, "mod_revision": kv.get("create_revision"), "value": ""}
        answer["responses"] = [{"response_put": put}]
        return answer

    def _write_refused(
        self,
        name: str,
        responses: list[dict[str, Any]],
        above: list[str],
        prev_value: Any,
        prev_index: int | None,
        prev_exist: bool | None,
        revision: int,
    ) -> EtcdException:
        """The v2 error of a refused write, from the reads of its ``else`` branch."""
        refused = _key_above(above, responses[2:], revision)
        if refused is not None:
            return refused
        if _kvs(responses[1]):
            return error(102, name, revision)
        current = _kvs(responses[0])
        if prev_exist is False and current:
            return error(105, name, revision)
        if not current:
            return error(100, name, revision)
        return error(101, _causes(current[0], prev_value, prev_index), revision)

    async def _mkdir(self, name: str, ttl: int | None, prev_exist: bool | None, timeout: float | None) -> EtcdResult:
        lease = await self._grant(ttl) if ttl is not None else 0
        if not prev_exist:
            return await self._mkdir_once(name, ttl, lease, prev_exist, timeout)
        # An update of a directory. As in v2, an update with dir=true of a
        # key updates the key: its value becomes "" (and its TTL the one given).
        for _ in range(RACES):
            try:
                return await self._mkdir_once(name, ttl, lease, prev_exist, timeout)
            except EtcdNotFile:
                pass  # a key, not a directory
            try:
                return await self._set(name, "", ttl, None, None, True, timeout, lease=lease)
            except EtcdNotFile:
                continue  # a directory again meanwhile
        raise EtcdException(f"update of {name!r}: {RACES} attempts met it a key, then a directory; try again")

    async def _mkdir_once(
        self, name: str, ttl: int | None, lease: int, prev_exist: bool | None, timeout: float | None
    ) -> EtcdResult:
        layout = self.layout
        own = layout.file(name)
        start, end = layout.below(name)
        above = ancestors(name)
        txn = T.txn().if_(*_no_key_above(layout, above))
        if prev_exist:
            txn.if_(_some(start, end))  # the directory exists: this changes its TTL
        else:
            txn.if_(empty(start, end))
            if prev_exist is False:
                txn.if_(T.version(own) == 0)
        # A key in the way becomes the directory (as in v2, without prevExist=False).
        txn.then(T.delete(own, prev_kv=True), T.put(layout.marker(name), b"", lease=lease))
        if prev_exist is not None:
            txn.then(T.put(layout.action, b"update" if prev_exist else b"create"))
        txn.else_(T.get(own, keys_only=True), T.get(start, range_end=end, limit=1, keys_only=True))
        txn.else_(*_read_above(layout, above))
        answer = await self._txn(txn, rule=UNSAFE, op="mkdir", key=name, timeout=timeout)
        revision = revision_of(answer)
        responses = answer.get("responses") or []
        if not answer.get("succeeded"):
            refused = _key_above(above, responses[2:], revision)
            if refused is not None:
                raise refused
            if prev_exist:
                raise error(102 if _kvs(responses[0]) else 100, name, revision)
            if _kvs(responses[1]):
                raise error(105 if prev_exist is False else 102, name, revision)
            raise error(105, name, revision)
        prev_kvs = (responses[0].get("response_delete_range") or {}).get("prev_kvs") or []
        node = self._ttl_node({"key": name, "dir": True, "modifiedIndex": revision, "createdIndex": revision}, ttl)
        prev = layout.file_node(prev_kvs[0], {}) if prev_kvs else None
        action = "update" if prev_exist else "create" if prev_exist is False else "set"
        return self._result(action, node, revision, prev, new=not prev_exist and prev is None)

    async def _append(self, name: str, value: str, ttl: int | None, timeout: float | None) -> EtcdResult:
        """A new key in the directory ``name``, named above every in-order key in it.

        The name is 20 digits: one more than the newest store revision seen,
        or than the highest such name in the directory (keys a migration
        brought are named after v2's indexes); after a lost race, a little
        further on by chance, so that racing appenders try different names.
        The transaction holds only if no name at or above it exists, so names
        rise in creation order.
        """
        layout = self.layout
        start, _ = layout.below(name)
        numbered_end = start + b":"  # past every name that starts with a digit
        above = ancestors(name) + ([name] if name != "/" else [])
        lease = await self._grant(ttl) if ttl is not None else 0
        after = self.revision
        spread = 1
        for _ in range(RACES):
            child = f"{'' if name == '/' else name}/{after + 1:020d}"
            own = layout.file(child)
            txn = T.txn().if_(*_no_key_above(layout, above), empty(own, numbered_end))
            txn.then(T.put(own, value, lease=lease))
            keeper = mark_parent(layout, child) if lease else None
            if keeper is not None:
                txn.then(keeper)
            txn.then(T.put(layout.action, b"create"))
            txn.else_(T.get(start, range_end=numbered_end, limit=1, keys_only=True, sort=("key", "desc")))
            txn.else_(*_read_above(layout, above))
            answer = await self._txn(txn, rule=UNSAFE, op="append to", key=name, timeout=timeout)
            revision = revision_of(answer)
            responses = answer.get("responses") or []
            if answer.get("succeeded"):
                node = self._ttl_node(
                    {"key": child, "value": value, "modifiedIndex": revision, "createdIndex": revision}, ttl
                )
                return self._result("create", node, revision, new=True)
            refused = _key_above(above, responses[1:], revision)
            if refused is not None:
                raise refused
            highest = _kvs(responses[0])
            last = layout.name(unb64(highest[0]["key"])).rsplit("/", 1)[1] if highest else ""
            # Appenders that lost this round must not all try the same name
            # next: spread them (wider after each loss), and more than one wins.
            after = max(revision, after + 1, int(last) if last.isdigit() else 0) + random.randrange(spread)
            spread = min(spread * 2, 1 << 16)
        raise EtcdException(f"append to {name!r}: {RACES} attempts met newer keys in the directory; try again")

    async def _refresh(
        self, name: str, ttl: int, prev_value: Any, prev_index: int | None, timeout: float | None
    ) -> EtcdResult:
        """A new TTL for a key, its value kept and its watchers left asleep.

        With the TTL its lease was granted with, the lease is renewed; with
        another, the key moves to a new lease. Either way a put that keeps the
        value (and the renewed lease) gives the refresh an index, as in v2,
        and the action record ``refresh`` at that revision makes watches pass
        over it (see :mod:`aio_etcd.v2on3`). Only
        a lease this client granted (for this one key) is renewed: leases
        others made, a migration's above all, may be shared by other keys.
        """
        layout = self.layout
        own = layout.file(name)
        for _ in range(RACES):
            answer = await self._range(own, None, serializable=False, key=name, timeout=timeout)
            revision = revision_of(answer)
            kvs = answer.get("kvs")
            if not kvs:
                raise error(100, name, revision)
            kv = kvs[0]
            causes = _causes(kv, prev_value, prev_index)
            if causes:
                raise error(101, causes, revision)
            lease = int(kv.get("lease") or 0)
            prev = layout.file_node(kv, {})
            renewed = False
            if lease and self.granted.get(lease) == ttl:
                try:
                    await self.v3.keep_alive_once(lease, timeout=timeout)
                except EtcdException:
                    pass  # gone meanwhile: a new lease below
                else:
                    renewed = True
            # As in v2 a refresh takes an index (a put that keeps the value, and the
            # lease when it was renewed); its action record tells watches to pass over it.
            moved_to = 0 if renewed else await self._grant(ttl)
            txn = T.txn().if_(T.mod(own) == int(kv["mod_revision"]))
            txn.then(
                T.put(own, b"", lease=moved_to, ignore_value=True, ignore_lease=renewed),
                T.put(layout.action, b"refresh"),
            )
            answer = await self._txn(txn, rule=SAFE, op="refresh", key=name, timeout=timeout)
            if answer.get("succeeded"):
                revision = revision_of(answer)
                node = self._ttl_node({**prev, "modifiedIndex": revision}, ttl)
                return self._result("update", node, revision, prev)
        raise EtcdException(f"refresh of {name!r}: {RACES} attempts met newer writes of the key; try again")

    # -- deletes -----------------------------------------------------------------------

    async def delete(
        self,
        key: str,
        *,
        recursive: bool | None,
        dir: bool | None,
        prevValue: Any,  # noqa: N803 - etcd's spelling
        prevIndex: int | None,  # noqa: N803
        timeout: float | None,
    ) -> EtcdResult:
        """The v2 ``DELETE`` of a key, or of a directory (``dir``, ``recursive``)."""
        name = v2_key(key)
        if name == "/":
            raise error(107, "/", self.revision)
        layout = self.layout
        own = layout.file(name)
        start, end = layout.below(name)

        def make() -> T.Txn:
            txn = T.txn().if_(T.version(own) > 0)
            if prevValue is not None:
                txn.if_(T.value(own) == str(prevValue))
            if prevIndex is not None:
                txn.if_(T.mod(own) == int(prevIndex))
            txn.then(T.delete(own, prev_kv=True))
            keeper = keep_parent(layout, name)
            if keeper is not None:
                txn.then(keeper)
            # "delete" too: without a record, a watch that reads the delete of a key
            # with a TTL after its lease ran out would take it for an expiry.
            cad = prevValue is not None or prevIndex is not None
            txn.then(T.put(layout.action, b"compareAndDelete" if cad else b"delete"))
            txn.else_(T.get(own), T.get(start, range_end=end, limit=1, keys_only=True))
            return txn

        # The key gone, or changed, after an attempt of unknown outcome cannot
        # be told from this delete's own doing: only "unchanged" settles it.
        answer = await self._guarded(make, own, lambda kv, before: None, op="delete", key=name, timeout=timeout)
        revision = revision_of(answer)
        responses = answer.get("responses") or []
        if answer.get("succeeded"):
            prev_kvs = (responses[0].get("response_delete_range") or {}).get("prev_kvs") or []
            prev = layout.file_node(prev_kvs[0], {})
            node = {"key": name, "modifiedIndex": revision, "createdIndex": prev["createdIndex"]}
            action = "compareAndDelete" if prevValue is not None or prevIndex is not None else "delete"
            return self._result(action, node, revision, prev)
        current = _kvs(responses[0])
        if current:
            raise error(101, _causes(current[0], prevValue, prevIndex), revision)
        if not _kvs(responses[1]):
            raise error(100, name, revision)
        if not (dir or recursive) or prevValue is not None or prevIndex is not None:
            raise error(102, name, revision)
        return await self._delete_dir(name, bool(recursive), timeout)

    async def _delete_dir(self, name: str, recursive: bool, timeout: float | None) -> EtcdResult:
        layout = self.layout
        start, end = layout.below(name)
        marker = layout.marker(name)
        txn = T.txn().if_(_some(start, end))
        if not recursive:
            txn.if_(empty(marker + b"\0", end))
        # Its indexes: the marker's, else the oldest key's (read before the delete).
        txn.then(T.get(start, range_end=end, limit=1, keys_only=True, sort=("create", "asc")))
        txn.then(T.get(marker, keys_only=True), T.delete(start, range_end=end))
        keeper = keep_parent(layout, name)
        if keeper is not None:
            txn.then(keeper)
        # "delete <name>": watches tell the directory's one event from its keys' deletes.
        txn.then(T.put(layout.action, b"delete " + name.encode("utf-8", "surrogateescape")))
        txn.else_(T.get(marker + b"\0", range_end=end, limit=1, keys_only=True))  # something besides the marker
        answer = await self._txn(txn, rule=UNSAFE, op="delete", key=name, timeout=timeout)
        revision = revision_of(answer)
        responses = answer.get("responses") or []
        if not answer.get("succeeded"):
            raise error(108 if responses and _kvs(responses[0]) else 100, name, revision)
        found = _kvs(responses[1]) or _kvs(responses[0])
        created = int(found[0]["create_revision"]) if found else revision
        node = {"key": name, "dir": True, "modifiedIndex": revision, "createdIndex": created}
        prev = {"key": name, "dir": True, "modifiedIndex": created, "createdIndex": created}
        return self._result("delete", node, revision, prev)
