"""Reading the v2 keys API on a v3 store: a key, a directory's children, a whole tree.

:class:`KeysReader` holds the v3 client and the requests every v2 call makes
through it (its ranges, the TTLs left of leases, the actions recorded at
revisions, the v2 answer built), and the v2 ``get``: a key, a directory
without recursion (its children only: :class:`~aio_etcd.v2on3._layout.Listing`)
or a whole tree, each read at one revision. The changes
(:class:`~aio_etcd.v2on3._keys.KeysOnV3`) build on it.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
from collections.abc import Mapping
from typing import Any

from .._core import ReplayRule
from ..exceptions import EtcdException
from ..result import EtcdResult
from ..v3 import Client as V3Client
from ..v3 import txn as T  # noqa: N812 (the documented spelling)
from ..v3.errors import EtcdCompacted, EtcdFutureRevision
from ..v3.results import b64
from ._layout import Layout, Listing, NodeTTL, add_ttls, error, leases_of, v2_key

__all__ = ["KeysReader"]

#: How often an append or a refresh is tried again when others changed the directory or key
#: meanwhile, and a read when a later range met a member behind the first.

RACES = 50
#: How many keys a range of a directory listing reads at most (see :class:`Listing`).
LIST_BATCH = 1000
#: How many keys the range after one that passed over a sub-directory reads, while the
#: listing reads on through small sub-directories.
LIST_PEEK = 64
#: ... and while it passes over each sub-directory (they are large).
LIST_STEP = 16
#: From how many keys per sub-directory (on average, in the ranges read so far) a listing passes
#: over each one it meets: the two requests that costs (a short range, then a lookup of its oldest
#: key) cost the client about as much as reading 500 keys (measured on the gateway and on gRPC).
LIST_HOP_KEYS = 512
#: How many of a listing's lookups (oldest keys, values) are under way at once.
LIST_LOOKUPS = 16
#: How many of its own leases a client remembers (the newest).
REMEMBERED = 10_000
#: How many revisions' recorded actions a client remembers (the newest; :meth:`KeysReader.action_at`).
ACTIONS_REMEMBERED = 10_000



def revision_of(answer: Mapping[str, Any]) -> int:
    header = answer.get("header") or {}
    return int(header.get("revision") or 0)



class KeysReader:
    """The reads of :class:`~aio_etcd.v2on3._keys.KeysOnV3`, and the requests all its calls share.

    :param v3: the v3 client that carries every request.
    :param prefix: where the key space lives in v3 (see :mod:`aio_etcd.v2on3`).
    """

    def __init__(self, v3: V3Client, prefix: str = "") -> None:
        self.v3 = v3
        self.layout = Layout(prefix)
        #: The newest store revision seen in an answer (append names start above it).
        self.revision = 0
        #: The actions recorded at recent revisions (:meth:`action_at`).
        self._actions: collections.OrderedDict[int, str] = collections.OrderedDict()

    # -- requests ----------------------------------------------------------------------

    async def _call(
        self,
        path: str,
        body: dict[str, Any],
        *,
        safe: bool | ReplayRule,
        op: str,
        key: str,
        timeout: float | None,
    ) -> dict[str, Any]:
        answer = await self.v3.call(path, body, safe=safe, op=op, key=key.encode(), timeout=timeout)
        self._saw(revision_of(answer))
        return answer

    def _saw(self, revision: int) -> None:
        """An answer came at ``revision``: the newest seen moves up to it."""
        if revision > self.revision:
            self.revision = revision

    async def _range(
        self,
        start: bytes,
        end: bytes | None,
        *,
        serializable: bool,
        key: str,
        timeout: float | None,
        revision: int = 0,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"key": b64(start)}
        if end is not None:
            body["range_end"] = b64(end)
        if serializable:
            body["serializable"] = True
        if revision:
            body["revision"] = str(revision)
        return await self._call("/v3/kv/range", body, safe=True, op="read", key=key, timeout=timeout)

    async def action_at(self, revision: int) -> str:
        """The v2 action the write of ``revision`` recorded (see :attr:`Layout.action`), or ``""``:
        a ``set`` without a TTL (or a change by a plain v3 program, an older aio_etcd or the
        migrator); ``delete <directory>`` for a directory's delete. One serializable read
        of the record as it was at that revision, remembered for the other watches."""
        cache = self._actions
        found = cache.get(revision)
        if found is not None:
            return found
        try:
            try:
                answer = await self.v3.range(self.layout.action, revision=revision, serializable=True)
            except EtcdFutureRevision:
                # The member read from is behind the one whose watch saw the
                # event: a linearizable read waits until it has caught up.
                answer = await self.v3.range(self.layout.action, revision=revision)
        except EtcdCompacted:
            return ""
        kvs = answer.kvs
        found = kvs[0].value.decode("utf-8", "surrogateescape") if kvs and kvs[0].mod_revision == revision else ""
        cache[revision] = found
        if len(cache) > ACTIONS_REMEMBERED:
            cache.popitem(last=False)
        return found

    async def ttls(self, leases: set[int]) -> dict[int, NodeTTL]:
        """What is left of each lease (those gone are left out)."""
        if not leases:
            return {}
        ordered = list(leases)
        infos = await asyncio.gather(*(self.v3.time_to_live(lease) for lease in ordered))
        now = datetime.datetime.now(datetime.timezone.utc)
        # etcd v3 rounds what is left down, v2 rounds it up: 19.6 s left is 20 in v2.
        return {
            lease: NodeTTL(min(info.ttl + 1, info.granted_ttl or info.ttl + 1), now)
            for lease, info in zip(ordered, infos, strict=True)
            if info.ttl >= 0
        }

    def _result(
        self,
        action: str,
        node: dict[str, Any] | None,
        revision: int,
        prev: dict[str, Any] | None = None,
        *,
        new: bool = False,
    ) -> EtcdResult:
        body: dict[str, Any] = {"action": action}
        if node is not None:
            body["node"] = node
        if prev is not None:
            body["prevNode"] = prev
        return EtcdResult.from_response(body, etcd_index=revision, raft_index=None, created=new)

    def _ttl_node(self, node: dict[str, Any], ttl: int | None) -> dict[str, Any]:
        if ttl is not None:
            info = NodeTTL(max(ttl, 1), datetime.datetime.now(datetime.timezone.utc))
            node["expiration"] = info.expiration
            node["ttl"] = info.ttl
        return node

    # -- reads -------------------------------------------------------------------------

    async def read(
        self, key: str, *, recursive: bool | None, quorum: bool | None, timeout: float | None
    ) -> EtcdResult:
        """A key, or a directory listing (recursive or not); the v2 ``get``."""
        name = v2_key(key)
        layout = self.layout
        serializable = not quorum
        start, end = layout.below(name)
        if name == "/":
            if not recursive:
                for _ in range(RACES):
                    try:
                        return await self._listing(name, serializable, 0, timeout)
                    except (EtcdFutureRevision, EtcdCompacted):
                        continue  # a later range went to a member behind the first, or compacted: again
                raise EtcdException(f"read of {name!r}: {RACES} attempts met members behind others; try again")
            kvs, revision, views = await self._subtree(start, end, serializable, name, timeout, 0)
        else:
            own = layout.file(name)
            for _ in range(RACES):
                file, revision = await self._file(own, name, serializable, timeout)
                if file is not None:
                    return self._result("get", file, revision)
                # Not a key at that revision: the directory is read at the same
                # revision, so the answer, or the error's index, holds at one
                # revision. (Not as one read-only transaction: etcd 3.5.1 panics
                # when a client leaves such a transaction before its answer.)
                if not recursive:
                    try:
                        return await self._listing(name, serializable, revision, timeout)
                    except (EtcdFutureRevision, EtcdCompacted):
                        continue  # a member behind the first, or compacted meanwhile: again
                try:
                    kvs, _, views = await self._subtree(start, end, serializable, name, timeout, revision)
                except EtcdFutureRevision:
                    continue  # the second read went to a member behind the first: both again
                break
            else:
                raise EtcdException(f"read of {name!r}: {RACES} attempts met members behind others; try again")
        if not kvs and name != "/":
            raise error(100, name, revision)
        leased: list[tuple[dict[str, Any], int]] = []
        node = layout.tree(name, kvs, {}, views=views, leased=leased)
        if leased:
            add_ttls(leased, await self.ttls({lease for _, lease in leased}))
        return self._result("get", node, revision)

    async def _file(
        self, own: bytes, name: str, serializable: bool, timeout: float | None
    ) -> tuple[dict[str, Any] | None, int]:
        """The key ``name`` (the v3 key ``own``) as a v2 node, ``None`` when there is none, and the
        revision read. Over gRPC from etcd's message as it comes (no dict in the gateway's shapes)."""
        if self.v3.transport == "grpc":
            message = await self._range_message(own, b"", name, timeout, serializable=serializable)
            revision: int = message.header.revision
            if not message.kvs:
                return None, revision
            kv = message.kvs[0]
            ttls = await self.ttls({kv.lease}) if kv.lease else {}
            return self.layout.view_node(kv, ttls, name), revision
        answer = await self._range(own, None, serializable=serializable, key=name, timeout=timeout)
        kvs = answer.get("kvs")
        if not kvs:
            return None, revision_of(answer)
        ttls = await self.ttls(leases_of(kvs)) if "lease" in kvs[0] else {}
        return self.layout.file_node(kvs[0], ttls, name), revision_of(answer)

    async def _range_message(
        self,
        start: bytes,
        end: bytes,
        name: str,
        timeout: float | None,
        *,
        revision: int = 0,
        limit: int = 0,
        keys_only: bool = False,
        serializable: bool = False,
    ) -> Any:
        """A range over gRPC: etcd's ``RangeResponse`` message (``client.session.range_answer``)."""
        answer = await self.v3.session.range_answer(
            start, end, limit=limit, revision=revision, keys_only=keys_only,
            serializable=serializable, key=name.encode(), timeout=timeout,
        )  # fmt: skip
        self._saw(answer.header.revision)
        return answer

    async def _subtree(
        self, start: bytes, end: bytes, serializable: bool, name: str, timeout: float | None, revision: int
    ) -> tuple[Any, int, bool]:
        """The keys in ``[start, end)`` at ``revision`` (0: the newest), the revision read, and whether
        they are read as :class:`aio_etcd.v3.KV` views are (``kv.key``...): over gRPC, etcd's
        ``mvccpb.KeyValue`` messages as they come (a dict per key in the gateway's shapes, with
        its base64, would cost more than the range; a view per key, a quarter of the tree)."""
        if self.v3.transport == "grpc":
            answer = await self._range_message(start, end, name, timeout, revision=revision, serializable=serializable)
            return answer.kvs, revision or answer.header.revision, True
        answer = await self._range(start, end, serializable=serializable, key=name, timeout=timeout, revision=revision)
        return answer.get("kvs") or [], revision or revision_of(answer), False

    async def _listing(self, name: str, serializable: bool, revision: int, timeout: float | None) -> EtcdResult:
        """The directory ``name`` without recursion: its children only (see :class:`Listing`), read
        at ``revision`` (0: the first range's)."""
        listing = Listing(self.layout, name, batch=LIST_BATCH, peek=LIST_PEEK, step=LIST_STEP, hop_keys=LIST_HOP_KEYS)
        lookups: list[asyncio.Future[dict[str, Any]]] = []  # the oldest keys of sub-directories passed over
        paths: list[str] = []
        gate = asyncio.Semaphore(LIST_LOOKUPS)

        async def ask(body: dict[str, Any]) -> dict[str, Any]:
            async with gate:
                return await self._call("/v3/kv/range", body, safe=True, op="read", key=name, timeout=timeout)

        def oldest(start: bytes, end: bytes) -> dict[str, Any]:
            return T.range_request(
                start, range_end=end, limit=1, revision=revision, keys_only=True,
                sort=("create", "asc"), serializable=serializable,
            )  # fmt: skip

        grpc = self.v3.transport == "grpc"
        try:
            while listing.cursor is not None:
                if grpc:  # etcd's messages as they come: only the children become dicts
                    message = await self._range_message(
                        listing.cursor, listing.end, name, timeout, revision=revision, limit=listing.limit,
                        keys_only=not listing.values, serializable=serializable,
                    )  # fmt: skip
                    revision = revision or message.header.revision
                    listing.add(message.kvs, message.more, message.count, views=True)
                else:
                    body = T.range_request(
                        listing.cursor, range_end=listing.end, limit=listing.limit, revision=revision,
                        keys_only=not listing.values, serializable=serializable,
                    )  # fmt: skip
                    answer = await self._call("/v3/kv/range", body, safe=True, op="read", key=name, timeout=timeout)
                    revision = revision or revision_of(answer)
                    listing.add(answer.get("kvs") or [], bool(answer.get("more")), int(answer.get("count") or 0))
                for path, start, end in listing.take_wanted():  # asked for while the ranges go on
                    paths.append(path)
                    lookups.append(asyncio.ensure_future(ask(oldest(start, end))))
            if not listing.found and name != "/":
                raise error(100, name, revision)
            for path, start, end in listing.oldest_wanted():
                paths.append(path)
                lookups.append(asyncio.ensure_future(ask(oldest(start, end))))
            lookups += [
                asyncio.ensure_future(ask(T.range_request(
                    first, range_end=last + b"\0", revision=revision, serializable=serializable
                )))
                for first, last in listing.runs
            ]  # fmt: skip
            answers = await asyncio.gather(*lookups)
        except BaseException:
            for lookup in lookups:  # one failed (or this read was cancelled): the others are not waited for
                lookup.cancel()
            await asyncio.gather(*lookups, return_exceptions=True)
            raise
        for path, answer in zip(paths, answers, strict=False):
            kvs = answer.get("kvs") or []
            if kvs:
                listing.set_oldest(path, int(kvs[0]["create_revision"]))
        for answer in answers[len(paths) :]:
            listing.set_values(answer.get("kvs") or [])
        leases = listing.leases()
        ttls = await self.ttls(leases) if leases else {}
        return self._result("get", listing.node(ttls), revision)
