"""Made-up stores for the review app's tests and benchmark.

`make_demo_dataset(root)` writes real H.264 mp4s (ffmpeg test pattern + tone), stores videos,
sentences, a finished "tan" run with predictions, and the K×T similarity matrices, as ingest and
predict would. `fill_benchmark_rows(store, n)` adds many synthetic sentences + predictions in
SQL. Nothing is downloaded.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from aligner.similarity import save_similarity
from aligner.store import Store
from aligner.workspace import Workspace, open_workspace

WORDS = ("open the lid", "cut the board", "now we sand it", "thanks for watching",
         "mix the flour", "paint the edge", "talk to you soon", "clamp it tight")  # fmt: skip


def make_video(path: Path, duration_s: float, *, size: str = "320x180", fps: int = 10) -> None:
    """An H.264 + AAC mp4 of ffmpeg's test pattern, a keyframe every 2 s."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={size}:rate={fps}",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-t", f"{duration_s}",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(2 * fps),
           "-c:a", "aac", "-shortest", str(path)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)


def make_demo_dataset(
    root: Path,
    *,
    n_videos: int = 2,
    duration_s: float = 20.0,
    sentences_per_video: int = 4,
    seed: int = 0,
) -> Workspace:
    """Write `root/videos/*.mp4` and a populated store; returns the workspace."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    ws = open_workspace(root)
    with Store(ws.db_path) as store:
        run_id = store.start_run("predict", model="tan")
        for v in range(n_videos):
            video_id = f"demo{v}"
            make_video(root / "videos" / f"{video_id}.mp4", duration_s)
            store.upsert_video(video_id, path=f"videos/{video_id}.mp4", duration=duration_s,
                               fps=10.0, width=320, height=180, status="ok")  # fmt: skip
            step = duration_s / sentences_per_video
            sentences = [(round(i * step, 1), round(i * step + step * 0.8, 1),
                          WORDS[(v + i) % len(WORDS)] + f" ({i})")
                         for i in range(sentences_per_video)]  # fmt: skip
            ids = store.replace_sentences(video_id, sentences)
            preds, sim = _predictions(ids, sentences, duration_s, rng)
            store.save_predictions(run_id, preds)
            save_similarity(ws, run_id, video_id, sim)
        store.finish_run(run_id)
    return ws


def _predictions(ids, sentences, duration_s, rng) -> tuple[list[dict], np.ndarray]:
    """Predictions shifted 0-3 s from the ASR time, and a K×T similarity peaking there."""
    T = int(duration_s)
    sim = rng.normal(0, 0.1, size=(len(ids), T))
    rows = []
    for k, (sid, (start, end, _)) in enumerate(zip(ids, sentences, strict=True)):
        shift = float(rng.uniform(0, 3))
        p_start, p_end = min(start + shift, duration_s - 1), min(end + shift, duration_s)
        peak = (p_start + p_end) / 2
        sim[k] += np.exp(-((np.arange(T) - peak) ** 2) / 4)
        rows.append({"sentence_id": sid, "alignability": float(rng.uniform(0.2, 0.95)),
                     "start": round(p_start, 2), "end": round(p_end, 2), "peak": round(peak, 1),
                     "dual_alignability": float(rng.uniform(0.2, 0.95)),
                     "dual_peak": round(peak + rng.normal(0, 2), 1)})  # fmt: skip
    return rows, sim


def fill_benchmark_rows(store: Store, n_sentences: int, *, per_video: int = 600) -> str:
    """`n_sentences` synthetic sentences + predictions, built in SQL (fast for millions).

    Videos are `bench-<n>` with `per_video` sentences 6 s apart; returns the run id.
    """
    run_id = store.start_run("benchmark", model="tan")
    with store.transaction() as con:
        con.execute(
            "INSERT INTO videos (video_id, path, duration, status)"
            " SELECT 'bench-' || v, 'videos/bench-' || v || '.mp4', ? * 6.0, 'ok'"
            " FROM range(CAST(ceil(? / ?) AS BIGINT)) t(v)",
            [per_video, n_sentences, per_video],
        )
        con.execute(
            'INSERT INTO sentences (video_id, idx, start, "end", text)'
            " SELECT 'bench-' || (i // ?), i % ?, (i % ?) * 6.0, (i % ?) * 6.0 + 4.0,"
            " 'sentence ' || i FROM range(?) t(i)",
            [per_video, per_video, per_video, per_video, n_sentences],
        )
        con.execute(
            'INSERT INTO predictions (run_id, sentence_id, alignability, start, "end", peak,'
            " dual_alignability, dual_peak)"
            ' SELECT ?, sentence_id, hash(sentence_id) % 1000 / 1000.0, start + 1, "end" + 1,'
            " start + 2, hash(sentence_id * 7) % 1000 / 1000.0, start + hash(sentence_id) % 9"
            " FROM sentences WHERE video_id LIKE 'bench-%'",
            [run_id],
        )
    store.finish_run(run_id)
    return run_id
