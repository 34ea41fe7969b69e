"""tools/: the scripts that build what the tests run on."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

BUILD = Path(__file__).resolve().parents[2] / "tools" / "etcd" / "build.sh"


def _script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_build_sh_reads_a_version_whose_later_lines_hit_a_closed_pipe(tmp_path: Path) -> None:
    # etcd --version writes its version line first, then more: a check that
    # reads only up to the first match (grep -q) makes those writes fail
    # (SIGPIPE); under pipefail an etcd that is right was taken as wrong and
    # rebuilt, or failed the build. Here the later lines are many, so the
    # pipe is sure to be closed before they are written.
    dest = tmp_path / "builds" / "3.7.3"
    dest.mkdir(parents=True)
    _script(dest / "etcd", "#!/bin/sh\necho 'etcd Version: 3.7.3'\nyes 'Git SHA: 0123abc' | head -n 200000\n")
    _script(dest / "etcdctl", "#!/bin/sh\nexit 0\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _script(bin_dir / "go", "#!/bin/sh\necho 'go must not be run: the build is in the cache' >&2\nexit 1\n")
    env = {**os.environ, "AIO_ETCD_BUILDS": str(tmp_path / "builds"), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(BUILD), "3.7.3"], env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"3.7.3 {dest}/etcd\n", "")
