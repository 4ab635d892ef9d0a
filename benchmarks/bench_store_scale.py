"""The store at HowTo100M size: synthetic sentences + one run's predictions in a real DuckDB file.

Figures (median of `REPEATS` unless said), each beside a reference from the same run:
  queue_first_s     the review queue's first call on a run (computes its doubt cache once)
  queue_s           the review queue afterwards (top 50 undecided by doubt)
  video_page_s      every sentence of one video with prediction + label (`review_rows`)
  save_label_s      one `record_decision`
  export_rows_per_s the partitioned Parquet export (`aligner export --format parquet-partitioned`)
  import_rows_per_s prediction shards (Parquet) into a new run (`aligner import-predictions`)
  file_mb           the DuckDB file
  reference         a bare top-50 over all predictions; a plain COPY of `sentences` to Parquet

    nice .venv/bin/python benchmarks/bench_store_scale.py [--sentences 10000000]
Writes benchmarks/results/store_scale.json (one entry per size).
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aligner.store import Store  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "store_scale.json"
REPEATS = 5
PER_VIDEO = 110  # HowTo100M: ~136M sentences over 1.2M videos


def _median(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _once(fn) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def measure(root: Path, n: int) -> dict:
    db = root / "aligner.duckdb"
    with Store(db) as store:
        fill_s, run_id = _once(lambda: store.fill_benchmark_rows(n, per_video=PER_VIDEO))
        first_s, _ = _once(lambda: store.review_queue(run_id, limit=50))
        queue_s = _median(lambda: store.review_queue(run_id, limit=50))
        top50_s = _median(lambda: store.query(
            "SELECT sentence_id FROM predictions WHERE run_id = ? ORDER BY alignability LIMIT 50",
            [run_id]))  # fmt: skip
        video = f"bench-{(n // PER_VIDEO) // 2}"
        page_s = _median(lambda: store.review_rows(video, run_id))
        ids = [s.sentence_id for s in store.sentences(video)]
        counter = iter(range(10**6))
        save_s = _median(lambda: store.record_decision(ids[next(counter) % len(ids)],
                                                       action="accept", curator="bench"))  # fmt: skip
        export_s, counts = _once(lambda: store.export_partitioned(run_id, root / "export"))
        copy_s, _ = _once(lambda: store.con.execute(
            f"COPY sentences TO '{root / 'sentences.parquet'}' (FORMAT parquet)"))  # fmt: skip
        shard = root / "predictions.parquet"
        store.con.execute(
            "COPY (SELECT s.video_id, s.idx, s.text, p.* EXCLUDE (run_id, sentence_id)"
            " FROM predictions p JOIN sentences s USING (sentence_id) WHERE p.run_id = ?)"
            f" TO '{shard}' (FORMAT parquet)",
            [run_id],
        )
        new_run = store.start_run("predict", model="tan")
        import_s, imported = _once(lambda: store.import_prediction_files(new_run, [shard]))
    return {
        "sentences": n, "videos": -(-n // PER_VIDEO), "fill_s": round(fill_s, 1),
        "queue_first_s": round(first_s, 3), "queue_s": round(queue_s, 4),
        "video_page_s": round(page_s, 4), "save_label_s": round(save_s, 4),
        "export_rows_per_s": round(counts["n_records"] / export_s),
        "export_s": round(export_s, 1), "import_rows_per_s": round(imported["imported"] / import_s),
        "file_mb": round(db.stat().st_size / 2**20, 1),
        "reference": {"top50_predictions_s": round(top50_s, 4),
                      "copy_sentences_rows_per_s": round(n / copy_s)},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, nargs="+", default=[10_000_000])
    parser.add_argument("--tmp", default=None, help="folder for the DuckDB file (needs disk)")
    args = parser.parse_args()
    results = {"load_average": os.getloadavg()[0], "cpus": os.cpu_count(), "sizes": []}
    for n in args.sentences:
        with tempfile.TemporaryDirectory(prefix="bench_store_scale_", dir=args.tmp) as tmp:
            results["sizes"].append(measure(Path(tmp), n))
        print(json.dumps(results["sizes"][-1], indent=1), flush=True)
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
