"""``python -m aio_etcd.cli``: the same as ``aio-etcd``."""

import sys

from .main import main

sys.exit(main())
