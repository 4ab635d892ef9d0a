"""Speed of the review app (issue 6): page render, saving a decision, the doubt queue.

For a 1-hour video with 600 sentences: server time to render the Review page after the first load
(target < 0.5 s), saving a decision (< 100 ms); the queue query over 1M sentences (< 200 ms).
Each figure sits next to a reference measured in the same run: an empty Streamlit script (the
framework's own cost), a bare one-row UPDATE, and a plain top-50 over the same 1M predictions.

    .venv/bin/python benchmarks/bench_review.py [--sentences 1000000] [--video-s 3600]
Writes benchmarks/results/review.json (its "browser" entry, the key press -> next sentence / save
confirmed latencies measured in real Chromium, comes from tests/test_browser.py and is kept).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aligner.store import Store  # noqa: E402
from aligner.workspace import open_workspace  # noqa: E402
from tests.demo_data import fill_benchmark_rows, make_video  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "review.json"
N_SENTENCES_VIDEO = 600
REPEATS = 7  # timed repetitions per figure; the median is reported
TARGETS_S = {"render": 0.5, "decision": 0.1, "queue": 0.2}


def _median_s(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def build_hour_video(root: Path, duration_s: float) -> Path:
    """A dataset with one `duration_s` video, 600 sentences, a tan run and its similarity."""
    make_video(root / "videos" / "long.mp4", duration_s, fps=5)
    ws = open_workspace(root)
    rng = np.random.default_rng(0)
    step = duration_s / N_SENTENCES_VIDEO
    with Store(ws.db_path) as s:
        s.upsert_video("long", path="videos/long.mp4", duration=duration_s, fps=5.0, status="ok")
        ids = s.replace_sentences(
            "long",
            [(i * step, i * step + step * 0.7, f"step {i}") for i in range(N_SENTENCES_VIDEO)],
        )
        run = s.start_run("predict", model="tan")
        shift = rng.uniform(-2, 4, N_SENTENCES_VIDEO)
        s.save_predictions(run, [
            {"sentence_id": sid, "alignability": float(rng.uniform()), "start": i * step + shift[i],
             "end": i * step + step * 0.7 + shift[i], "peak": i * step + shift[i] + 1,
             "dual_alignability": float(rng.uniform()), "dual_peak": i * step}
            for i, sid in enumerate(ids)
        ])  # fmt: skip
        s.finish_run(run)
        sim = rng.normal(size=(N_SENTENCES_VIDEO, int(duration_s))).astype(np.float16)
        np.save(ws.subdir("similarity", run) / "long.npy", sim)
    return root


def bench_render(root: Path, tmp: Path) -> dict:
    from streamlit.testing.v1 import AppTest

    os.environ["ALIGNER_DATASET"] = str(root)
    at = AppTest.from_file(str(REPO / "ui" / "app.py"), default_timeout=300)
    at.session_state["curator"] = "bench"  # signed in (the sign-in form is not timed)
    at.session_state["page"] = "Review"
    at.session_state["goto_sentence"] = None
    t = time.perf_counter()
    at.run()
    first = time.perf_counter() - t
    assert not at.exception, at.exception
    again = _median_s(at.run)
    far = at.session_state["_store"].sentences("long")[300].sentence_id
    at.session_state["goto_sentence"] = far  # never opened: its clip and thumbnails are cut now
    t = time.perf_counter()
    at.run()
    cold_sentence = time.perf_counter() - t
    empty = tmp / "empty_app.py"
    empty.write_text("import streamlit as st\nst.write('hello')\n")
    ref = AppTest.from_file(str(empty))
    ref.run()
    return {
        "first_load_s": first,
        "render_s": again,
        "new_sentence_first_visit_s": cold_sentence,
        "reference_empty_script_s": _median_s(ref.run),
    }


def bench_decision(root: Path) -> dict:
    with Store(open_workspace(root).db_path) as s:
        ids = [r.sentence_id for r in s.sentences("long")]
        it = iter(ids)

        def decide() -> None:
            s.record_decision(next(it), action="accept", curator="bench", expected_version=0)

        s.con.execute("CREATE TEMP TABLE ref (k INTEGER PRIMARY KEY, v DOUBLE)")
        s.con.execute("INSERT INTO ref VALUES (1, 0)")

        def reference():
            with s.transaction() as con:
                con.execute("UPDATE ref SET v = v + 1 WHERE k = 1")

        return {"decision_s": _median_s(decide, 50), "reference_update_s": _median_s(reference, 50)}


def bench_queue(tmp: Path, n: int) -> dict:
    with Store(tmp / "queue.duckdb") as s:
        t = time.perf_counter()
        run = fill_benchmark_rows(s, n)
        fill = time.perf_counter() - t
        t = time.perf_counter()
        s.review_queue(run, limit=50)  # first call of a run: computes its doubt once
        first = time.perf_counter() - t
        queue = _median_s(lambda: s.review_queue(run, limit=50))
        ref = _median_s(lambda: s.query(
            "SELECT sentence_id FROM predictions WHERE run_id = ? ORDER BY alignability LIMIT 50",
            [run]))  # fmt: skip
        return {"n_sentences": n, "fill_s": fill, "queue_first_call_s": first, "queue_s": queue,
                "reference_top50_s": ref}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=1_000_000)
    parser.add_argument("--video-s", type=float, default=3600.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        t = time.perf_counter()
        root = build_hour_video(tmp / "hour", args.video_s)
        print(
            f"built a {args.video_s:.0f} s video with 600 sentences in {time.perf_counter() - t:.1f} s"
        )
        render = bench_render(root, tmp)
        decision = bench_decision(root)
        queue = bench_queue(tmp, args.sentences)
    result = {"video_s": args.video_s, "render": render, "decision": decision, "queue": queue,
              "targets_s": TARGETS_S,
              "meets_targets": {"render": render["render_s"] < TARGETS_S["render"],
                                "decision": decision["decision_s"] < TARGETS_S["decision"],
                                "queue": queue["queue_s"] < TARGETS_S["queue"]}}  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if "browser" in old:  # key-press latencies, written by tests/test_browser.py: kept
        result["browser"] = old["browser"]
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
