"""``aio-etcd``: the command line (also ``python -m aio_etcd``).

Built on the public :class:`aio_etcd.Client` only. Each command runs one
asyncio program and exits. Commands so far:

- ``aio-etcd dev``: a development etcd until Ctrl-C (see ``python -m aio_etcd.testing``);
- ``aio-etcd lock NAME [--ttl S] [--timeout S] -- COMMAND...``: run a command
  while holding :class:`aio_etcd.Lock`.
"""

from __future__ import annotations

import sys

from .main import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
