"""``python -m aio_etcd``: the ``aio-etcd`` command line."""

import sys

from aio_etcd.cli import main

sys.exit(main())
