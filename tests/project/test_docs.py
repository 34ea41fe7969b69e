"""Examples of the docs that a reader copies into files: they run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"

pytestmark = pytest.mark.timeout(120)


def _captioned_blocks(text: str) -> dict[str, str]:
    """``.. code-block::`` directives with a ``:caption:``: file name -> content."""
    blocks = {}
    pattern = re.compile(r"^\.\. code-block:: \w+\n   :caption: (\S+)\n\n((?:   .*\n|\n)+)", re.M)
    for match in pattern.finditer(text):
        lines = match[2].rstrip("\n").splitlines()
        blocks[match[1]] = "\n".join(line[3:] for line in lines) + "\n"
    return blocks


def test_the_pytest_plugin_example_runs_as_copied(tmp_path: Path) -> None:
    section = (DOCS / "testing.rst").read_text().split("The pytest plugin\n")[1]
    files = _captioned_blocks(section)
    assert set(files) == {"conftest.py", "pyproject.toml", "test_app.py"}
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(DOCS.parent)  # this checkout's aio_etcd
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error::DeprecationWarning"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=110,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout and "warning" not in done.stdout.lower(), done.stdout
