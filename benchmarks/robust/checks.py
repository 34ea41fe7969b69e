"""The checks of a robustness run, on recorded histories (no etcd needed: the self-test feeds them).

Each check returns a :class:`Verdict`: how many things it looked at and the
violations it found (each a short dict, the evidence).

- :func:`linearizable`: the key-value calls, by porcupine (``tools/porcupine``);
- :func:`watch_v3` / :func:`watch_keys`: etcd's watch guarantees per watcher:
  *ordered* (revisions only increase), *unique* (no event twice), *atomic* (all
  events of a revision, together), *reliable* (no event missing between the
  first and the last delivered), *resumable* (reopened at the next revision,
  no gap or repeat at the seam) and *progress* (the watch's revision is never
  ahead of an event not yet delivered);
- :func:`writes`: every event is the effect of one recorded call, applied
  once (a write applied twice, "replayed", shows as a value seen twice), at the
  revision its call returned;
- :func:`stale_reads`: serializable / non-quorum reads return a state that existed;
- :func:`appends`: in-order keys are unique and follow real-time order;
- :func:`fenced`: a write fenced by a lock happened only while its lock was held.
"""

from __future__ import annotations

import bisect
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "tools" / "porcupine" / "build.sh"
MODEL_OPS = {"put", "get", "delete", "cas"}
EXAMPLES = 5


@dataclass
class Verdict:
    checked: int = 0
    violations: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0
    note: str = ""

    def add(self, **evidence: Any) -> None:
        self.count += 1
        if len(self.violations) < EXAMPLES:
            self.violations.append(evidence)

    @property
    def ok(self) -> bool:
        return self.count == 0

    def as_dict(self) -> dict[str, Any]:
        out = {"ok": self.ok, "checked": self.checked, "violations": self.count, "examples": self.violations}
        if self.note:
            out["note"] = self.note
        return out


# -- linearizability -------------------------------------------------------------------------


def porcupine_binary() -> str:
    """Build (once) and return the porcupine checker."""
    done = subprocess.run([str(BUILD)], capture_output=True, text=True, timeout=600, check=True)
    return done.stdout.strip().splitlines()[-1]


def model_history(records: Sequence[dict[str, Any]], applied: set[str] | None = None) -> list[dict[str, Any]]:
    """The calls porcupine checks: key-value calls that returned, and writes whose outcome is unknown.

    :param applied: the values seen in the complete event history, when there
        is one: a write of unknown outcome whose value is not there never
        happened, and is left out (as etcd's robustness test does).
    """
    ops = []
    for rec in records:
        if rec["op"] not in MODEL_OPS:
            continue
        op = {k: rec[k] for k in ("client", "key", "op", "value", "expect", "call")}
        if rec["outcome"] == "ok":
            op["return"] = rec["return"]
            op["out"] = rec["out"]
        elif rec["outcome"] == "unknown" or (rec["outcome"] is None and rec["op"] != "get"):
            if rec["op"] in ("put", "cas") and applied is not None and rec["value"] not in applied:
                continue
            op["return"] = None
            op["out"] = None
        else:
            continue  # a failed read
        ops.append(op)
    return ops


def _porcupine(binary: str, ops: list[dict[str, Any]], html: str | None = None, timeout: int = 60) -> dict[str, Any]:
    args = [binary, "-timeout", f"{timeout}s"] + (["-html", html] if html else [])
    done = subprocess.run(args, input=json.dumps(ops), capture_output=True, text=True, timeout=timeout * 20 + 60)
    if done.returncode not in (0, 1, 2):
        raise RuntimeError(f"the porcupine checker failed: {done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _smallest_illegal(binary: str, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The shortest prefix (by call time) of one key's calls that is already not linearizable; its tail."""
    ops = sorted(ops, key=lambda op: op["call"])
    lo, hi = 1, len(ops)
    while lo < hi:
        mid = (lo + hi) // 2
        cut = ops[mid - 1]["call"]
        prefix = [op if (op["return"] or 0) <= cut else {**op, "return": None, "out": None} for op in ops[:mid]]
        if _porcupine(binary, prefix, timeout=10)["result"] == "Illegal":
            hi = mid
        else:
            lo = mid + 1
    tail = ops[max(0, lo - 8) : lo]
    # the calls that wrote the values the tail read, when they are older than the tail
    read = {(op["out"] or {}).get("value") for op in tail} - {op["value"] for op in tail}
    tail = [op for op in ops[: max(0, lo - 8)] if op["value"] in read] + tail
    t0 = tail[-1]["call"]
    return [
        {
            "client": op["client"],
            "op": op["op"],
            "value": op["value"],
            "expect": op["expect"],
            "ms": [
                round((op["call"] - t0) / 1e6, 1),
                None if op["return"] is None else round((op["return"] - t0) / 1e6, 1),
            ],
            "out": op["out"],
        }
        for op in tail
    ]


def linearizable(
    records: Sequence[dict[str, Any]],
    binary: str,
    *,
    applied: set[str] | None = None,
    html: str | None = None,
) -> Verdict:
    ops = model_history(records, applied)
    verdict = Verdict(checked=len(ops))
    result = _porcupine(binary, ops, html)
    for key in result["illegal"]:
        on_key = [op for op in ops if op["key"] == key]
        verdict.add(key=key, calls=_smallest_illegal(binary, on_key))
    if result["unknown"]:
        verdict.note = f"porcupine timed out on {result['unknown']}"
    return verdict


# -- watches ---------------------------------------------------------------------------------


def _watch(rows: Sequence[Any], reference: Sequence[tuple[Any, ...]], start: int) -> dict[str, Verdict]:
    """The watch properties of one watcher's rows against the complete, ordered event list.

    ``rows``: ``(revision, key, type, value, progress)`` per delivered event,
    ``None`` where the watch was (re)opened; ``reference``: ``(revision, key,
    type, value)`` of every change, in order.
    """
    out = {name: Verdict() for name in ("ordered", "unique", "atomic", "reliable", "resumable", "progress")}
    position = {(r[0], r[1], r[2]): i for i, r in enumerate(reference)}
    revisions = [r[0] for r in reference]
    first = bisect.bisect_left(revisions, start)
    seen: set[int] = set()
    last = first - 1  # the reference position of the last event delivered
    at_seam = resync = False
    cleared = 0  # events a v2 watch could not get: etcd had forgotten them (a snapshot came instead)
    for row in rows:
        if row is None:
            at_seam = True
            out["resumable"].checked += 1
            continue
        if row == "resync":
            resync = True
            continue
        revision, key, kind, value, progress = row
        pos = position.get((revision, key, kind))
        out["ordered"].checked += 1
        out["unique"].checked += 1
        if pos is None or (value is not None and kind != "DELETE" and reference[pos][3] not in (value, None)):
            out["reliable"].add(what="an event that never happened", event=row[:4])
            continue
        if pos in seen:
            out["unique"].add(what="delivered twice", event=row[:4])
            if at_seam:
                out["resumable"].add(what="repeated an event after reopening", event=row[:4])
        elif pos < last:
            out["ordered"].add(what="delivered after a later event", event=row[:4], after=reference[last][:3])
        elif pos > last + 1:
            missing = [reference[i][:3] for i in range(last + 1, pos) if i not in seen]
            if missing and resync:
                cleared += len(missing)
            elif missing:
                if revisions[last + 1] == revision or (last >= 0 and revisions[last] == revisions[last + 1]):
                    out["atomic"].add(what="part of a revision's events", missing=missing[:3], before=row[:4])
                out["reliable"].add(what="events skipped", missing=missing[:3], count=len(missing), before=row[:4])
                if at_seam:
                    out["resumable"].add(what="a gap where the watch was reopened", missing=missing[:3])
        at_seam = resync = False
        seen.add(pos)
        last = max(last, pos)
        out["reliable"].checked += 1
        out["atomic"].checked += 1
        if progress is not None:
            out["progress"].checked += 1
            upto = bisect.bisect_right(revisions, progress)  # reference events at or below the progress revision
            pending = [reference[i][:3] for i in range(first, upto) if i not in seen]
            if pending:
                out["progress"].add(
                    what="the watch's revision is ahead of an event not delivered yet",
                    revision=progress,
                    delivered=row[:3],
                    undelivered=pending[:3],
                )
    if cleared:
        out["reliable"].note = f"{cleared} events not delivered after etcd cleared them (v2's 1000-event history)"
    if last >= 0 and last + 1 < len(reference) and revisions[last + 1] == revisions[last]:
        out["atomic"].add(what="the watch ended inside a revision", missing=reference[last + 1][:3])
    return out


def _merge(into: dict[str, Verdict], more: dict[str, Verdict]) -> None:
    for name, verdict in more.items():
        total = into.setdefault(name, Verdict())
        total.checked += verdict.checked
        total.count += verdict.count
        total.violations += verdict.violations[: max(0, EXAMPLES - len(total.violations))]
        total.note = "; ".join(n for n in (total.note, verdict.note) if n)


def watch_v3(
    watched: Sequence[Sequence[Any]], reference: Sequence[tuple[Any, ...]], starts: Sequence[int]
) -> dict[str, Verdict]:
    """Every v3 watcher's rows against the complete history read at the end."""
    out: dict[str, Verdict] = {}
    for rows, start in zip(watched, starts, strict=True):
        _merge(out, _watch(rows, reference, start))
    return out


def union_v2(
    watched: Sequence[Sequence[Any]], records: Sequence[dict[str, Any]]
) -> tuple[list[tuple[Any, ...]], Verdict]:
    """v2 has no complete history to read at the end: the union of what the watchers saw, plus
    the acknowledged writes, is the reference; watchers that disagree on an index are a violation."""
    agree = Verdict()
    events: dict[int, tuple[Any, ...]] = {}
    for rows in watched:
        for row in rows:
            if not isinstance(row, tuple):
                continue
            agree.checked += 1
            event = (row[0], row[1], row[2], row[3])
            held = events.setdefault(row[0], event)
            if held != event:
                agree.add(what="two watchers saw different events at one index", one=held, other=event)
    for rec in records:
        rev = (rec["out"] or {}).get("rev") if rec["outcome"] == "ok" else None
        if rec["op"] in ("put", "cas", "append") and rev and rev not in events:
            key = rec["out"].get("key", rec["key"])
            events[rev] = (rev, key, "?", rec["value"])  # acknowledged, delivered to nobody
    return [events[index] for index in sorted(events)], agree


def watch_keys(
    watched: Sequence[Sequence[Any]], records: Sequence[dict[str, Any]], starts: Sequence[int]
) -> dict[str, Verdict]:
    """The v2 watchers (``watch_iter``), each against the union of all of them."""
    reference, agree = union_v2(watched, records)
    by_index = {r[0]: r for r in reference}
    out: dict[str, Verdict] = {}
    for rows, start in zip(watched, starts, strict=True):
        # v2 events are one per index: match on the index (the reference's own type for "?" rows)
        normal = [
            row if not isinstance(row, tuple) else (row[0], *by_index.get(row[0], row)[1:3], row[3], None)
            for row in rows
        ]
        _merge(out, _watch(normal, reference, start))
    out["agreement"] = agree
    out["atomic"].note = out["progress"].note = "n/a: v2 has one event per index and no progress revision"
    return out


# -- writes, reads, appends, locks -------------------------------------------------------------


def events_of(reference: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [r for r in reference if r[2] not in ("DELETE", "delete", "expire", "compareAndDelete")]


def writes(records: Sequence[dict[str, Any]], reference: Sequence[tuple[Any, ...]]) -> Verdict:
    """Each value written is applied at most once, by a call that wrote it, at the revision it returned."""
    verdict = Verdict()
    calls: dict[str, dict[str, Any]] = {}
    for rec in records:
        if rec["op"] in ("put", "cas", "append", "fenced-put"):
            calls[rec["value"]] = rec
    applied: dict[str, tuple[Any, ...]] = {}
    for event in events_of(reference):
        value = event[3]
        if value is None or event[1].endswith(("/start", "/end")) or "/lock/" in event[1]:
            continue
        verdict.checked += 1
        rec = calls.get(value)
        if value in applied:
            verdict.add(what="a write applied twice (replayed)", value=value, first=applied[value][:3], again=event[:3])
            continue
        applied[value] = event
        if rec is None:
            verdict.add(what="a value no call wrote", event=event)
            continue
        rev = (rec["out"] or {}).get("rev") if rec["outcome"] == "ok" else None
        if rec["outcome"] == "ok" and rec["op"] == "cas" and not rec["out"].get("ok"):
            verdict.add(what="a compare-and-swap that said it failed was applied", event=event[:3], call=_brief(rec))
        elif rev and rev != event[0]:
            verdict.add(what="applied at another revision than the call returned", event=event[:3], call=_brief(rec))
    for rec in records:
        ok_write = rec["outcome"] == "ok" and rec["op"] in ("put", "append")
        ok_write |= rec["outcome"] == "ok" and rec["op"] in ("cas", "fenced-put") and bool(rec["out"].get("ok"))
        if ok_write and rec["value"] not in applied:
            verdict.add(what="an acknowledged write is not in the history", call=_brief(rec))
    return verdict


def _brief(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: rec.get(k) for k in ("client", "op", "key", "value", "expect", "outcome", "out", "error")}


def stale_reads(records: Sequence[dict[str, Any]], reference: Sequence[tuple[Any, ...]]) -> Verdict:
    """A serializable (stale) read returns a value that was written, at the revision it was written."""
    verdict = Verdict()
    put_at = {(r[0], r[1]): r[3] for r in events_of(reference)}
    for rec in records:
        if rec["op"] != "stale-get" or rec["outcome"] != "ok" or not rec["out"].get("exists"):
            continue
        verdict.checked += 1
        out = rec["out"]
        if put_at.get((out["rev"], rec["key"])) != out["value"]:
            verdict.add(what="a read returned a state that never existed", call=_brief(rec))
    return verdict


def appends(records: Sequence[dict[str, Any]]) -> Verdict:
    """In-order keys (``append=True``) are unique and ordered like the calls that made them."""
    verdict = Verdict()
    done = sorted((rec for rec in records if rec["op"] == "append" and rec["outcome"] == "ok"), key=lambda r: r["call"])
    names: dict[str, dict[str, Any]] = {}
    for rec in done:
        verdict.checked += 1
        name = rec["out"]["key"]
        if name in names:
            verdict.add(what="two appends made one key", key=name, calls=[_brief(names[name]), _brief(rec)])
        names[name] = rec
    by_return = sorted(done, key=lambda r: r["return"])
    latest: dict[str, Any] | None = None  # the call with the largest key among those that returned
    j = 0
    for rec in done:
        while j < len(by_return) and by_return[j]["return"] < rec["call"]:
            if latest is None or by_return[j]["out"]["key"] > latest["out"]["key"]:
                latest = by_return[j]
            j += 1
        if latest is not None and rec["out"]["key"] <= latest["out"]["key"]:
            verdict.add(
                what="an append got a key below one made before it began", earlier=_brief(latest), later=_brief(rec)
            )
    return verdict


def fenced(records: Sequence[dict[str, Any]], reference: Sequence[tuple[Any, ...]], lock: str, key: str) -> Verdict:
    """Every write to ``key`` fenced by the lock ``lock`` happened while its writer held the lock:
    its lock key (``<lock key>|<value>``) existed and was the oldest under the lock's prefix."""
    verdict = Verdict()
    waiting: dict[str, int] = {}  # lock keys existing now -> their creation revision
    for revision, name, kind, value in (r[:4] for r in reference):
        if name.startswith(lock + "/"):
            if kind == "DELETE":
                waiting.pop(name, None)
            else:
                waiting.setdefault(name, revision)
        elif name == key and kind != "DELETE":
            verdict.checked += 1
            holder = min(waiting, key=lambda k: waiting[k]) if waiting else None
            if value.split("|", 1)[0] != holder:
                verdict.add(
                    what="a fenced write while the lock was not held", revision=revision, value=value, holder=holder
                )
    return verdict
