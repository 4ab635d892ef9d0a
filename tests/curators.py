"""Simulated curators saving decisions at once, through the review app's own store path.

Shared by tests/test_curators.py (seconds) and benchmarks/bench_curators.py (minutes). The app
holds one `Store` (one DuckDB connection) per server and gives each browser session a
`session_view()` (its own cursor); a Review-page button reads the video's rows with
`review_rows` and calls `record_decision(..., expected_version=row["version"])` with the
version it showed (ui/review_actions.py `decide`). Each simulated curator is one thread doing
exactly that on the same few sentences, so their writes overlap all the time.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from aligner.errors import AlignerError, StoreBusyError
from aligner.store import Store
from aligner.store.review import StaleWriteError

VIDEO_ID = "busy_video"
N_SENTENCES = 12
ACTIONS = ("accept", "correct", "not_alignable", "skip")
UNDO_SHARE = 0.05  # share of clicks that are "undo my last decision"
THINK_S = (0.0, 0.02)  # pause between one curator's clicks (uniform)


def make_store(path: Path) -> None:
    """A store with one video of `N_SENTENCES` sentences, 5 s each."""
    with Store(path) as store:
        store.upsert_video(VIDEO_ID, path=f"videos/{VIDEO_ID}.mp4", status="ok", duration=120.0)
        store.replace_sentences(
            VIDEO_ID,
            [
                (5.0 * i, 5.0 * i + 4.0, f"step {i + 1} of the busy video")
                for i in range(N_SENTENCES)
            ],
        )


@dataclass
class Outcomes:
    """What every curator saw; shared by the threads (appends are atomic in CPython)."""

    saved: list[tuple[int, int, str, str]] = field(
        default_factory=list
    )  # sid, version, who, action
    undone: list[tuple[int, int, str]] = field(default_factory=list)  # sid, version, who
    stale: list[str] = field(default_factory=list)  # messages
    busy: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # any other AlignerError
    raw: list[str] = field(default_factory=list)  # exceptions that are not AlignerError
    latency_s: list[float] = field(default_factory=list)  # every save attempt


def curator(view, name: str, deadline: float, out: Outcomes, seed: int) -> None:
    """One curator clicking through the video until `deadline` (time.monotonic)."""
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        try:
            _click(view, name, rng, out)
        except AlignerError as err:
            out.other.append(str(err))
        except Exception as err:  # a raw duckdb error reaching the page
            out.raw.append(f"{type(err).__name__}: {err}")
        time.sleep(rng.uniform(*THINK_S))


def _click(view, name: str, rng: random.Random, out: Outcomes) -> None:
    if rng.random() < UNDO_SHARE:
        sid = view.last_decision_by(name, VIDEO_ID)
        if sid is not None:
            version = _timed(out, lambda: view.undo_last(sid, curator=name))
            if version is not None:
                out.undone.append((sid, version, name))
        return
    row = rng.choice(view.review_rows(VIDEO_ID, None))  # what the page shows, with its version
    action = rng.choice(ACTIONS)
    kwargs: dict = {}
    if action == "correct":
        kwargs = {"start": row["asr_start"] + 0.5, "end": row["asr_end"] + 1.0}
    elif action == "not_alignable":
        kwargs = {"reason": "talking_head"}
    sid = row["sentence_id"]
    try:
        version = _timed(out, lambda: view.record_decision(
            sid, action=action, curator=name, expected_version=row["version"], **kwargs))  # fmt: skip
    except StaleWriteError as err:
        out.stale.append(str(err))
        return
    except StoreBusyError as err:
        out.busy.append(str(err))
        return
    out.saved.append((sid, version, name, action))


def _timed(out: Outcomes, call):
    started = time.perf_counter()
    try:
        return call()
    finally:
        out.latency_s.append(time.perf_counter() - started)


def run_load(path: Path, n_curators: int, seconds: float, *, seed: int = 0) -> Outcomes:
    """`n_curators` threads on one shared store for `seconds`; returns what they saw."""
    out = Outcomes()
    store = Store(path)  # the app's one connection per server
    try:
        deadline = time.monotonic() + seconds
        threads = [
            threading.Thread(
                target=curator,
                args=(store.session_view(), f"curator{i}", deadline, out, seed * 1000 + i),
            )  # fmt: skip
            for i in range(n_curators)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        store.close()
    return out


def audit(path: Path, out: Outcomes) -> list[str]:
    """Problems in the store after the load: accepted writes missing from `label_events`, events
    nobody was told about, versions reused, labels that disagree with their last event."""
    with Store(path, read_only=True) as store:
        events = store.query_dicts(
            "SELECT sentence_id, version, curator, action FROM label_events ORDER BY event_id"
        )
        labels = {r["sentence_id"]: r["version"] for r in store.current_labels(VIDEO_ID)}
    problems = []
    logged = {(e["sentence_id"], e["version"], e["curator"], e["action"]) for e in events}
    told = {*out.saved, *((s, v, c, "undo") for s, v, c in out.undone)}
    missing = told - logged
    if missing:
        problems.append(f"{len(missing)} accepted writes not in label_events, e.g. {min(missing)}")
    if len(events) != len(told):
        problems.append(f"{len(events)} label_events for {len(told)} accepted writes")
    versions = [(e["sentence_id"], e["version"]) for e in events]
    if len(versions) != len(set(versions)):
        problems.append("two events share a sentence version")
    newest = {}
    for e in events:
        newest[e["sentence_id"]] = e["version"]
    stale_labels = [sid for sid, version in labels.items() if version != newest.get(sid)]
    if stale_labels:
        problems.append(f"labels behind their newest event: {stale_labels}")
    return problems


def percentiles_ms(values: list[float]) -> dict[str, float]:
    """p50 / p95 / p99 / max of latencies, in milliseconds."""
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": at(1.0)}
