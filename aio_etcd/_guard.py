"""A guardian between a test process and the etcd it starts: etcd never outlives its parent.

    python -m aio_etcd._guard LIFELINE_FD PID_FILE etcd [ARGS...]

The parent holds the write end of a pipe and passes the read end as
``LIFELINE_FD``; it never writes to it. The guardian starts etcd, writes
etcd's process id to ``PID_FILE``, and waits. When the parent dies, however
it dies (``SIGKILL`` included), the kernel closes the write end; the
guardian's read returns end-of-file and it stops etcd (``SIGTERM``, then
``SIGKILL`` after 1 s: nobody waits for a graceful stop, and the members of a
cluster stopping all at once each wait for the others). ``SIGTERM`` or
``SIGINT`` to the guardian stop etcd the same way, with 5 s to stop. The
guardian exits with etcd's exit status. On Linux etcd is also given a
parent-death signal, so it stops even if the guardian itself is killed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from types import FrameType

#: prctl(2) option that sets the signal a process gets when its parent dies.
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the lifeline alone must do
        pass


def _stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: python -m aio_etcd._guard LIFELINE_FD PID_FILE COMMAND [ARGS...]", file=sys.stderr)
        return 2
    lifeline, pid_file, command = int(argv[0]), argv[1], argv[2:]
    proc = subprocess.Popen(
        command, preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None
    )
    with open(pid_file + ".tmp", "w") as out:
        out.write(str(proc.pid))
    os.replace(pid_file + ".tmp", pid_file)

    def watch_parent() -> None:
        try:
            while os.read(lifeline, 1):
                pass
        except OSError:
            pass
        _stop(proc, grace=1.0)  # the parent is gone

    def on_signal(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=_stop, args=(proc,), daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=watch_parent, daemon=True).start()
    code = proc.wait()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
