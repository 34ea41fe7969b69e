"""The robustness run's checkers catch what they are for: fed made-up histories, no etcd needed.

A clean history passes; a dropped, doubled or reordered event, an event
delivered after the watch's revision passed it, half a transaction, a gap or
repeat where a watch was reopened, and a write applied twice (replayed) are
each caught.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from robust import checks

# (revision, key, type, value): revision 6 is a transaction that put two keys.
REFERENCE = [
    (2, "/rb/start", "PUT", "0"),
    (3, "/rb/k0", "PUT", "w0.1"),
    (4, "/rb/k1", "PUT", "w1.1"),
    (5, "/rb/k0", "DELETE", ""),
    (6, "/rb/k0", "PUT", "w2.1a"),
    (6, "/rb/k1", "PUT", "w2.1b"),
    (7, "/rb/k1", "PUT", "w0.2"),
    (8, "/rb/k0", "PUT", "w1.2"),
]


def rows(events: list[Any]) -> list[Any]:
    """Watcher rows: each event with the watch's revision as a correct client shows it (the
    revision before the event's own, unless the event completes its revision)."""
    out: list[Any] = [None]
    for i, (rev, key, kind, value) in enumerate(events):
        done = i + 1 == len(events) or events[i + 1][0] != rev
        out.append((rev, key, kind, value, rev if done else rev - 1))
    return out


def violated(found: dict[str, checks.Verdict]) -> set[str]:
    return {name for name, verdict in found.items() if not verdict.ok}


def test_a_clean_watch_passes() -> None:
    found = checks.watch_v3([rows(REFERENCE)], REFERENCE, [2])
    assert violated(found) == set()
    assert found["reliable"].checked == len(REFERENCE)


def test_a_dropped_event_is_caught() -> None:
    events = REFERENCE[:3] + REFERENCE[4:]
    found = checks.watch_v3([rows(events)], REFERENCE, [2])
    assert "reliable" in violated(found)
    assert found["reliable"].violations[0]["missing"] == [(5, "/rb/k0", "DELETE")]


def test_a_doubled_event_is_caught() -> None:
    found = checks.watch_v3([rows(REFERENCE[:4] + REFERENCE[3:])], REFERENCE, [2])
    assert violated(found) == {"unique"}


def test_a_reordered_event_is_caught() -> None:
    events = list(REFERENCE)
    events[2], events[3] = events[3], events[2]
    found = checks.watch_v3([rows(events)], REFERENCE, [2])
    assert "ordered" in violated(found)


def test_half_a_transaction_is_caught() -> None:
    found = checks.watch_v3([rows(REFERENCE[:5] + REFERENCE[6:])], REFERENCE, [2])
    assert {"atomic", "reliable"} <= violated(found)


def test_a_progress_revision_ahead_of_delivered_events_is_caught() -> None:
    ahead = rows(REFERENCE)
    rev, key, kind, value, _ = ahead[5]  # the first event of revision 6, with the revision already at 6
    ahead[5] = (rev, key, kind, value, 6)
    found = checks.watch_v3([ahead], REFERENCE, [2])
    assert violated(found) == {"progress"}
    assert found["progress"].violations[0]["undelivered"] == [(6, "/rb/k1", "PUT")]


def test_a_gap_or_a_repeat_where_the_watch_was_reopened_is_caught() -> None:
    gap = rows(REFERENCE[:3]) + rows(REFERENCE[4:])
    assert {"resumable", "reliable"} <= violated(checks.watch_v3([gap], REFERENCE, [2]))
    repeat = rows(REFERENCE[:3]) + rows(REFERENCE[2:])
    assert {"resumable", "unique"} <= violated(checks.watch_v3([repeat], REFERENCE, [2]))
    seam = rows(REFERENCE[:3]) + rows(REFERENCE[3:])
    assert violated(checks.watch_v3([seam], REFERENCE, [2])) == set()


def test_v2_watches_are_checked_against_each_other() -> None:
    v2 = [(rev, key, "delete" if kind == "DELETE" else "set", value) for rev, key, kind, value in REFERENCE[:5]]
    whole = [None] + [(*event, None) for event in v2]
    dropped = [None] + [(*event, None) for event in v2 if event[0] != 4]
    doubled = [*whole, whole[-1]]
    assert violated(checks.watch_keys([whole, whole], [], [2, 2])) == set()
    assert "reliable" in violated(checks.watch_keys([whole, dropped], [], [2, 2]))
    assert "unique" in violated(checks.watch_keys([whole, doubled], [], [2, 2]))
    other = [None] + [(*event[:3], "forged", None) if event[0] == 3 else (*event, None) for event in v2]
    assert "agreement" in violated(checks.watch_keys([whole, other], [], [2, 2]))


def call(client: int, op: str, name: str, start: int, end: int | None, written: str = "", **out: Any) -> dict[str, Any]:
    """One recorded call; ``out`` is what it returned (``end`` None: no answer, outcome unknown)."""
    return {
        "client": client,
        "op": op,
        "key": name,
        "value": written,
        "expect": "",
        "call": start,
        "return": end,
        "outcome": "ok" if end is not None else "unknown",
        "out": out if end is not None else None,
        "error": None,
    }


# Client 0 writes v1 (a first attempt hangs at a paused member), then v2; the
# stalled copy of v1 is applied afterwards: a replayed write, a lost update.
REPLAYED = [
    call(0, "put", "/rb/k0", 10, 20, "v1", rev=3),
    call(1, "put", "/rb/k0", 30, 40, "v2", rev=4),
    call(2, "get", "/rb/k0", 50, 60, exists=True, value="v1", rev=5),
]


def test_a_replayed_write_is_caught_in_the_event_history() -> None:
    reference = [(3, "/rb/k0", "PUT", "v1"), (4, "/rb/k0", "PUT", "v2"), (5, "/rb/k0", "PUT", "v1")]
    verdict = checks.writes(REPLAYED, reference)
    assert verdict.count == 1
    assert verdict.violations[0]["what"] == "a write applied twice (replayed)"
    assert checks.writes(REPLAYED[:2], reference[:2]).ok


@pytest.fixture(scope="module")
def porcupine() -> str:
    if shutil.which("go") is None:
        pytest.skip("the porcupine checker is built with Go (tools/porcupine/build.sh)")
    return checks.porcupine_binary()


@pytest.mark.timeout(600)
def test_a_replayed_write_is_not_linearizable(porcupine: str) -> None:
    verdict = checks.linearizable(REPLAYED, porcupine)
    assert verdict.count == 1
    assert verdict.violations[0]["key"] == "/rb/k0"
    fine = [*REPLAYED[:2], call(2, "get", "/rb/k0", 50, 60, exists=True, value="v2", rev=4)]
    assert checks.linearizable(fine, porcupine).ok


def test_unknown_outcomes_may_or_may_not_happen(porcupine: str) -> None:
    maybe = call(0, "put", "/rb/k0", 10, None, "v1")
    seen = [maybe, call(1, "get", "/rb/k0", 50, 60, exists=True, value="v1", rev=3)]
    unseen = [maybe, call(1, "get", "/rb/k0", 50, 60, exists=False)]
    assert checks.linearizable(seen, porcupine).ok
    assert checks.linearizable(unseen, porcupine).ok
    stale = [
        call(0, "cas", "/rb/k0", 10, 20, "v1", ok=False, exists=False),
        call(1, "put", "/rb/k0", 30, 40, "v2", rev=4),
        call(2, "get", "/rb/k0", 50, 60, exists=False),
    ]
    assert not checks.linearizable(stale, porcupine).ok


def test_stale_reads_appends_and_fenced_writes() -> None:
    reference = [(3, "/rb/k0", "PUT", "v1"), (4, "/rb/lock/a", "PUT", ""), (5, "/rb/fenced", "PUT", "/rb/lock/a|x")]
    good = call(0, "stale-get", "/rb/k0", 1, 2, exists=True, value="v1", rev=3)
    forged = call(0, "stale-get", "/rb/k0", 1, 2, exists=True, value="v9", rev=3)
    assert checks.stale_reads([good], reference).ok
    assert not checks.stale_reads([forged], reference).ok

    first = call(0, "append", "/rb/q", 10, 20, "a", key="/rb/q/00000000000000000007", rev=7)
    later = call(1, "append", "/rb/q", 30, 40, "b", key="/rb/q/00000000000000000006", rev=6)
    assert checks.appends([first]).ok
    assert not checks.appends([first, later]).ok

    assert checks.fenced([], reference, "/rb/lock", "/rb/fenced").ok
    unheld = [*reference[:1], (4, "/rb/lock/b", "PUT", ""), reference[2]]
    assert not checks.fenced([], unheld, "/rb/lock", "/rb/fenced").ok
