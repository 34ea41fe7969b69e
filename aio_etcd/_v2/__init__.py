"""etcd's v2 API over HTTP: its wire rules, its rules for the core, and the keys backend of ``api="v2"``.

:mod:`aio_etcd._v2.wire` holds the pure rules (what may be repeated, what is
transient, the exceptions of error answers, the member list of
``/v2/machines``); :mod:`aio_etcd._v2.rules` the object the v2 backend hands
to the core (:class:`~aio_etcd._v2.rules.V2Rules`, given to
:class:`aio_etcd._core.Cluster`); :mod:`aio_etcd._v2.keys` the keys backend
of :class:`aio_etcd.Client` with ``api="v2"``
(:class:`~aio_etcd._v2.keys.HttpKeys`: the member list, the transport, SRV
discovery, the cluster calls and the long-poll watches); and
:mod:`aio_etcd._v2.follow` the one engine that follows a v2 key from an index
(:class:`~aio_etcd._v2.follow.Changes`: ``eternal_watch`` and the migrator).
"""
