"""etcd's v2 API over HTTP: its wire rules and the keys backend of :class:`aio_etcd.Client` (``api="v2"``)."""
