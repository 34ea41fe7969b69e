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

#: Imports every module of the package found first on the path, and says where it came from.
PROBE = """
import importlib, pkgutil, sys
import aio_etcd
where = aio_etcd.__path__[0]
for module in pkgutil.walk_packages(aio_etcd.__path__, "aio_etcd."):
    if module.name.endswith("__main__"):  # runs the command line
        continue
    loaded = importlib.import_module(module.name)
    assert loaded.__file__.startswith(where), (module.name, loaded.__file__)
print(where)
"""


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
    imported = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site"), "PATH": ""},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == str(tmp_path / "site" / "aio_etcd")
