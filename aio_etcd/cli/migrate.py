"""``aio-etcd migrate``: move a live v2 key space to v3 (see :mod:`aio_etcd.migrate`).

::

    aio-etcd migrate --from URL[,URL...] --to URL[,URL...] [--prefix /] [--dest-prefix P]
                     [--follow] [--verify] [--copy] [--dry-run] [--overwrite]
                     [--keep-empty-dirs] [--hidden KEY ...] [--to-transport auto|gateway|grpc]

Without ``--verify`` it copies (and with ``--follow`` keeps following until
SIGINT or SIGTERM); ``--verify`` alone only compares and copies nothing (its
report says so, and when most v2 keys are missing in v3 it asks whether
``--copy --verify`` was meant); ``--copy --verify`` copies and then compares.
Progress goes to standard error when it is a terminal; the JSON report to
standard output. Exit status: 0 done (and,
with ``--verify``, no difference), 1 differences or conflicts, 2 bad
arguments, 3 a side could not be reached, 4 any other error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from ..exceptions import EtcdConnectionFailed, EtcdException
from ..migrate import Differences, migrate, verify
from ..v3 import Client as V3Client
from .options import UsageError, client_for

__all__ = ["main"]

#: Differences listed on standard error (the JSON report has every one).
SHOWN = 20


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aio-etcd migrate",
        description="Copy a v2 key space to v3, follow its changes until stopped, verify both sides.",
    )
    p.add_argument("--from", dest="source", required=True, help="v2 endpoint URLs, comma-separated")
    p.add_argument("--to", dest="dest", required=True, help="v3 endpoint URLs, comma-separated")
    p.add_argument("--prefix", default="/", help="the v2 subtree to move (default /)")
    p.add_argument("--dest-prefix", default="", help="put before every key in v3 (/a/b -> P/a/b)")
    p.add_argument("--follow", action="store_true", help="after the copy, apply v2's changes until SIGINT/SIGTERM")
    p.add_argument(
        "--verify",
        action="store_true",
        help="compare both sides; ALONE IT COPIES NOTHING, it only compares (copy, then compare: --copy --verify)",
    )
    p.add_argument("--copy", action="store_true", help="with --verify: copy first, then compare")
    p.add_argument("--dry-run", action="store_true", help="read v2 and report, write nothing")
    p.add_argument("--overwrite", action="store_true", help="overwrite v3 keys changed after the copy started")
    p.add_argument(
        "--keep-empty-dirs",
        action="store_true",
        help="marker keys DIR/ for empty directories (and those with TTL keys): the layout Client(api='v3') reads",
    )
    p.add_argument("--hidden", nargs="+", default=[], metavar="KEY", help="hidden (_name) keys to copy too")
    p.add_argument("--ttl-poll", type=float, default=5.0, help="seconds between TTL re-reads when following")
    for side, name in (("from", "v2"), ("to", "v3")):
        group = p.add_argument_group(f"{name} side")
        group.add_argument(f"--{side}-username", help="user[:password]")
        group.add_argument(f"--{side}-ca-file", help="CA bundle")
        group.add_argument(f"--{side}-cert-file", help="client certificate")
        group.add_argument(f"--{side}-key-file", help="client key")
    group.add_argument(  # the v3 side's group
        "--to-transport",
        choices=("auto", "gateway", "grpc"),
        default=os.environ.get("AIO_ETCD_V3_TRANSPORT") or "auto",
        help="how the v3 side is reached: etcd's JSON gateway, or gRPC (the grpc extra); "
        "auto: what aio_etcd.v3.Client picks [$AIO_ETCD_V3_TRANSPORT, default auto]",
    )
    return p


def _side_options(args: argparse.Namespace, side: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    user = getattr(args, f"{side}_username")
    if user:
        name, sep, password = user.partition(":")
        if not sep:
            password = os.environ.get(f"AIO_ETCD_{side.upper()}_PASSWORD") or _ask(f"Password for {name} ({side}): ")
        options["username"], options["password"] = name, password
    ca, cert, key = (getattr(args, f"{side}_{what}_file") for what in ("ca", "cert", "key"))
    if ca:
        options["ca_cert"] = ca
    if cert:
        options["cert"] = (cert, key) if key else cert
    return options


def _ask(prompt: str) -> str:
    import getpass

    return getpass.getpass(prompt)


def _v3_client(endpoints: str, options: dict[str, Any], transport: str = "auto") -> V3Client:
    urls = [url.strip() for url in endpoints.split(",") if url.strip()]
    if not urls or not all(url.startswith(("http://", "https://")) for url in urls):
        raise UsageError(f"--to takes http(s):// URLs, not {endpoints!r}")
    if len({url.split("://")[0] for url in urls}) > 1:
        raise UsageError("the --to endpoints mix http and https")
    return V3Client(*urls, protocol=urls[0].split("://")[0], transport=transport, **options)


class _Progress:
    """A one-line progress display on standard error, only when it is a terminal."""

    def __init__(self) -> None:
        self.live = sys.stderr.isatty()
        self._last = ""

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.live:
            return
        if phase == "follow":  # done: changes applied; total: the v2 index reached
            line = f"\rfollowing: {done:,} changes applied, at v2 index {total:,} (Ctrl-C stops)"
        else:
            width = 30
            filled = width * done // total if total else width
            line = f"\r{phase} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} keys"
        if line != self._last:
            self._last = line
            sys.stderr.write(line)
            sys.stderr.flush()

    def done(self) -> None:
        if self.live and self._last:
            sys.stderr.write("\n")
            sys.stderr.flush()


async def _run(args: argparse.Namespace) -> int:
    copy = args.copy or args.follow or not args.verify
    source = client_for(args.source, _side_options(args, "from"))
    dest = _v3_client(args.dest, _side_options(args, "to"), args.to_transport)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    progress = _Progress()
    try:
        async with source, dest:
            if copy:
                report = await migrate(
                    source,
                    dest,
                    prefix=args.prefix,
                    dest_prefix=args.dest_prefix,
                    follow=args.follow,
                    verify_after=args.verify,
                    dry_run=args.dry_run,
                    overwrite=args.overwrite,
                    keep_empty_dirs=args.keep_empty_dirs,
                    hidden=args.hidden,
                    stop=stop,
                    ttl_poll=args.ttl_poll,
                    progress=progress,
                )
                progress.done()
                if args.follow:
                    print(f"stopped; last applied v2 index {report.last_index}", file=sys.stderr)
                out = {"mode": _mode(args), **report.to_json()}
                differences = report.differences or []
                failed = bool(differences) or bool(report.conflicts)
            else:
                found = await verify(source, dest, prefix=args.prefix, dest_prefix=args.dest_prefix, hidden=args.hidden)
                differences = found
                out = _verify_only_report(found)
                failed = bool(found)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    for difference in differences[:SHOWN]:
        print(f"difference: {difference}", file=sys.stderr)
    if len(differences) > SHOWN:
        print(f"... and {len(differences) - SHOWN:,} more differences (all in the JSON report)", file=sys.stderr)
    if "note" in out:  # last, where a reader of the terminal sees it
        print(out.get("hint", f"{out['note']}; {out['v2_keys']:,} v2 keys compared"), file=sys.stderr)
    print(json.dumps(out, indent=2))
    return 1 if failed else 0


def _mode(args: argparse.Namespace) -> str:
    mode = "dry run" if args.dry_run else "copy"
    if args.follow:
        mode += " + follow"
    return mode + " + verify" if args.verify else mode


def _verify_only_report(found: Differences) -> dict[str, Any]:
    """The report of a ``--verify`` run without ``--copy``: it says that nothing was copied."""
    note = "verify only: nothing was copied by this run (copy, then compare: --copy --verify)"
    out: dict[str, Any] = {
        "mode": "verify only",
        "note": note,
        "keys_copied": 0,
        "v2_keys": found.v2_keys,
        "missing_in_v3": found.missing,
        "expired_while_verifying": found.expired,
        "differences": [str(d) for d in found],
    }
    if found.v2_keys and found.missing * 2 >= found.v2_keys:
        out["hint"] = (
            f"nothing was copied by this run; {found.missing:,} of {found.v2_keys:,} v2 keys are missing in v3: "
            "did you mean --copy --verify?"
        )
    return out


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(list(argv))
    try:
        return asyncio.run(_run(args))
    except UsageError as exc:
        print(f"Error:  {exc}", file=sys.stderr)
        return 2
    except EtcdConnectionFailed as exc:
        print(f"Error:  {exc}", file=sys.stderr)
        return 3
    except ImportError as exc:  # --to-transport grpc without the grpc extra
        print(f"Error:  {exc}", file=sys.stderr)
        return 2
    except (EtcdException, ValueError) as exc:
        print(f"Error:  {exc}", file=sys.stderr)
        return 4
