"""What is particular to etcd's v2 API, for the core: its wire rules and its :class:`~aio_etcd._v2.rules.V2Rules`.

:mod:`aio_etcd._v2.wire` holds the pure rules (what may be repeated, what is
transient, the exceptions of error answers, the member list of
``/v2/machines``); :mod:`aio_etcd._v2.rules` the object the v2 client hands
to the core (:class:`aio_etcd._core.Cluster`).
"""
