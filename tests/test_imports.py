"""What ``import aio_etcd`` loads: the v2 client only; the v3 client comes with its first use."""

from __future__ import annotations

import subprocess
import sys


def loaded_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(m for m in sys.modules if m.startswith('aio_etcd'))))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_import_aio_etcd_loads_no_v3_module() -> None:
    loaded = loaded_after("import aio_etcd as etcd\nfrom aio_etcd.lock import Lock\netcd.Client()")
    assert "aio_etcd.client" in loaded
    assert [m for m in loaded if m.startswith("aio_etcd.v3")] == []
    assert "aio_etcd.v2on3._keys" not in loaded


def test_a_v2_client_on_a_v3_store_loads_the_v3_client_when_built() -> None:
    loaded = loaded_after("import aio_etcd as etcd\netcd.Client(api='v3')")
    assert "aio_etcd.v3.client" in loaded
    assert "aio_etcd.v2on3._keys" in loaded
