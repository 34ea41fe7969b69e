"""Which API the keys calls of :class:`aio_etcd.Client` go to: ``api="v2"``, ``"v3"`` or ``"auto"``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from .._keypath import check_prefix, v2_key
from ..result import EtcdResult
from ..watch import Watches

if TYPE_CHECKING:
    from .._http import Response
    from ..cluster import Cluster
    from ..v3 import Client as V3Client
    from ._keys import KeysOnV3

__all__ = ["ApiModes"]


class ApiModes:
    """The part of :class:`aio_etcd.Client` that sends its keys calls to a v3 store."""

    _cluster: Cluster
    _protocol: str
    _keys: str
    _watches: Watches

    if TYPE_CHECKING:  # the client's own (ClusterCalls); declared here for the type checker only

        async def versions(self) -> dict[str, str]: ...

        async def api_execute(self, path: str, method: str, *args: Any, **kwargs: Any) -> Response: ...

    def _init_api(self, api: str, prefix: str, options: dict[str, Any]) -> None:
        """Remember how to reach a v3 store; with ``api="v3"`` go there now (no I/O)."""
        check_prefix(prefix)  # a bad prefix is refused now, not at the first call
        #: With api="v3": the v3 store the keys calls go to (None: the v2 API).
        self._keys3: KeysOnV3 | None = None
        #: With api="auto", until the first call has decided.
        self._auto = api == "auto"
        self._deciding: asyncio.Lock | None = None
        self._v3_options = {**options, "prefix": prefix}
        if api == "v3":
            self._use_v3()

    def _use_v3(self) -> None:
        """Send the keys calls to the v3 store from now on."""
        from ..v3 import Client as V3Client  # the v3 client is loaded only when a v3 store is used
        from ._keys import KeysOnV3

        options = dict(self._v3_options)
        prefix = options.pop("prefix")
        members = list(self._cluster.seeds)
        if options["srv_domain"] is not None:
            members = []
        elif options["allow_reconnect"] is None:
            options["allow_reconnect"] = len(members) > 1
        v3 = V3Client(*members, protocol=self._protocol, **options)
        self._keys3 = KeysOnV3(v3, prefix)
        self._watches.close()
        self._watches = Watches(self, request=self._wait_on_v3)  # type: ignore[arg-type]

    async def _v3_store(self) -> KeysOnV3 | None:
        """The v3 store of the keys calls, or ``None`` for the v2 API; ``api="auto"`` decides here once."""
        if self._auto:
            if self._deciding is None:
                self._deciding = asyncio.Lock()
            async with self._deciding:
                if self._auto:
                    if await self._serves_only_v3():
                        self._use_v3()
                    self._auto = False
        return self._keys3

    async def _serves_only_v3(self) -> bool:
        """Whether the server has no v2 API: etcd 3.6 and later, or 3.4/3.5 without ``--enable-v2``."""
        server = str((await self.versions()).get("etcdserver", ""))
        parts = server.split(".")
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit() and (int(parts[0]), int(parts[1])) >= (3, 6):
            return True
        probe = await self.api_execute(self._keys + "/", "GET", raise_for_status=False)
        return probe.status == 404 and (probe.json_object() or {}).get("errorCode") is None

    async def _wait_on_v3(self, key: str, path: str, query: dict[str, str], index: int | None) -> EtcdResult:
        from ._watch import next_change

        assert self._keys3 is not None
        return await next_change(self._keys3, v2_key(key), index, query.get("recursive") == "true")

    async def _v3_changes(
        self, key: str, index: int | None, recursive: bool | None
    ) -> AsyncGenerator[EtcdResult, None] | None:
        """With a v3 store: the v2 events of ``key`` from ``index`` on, from one v3 watch; else ``None``."""
        keys3 = await self._v3_store()
        if keys3 is None:
            return None
        from ._watch import changes

        return changes(keys3, v2_key(key), index, bool(recursive))

    @property
    def v3_client(self) -> V3Client | None:
        """With ``api="v3"``: the :class:`aio_etcd.v3.Client` under the keys calls (its
        leases, compaction, transactions); ``None`` on the v2 API."""
        return None if self._keys3 is None else self._keys3.v3

    @property
    def api(self) -> str:
        """``"v2"`` or ``"v3"``: where the keys calls go (``"auto"`` until the first call decided)."""
        return "auto" if self._auto else "v3" if self._keys3 is not None else "v2"
