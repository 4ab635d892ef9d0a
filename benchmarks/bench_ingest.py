"""Ingest speed: the committed sample and a generated 100-video set.

For each dataset, in the same run:
  reference_read_s     read every file's bytes once (videos, subtitles, caption.json): the
                       floor for anything that looks at all inputs
  reference_ffprobe_s  `ffprobe` on each video (what a shell script would do to probe)
  ingest_first_s       `ingest_dataset` into a fresh store (probe + parse + sentencify + write)
  ingest_again_s       the same again: every video unchanged, so skipped by its input key

    .venv/bin/python benchmarks/bench_ingest.py [--n-videos 100] [--duration 30]

Prints the figures and writes benchmarks/results/ingest.json.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "htm_sample"
RESULTS = REPO / "benchmarks" / "results" / "ingest.json"
sys.path.insert(0, str(REPO))

from aligner.corpus import VIDEO_EXTENSIONS  # noqa: E402
from aligner.ingest import ingest_dataset  # noqa: E402
from aligner.workspace import open_workspace  # noqa: E402
from benchmarks.report import write_results  # noqa: E402


def read_all_bytes(dataset: Path) -> float:
    started = time.perf_counter()
    for path in dataset.rglob("*"):
        if path.is_file() and ".aligner" not in path.parts:
            path.read_bytes()
    return time.perf_counter() - started


def ffprobe_all(dataset: Path) -> float:
    videos = [p for p in (dataset / "videos").rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS]
    started = time.perf_counter()
    for path in videos:
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "stream=duration,avg_frame_rate,width,height",
             "-of", "json", str(path)],
            check=True, capture_output=True,
        )  # fmt: skip
    return time.perf_counter() - started


def bench_dataset(name: str, dataset: Path) -> dict:
    shutil.rmtree(dataset / ".aligner", ignore_errors=True)
    read_s = read_all_bytes(dataset)  # also warms the page cache for everything after it
    ffprobe_s = ffprobe_all(dataset)
    ws = open_workspace(dataset)
    silent: list[str] = []
    first = ingest_dataset(ws, progress=False, report=silent.append)
    again = ingest_dataset(ws, progress=False, report=silent.append)
    size = sum(
        p.stat().st_size for p in dataset.rglob("*") if p.is_file() and ".aligner" not in p.parts
    )
    row = {
        "dataset": name,
        "videos": first.videos,
        "ok": first.ok,
        "no_subtitles": first.no_subtitles,
        "errors": first.errors,
        "sentences": first.sentences,
        "dataset_mb": round(size / 1e6, 2),
        "reference_read_s": round(read_s, 3),
        "reference_ffprobe_s": round(ffprobe_s, 3),
        "ingest_first_s": round(first.seconds, 3),
        "ingest_again_s": round(again.seconds, 3),
        "ingest_ms_per_video": round(1000 * first.seconds / max(first.videos, 1), 2),
        "ingest_vs_ffprobe": round(first.seconds / ffprobe_s, 3) if ffprobe_s else None,
        "again_unchanged": again.unchanged,
    }
    print(
        f"{name}: {row['videos']} videos, {row['sentences']} sentences, {row['dataset_mb']} MB |"
        f" read {read_s:.3f} s, ffprobe {ffprobe_s:.3f} s | ingest {first.seconds:.3f} s"
        f" ({row['ingest_ms_per_video']} ms/video, {row['ingest_vs_ffprobe']}x ffprobe),"
        f" again {again.seconds:.3f} s ({again.unchanged} unchanged)"
    )
    return row


def generated_set(root: Path, n_videos: int, duration_s: float) -> tuple[Path, float]:
    from aligner.synthetic import generate_dataset

    started = time.perf_counter()
    out = root / f"generated_{n_videos}"
    generate_dataset(out, n_videos=n_videos, seed=0, duration_s=duration_s, width=160, height=96,
                     fps=10.0, audio=False, progress=False)  # fmt: skip
    return out, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-videos", type=int, default=100)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per generated video")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        root = Path(tmp)
        if SAMPLE.is_dir():
            sample = root / "htm_sample"
            shutil.copytree(SAMPLE, sample, ignore=shutil.ignore_patterns(".aligner"))
            rows.append(bench_dataset("htm_sample", sample))
        generated, gen_s = generated_set(root, args.n_videos, args.duration)
        print(f"generated {args.n_videos} videos of {args.duration:.0f} s in {gen_s:.1f} s")
        rows.append(bench_dataset(f"generated_{args.n_videos}x{args.duration:.0f}s", generated))
    write_results(RESULTS, "ingest", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
