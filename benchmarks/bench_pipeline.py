"""Whole-pipeline speed: `aligner auto-align` on a generated set (>= 30 videos, >= 1 hour), by stage.

Measured in the same run, on the same files:
  reference_decode_s   `ffmpeg -skip_frame bidir -vf fps=1` over every video to /dev/null: the
                       floor for any pipeline that looks at the video once a second
  stages               ingest (with Whisper for the videos without subtitles), features (default
                       backbones: builtin visual + MiniLM text), train (default epochs), predict;
                       seconds, x realtime and peak RSS of each
  again_s              auto-align once more on the unchanged folder: everything is skipped
  reference_train_default_threads   the train stage again with torch's default thread count
                       (auto-align trains with one thread, see `pipeline.TORCH_THREADS`)
  asr                  Whisper tiny.en int8 on the videos without subtitles, greedy (our default)
                       and beam 5 (faster-whisper's default, the reference), x realtime each
Peak memory is this process's resident set (sampled every 50 ms; `ru_maxrss` for the whole run).

    .venv/bin/python benchmarks/bench_pipeline.py [--videos 30] [--duration 120-125] [--data DIR]

Prints the figures and writes benchmarks/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "pipeline.json"
SAMPLE_EVERY_S = 0.05  # RSS sampling period, seconds
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from aligner.corpus import VIDEO_EXTENSIONS  # noqa: E402


class RssSampler:
    """Resident set size of this process over time, from /proc (no psutil needed)."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []  # (perf_counter, bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.is_set():
            with open("/proc/self/statm") as fh:
                rss = int(fh.read().split()[1]) * page
            self.samples.append((time.perf_counter(), rss))
            time.sleep(SAMPLE_EVERY_S)

    def peak_mb(self, start: float, end: float) -> float:
        inside = [rss for t, rss in self.samples if start <= t <= end]
        return round(max(inside, default=0) / 2**20, 1)


def generate(out: Path, n_videos: int, duration: tuple[float, float]) -> float:
    from aligner.synthetic import generate_dataset

    if (out / "annotations" / "htm_align.json").exists():
        return 0.0  # reuse a set generated before (--data)
    started = time.perf_counter()
    print(generate_dataset(out, n_videos=n_videos, seed=1, duration_s=duration))
    return time.perf_counter() - started


def decode_reference(dataset: Path) -> float:
    videos = sorted(p for p in (dataset / "videos").rglob("*") if p.suffix in VIDEO_EXTENSIONS)
    started = time.perf_counter()
    for path in videos:
        subprocess.run(
            ["ffmpeg", "-v", "error", "-skip_frame", "bidir", "-i", str(path), "-an",
             "-vf", "fps=1,scale=224:-2", "-f", "null", "-"],
            check=True, stderr=subprocess.DEVNULL,  # B-frame skipping makes x264 streams chatty
        )  # fmt: skip
    return time.perf_counter() - started


def run_pipeline(dataset: Path) -> tuple[dict, dict]:
    from aligner.pipeline import STAGES, TORCH_THREADS, auto_align
    from aligner.workspace import open_workspace

    shutil.rmtree(dataset / ".aligner", ignore_errors=True)
    ws = open_workspace(dataset)
    with RssSampler() as rss:
        first = auto_align(ws, progress=False)
    print(first)
    again = auto_align(ws, progress=False)
    video_s = first.video_seconds
    stages = {
        name: {
            "seconds": round(first.timings[name], 2),
            "x_realtime": round(video_s / first.timings[name], 1) if first.timings[name] else None,
            "peak_rss_mb": rss.peak_mb(*first.spans[name]),
        }
        for name in STAGES
    }
    overall = {
        "videos": first.videos, "sentences": first.sentences, "video_s": round(video_s, 1),
        "share_alignable": first.share_alignable, "total_s": round(first.timings["total"], 2),
        "x_realtime": round(first.realtime, 2), "again_s": round(again.timings["total"], 2),
        "again_recomputed": again.predicted or again.checkpoint_origin != "reused",
        "peak_rss_mb": rss.peak_mb(0, float("inf")), "torch_threads": TORCH_THREADS,
    }  # fmt: skip
    return overall, stages


def train_default_threads(dataset: Path) -> dict:
    """The train stage again with torch's own thread count (auto-align limits it to
    `pipeline.TORCH_THREADS`): the reference for that setting."""
    import torch

    from aligner.tan.train import train_dataset
    from aligner.workspace import open_workspace

    threads = torch.get_num_threads()
    started, cpu = time.perf_counter(), time.process_time()
    train_dataset(open_workspace(dataset), out=Path(tempfile.mkdtemp()) / "ref.pt", progress=False)
    return {"torch_threads": threads, "seconds": round(time.perf_counter() - started, 2),
            "cpu_s": round(time.process_time() - cpu, 2)}  # fmt: skip


def bench_asr(dataset: Path) -> dict:
    """Whisper tiny.en int8 on the videos that have no subtitles, greedy vs beam 5."""
    from aligner import asr
    from aligner.store import Store

    with Store(dataset / ".aligner" / "aligner.duckdb", read_only=True) as store:
        rows = [v for v in store.videos() if v["subtitle_source"] == "asr"]
    videos = [dataset / v["path"] for v in rows]
    seconds = sum(v["duration"] for v in rows)
    asr.transcribe(videos[0], beam_size=1)  # load the model once, outside the timings
    row = {"videos": len(videos), "audio_s": round(seconds, 1), "model": asr.model_id(None),
           "compute_type": asr.COMPUTE_TYPE}  # fmt: skip
    for beam in (1, 5):
        started = time.perf_counter()
        words = sum(len(c.words) for p in videos for c in asr.transcribe(p, beam_size=beam))
        took = time.perf_counter() - started
        row[f"beam{beam}"] = {"seconds": round(took, 2), "x_realtime": round(seconds / took, 1),
                              "words": words}  # fmt: skip
    row["greedy_speedup_vs_beam5"] = round(row["beam5"]["seconds"] / row["beam1"]["seconds"], 2)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--videos", type=int, default=30)
    p.add_argument("--duration", default="120-125", help="seconds per video, LOW-HIGH")
    p.add_argument("--data", type=Path, default=None, help="keep / reuse the generated set here")
    args = p.parse_args()
    low, _, high = args.duration.partition("-")
    duration = (float(low), float(high or low))
    tmp = None
    dataset = args.data
    if dataset is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_pipeline_")
        dataset = Path(tmp.name) / "generated"
    try:
        generate_s = generate(dataset, args.videos, duration)
        decode_s = decode_reference(dataset)
        overall, stages = run_pipeline(dataset)
        train_ref = train_default_threads(dataset)
        asr_row = bench_asr(dataset)
    finally:
        if tmp is not None:
            tmp.cleanup()
    result = {
        "benchmark": "pipeline",
        "machine": f"{platform.machine()} {platform.python_version()}",
        "cpus": os.cpu_count(),
        "dataset": f"generated {args.videos} videos x {args.duration} s (seed 1)",
        "generate_s": round(generate_s, 1),
        "reference_decode_s": round(decode_s, 2),
        "reference_decode_x_realtime": round(overall["video_s"] / decode_s, 1),
        "pipeline": overall,
        "stages": stages,
        "pipeline_vs_decode": round(overall["total_s"] / decode_s, 2),
        "reference_train_default_threads": train_ref,
        "train_speedup_vs_default_threads": round(
            train_ref["seconds"] / stages["train"]["seconds"], 1
        ),
        "asr": asr_row,
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
