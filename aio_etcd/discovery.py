"""Finding a cluster's members through DNS SRV records: :mod:`aio_etcd._core.discovery`.

Kept at this path for the code and tests that import it from here.
"""

from __future__ import annotations

from ._core.discovery import SrvMembers, discover, srv_names

__all__ = ["SrvMembers", "discover", "srv_names"]
