"""The wheel holds the whole package: built from a copy of this checkout, every module imports from it.

The tests import the checkout itself (an editable install), which hides a
package the wheel leaves out: a wheel without ``aio_etcd._core`` once passed
every other test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]

#: Imports every module named on its command line (those of the checkout) and says where the
#: package came from; every module of it loaded must come from there (an editable install's
#: finder would load one the wheel lacks from the checkout).
PROBE = """
import importlib, sys
import aio_etcd
where = aio_etcd.__path__[0]
for name in sys.argv[1:]:
    importlib.import_module(name)
strays = [m.__name__ for n, m in sys.modules.items() if n.startswith("aio_etcd") and not m.__file__.startswith(where)]
assert not strays, strays
print(where)
"""


def _modules() -> list[str]:
    """Every module of the checkout's package but the command lines' ``__main__``."""
    names = []
    for path in sorted((ROOT / "aio_etcd").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _sources() -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "aio_etcd").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".typed", ".proto")
    }


def test_the_wheel_holds_every_module_and_imports(tmp_path: Path) -> None:
    source = tmp_path / "src"  # a copy: building in place would leave build/ and egg-info in the checkout
    shutil.copytree(ROOT / "aio_etcd", source / "aio_etcd", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.rst", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    built = subprocess.run(
        [*pip_wheel, "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=240
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("aio_etcd-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        missing = _sources() - names
        assert not missing, f"not in the wheel: {sorted(missing)}"
        archive.extractall(tmp_path / "site")
    alone = {"PYTHONPATH": str(tmp_path / "site"), "PATH": ""}
    imported = subprocess.run(
        [sys.executable, "-c", PROBE, *_modules()], cwd=tmp_path, env=alone, capture_output=True, text=True, timeout=60
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == str(tmp_path / "site" / "aio_etcd")
