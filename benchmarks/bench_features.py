"""Feature speed and memory: decoding, the `builtin` backbone, the text encoder.

On generated H.264 videos (testsrc2 + noise, 30 fps, libx264 veryfast with B-frames; a 1-minute
clip stream-copied N times, so generating a long video costs nothing), in the same run:
  decode_x     seconds of video per wall second: `frames.iter_frames` at 1 fps, 160x120 (the
               fastest path: PyAV, B-frames skipped, resized while decoding)
  builtin_x    the same for `builtin` features end to end (decode + descriptor)
  builtin_2_processes_x   two videos at once in two processes (`compute_features` workers)
  ffmpeg_x     the reference `ffmpeg -skip_frame bidir -i X -vf fps=1,scale=160:120 -f null -`
  peak RSS     of a fresh process computing `builtin` features of a 10-minute and a 1-hour
               video (flat in length means the two are about equal)
  text         sentences per second of the default text encoder (minilm), model already loaded

    .venv/bin/python benchmarks/bench_features.py [--minutes 10] [--long-minutes 60] [--repeats 2]

Targets (2-core machine): builtin >= 100x realtime at 360p and within 1.5x of decode-only;
peak memory < 1 GB and flat in video length. Prints the figures and writes
benchmarks/results/features.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "features.json"
CACHE = Path(tempfile.gettempdir()) / "aligner_bench_features"  # generated videos, reused
sys.path.insert(0, str(REPO))

from aligner.features import builtin  # noqa: E402
from aligner.features.visual import BuiltinBackbone, VideoRef  # noqa: E402
from aligner.frames import iter_frames, probe  # noqa: E402

SIZES = {"360p": (640, 360), "720p": (1280, 720)}
CLIP_S = 60  # seconds of the clip that is repeated
RATE = 30  # frames per second of the generated video


def make_clip(label: str) -> Path:
    w, h = SIZES[label]
    path = CACHE / f"clip_{label}.mp4"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi",
             "-i", f"testsrc2=size={w}x{h}:rate={RATE}:duration={CLIP_S}",
             "-vf", "noise=alls=12:allf=t+u", "-c:v", "libx264", "-preset", "veryfast",
             "-crf", "23", "-pix_fmt", "yuv420p", str(path)],
            check=True,
        )  # fmt: skip
    return path


def make_long(label: str, minutes: int) -> Path:
    """The clip repeated to `minutes` minutes by stream copy (same decode cost per second)."""
    path = CACHE / f"video_{label}_{minutes}min.mp4"
    if not path.exists():
        clip = make_clip(label)
        listing = CACHE / f"list_{label}_{minutes}.txt"
        listing.write_text(f"file '{clip}'\n" * (minutes * 60 // CLIP_S))
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
             "-c", "copy", str(path)],
            check=True,
        )  # fmt: skip
    return path


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def speed(path: Path, repeats: int) -> dict:
    """Seconds of video per wall second for decode-only, builtin, and the ffmpeg reference.

    The three run in turn `repeats` times and the best time of each counts: the CPU is shared,
    and interference only ever slows a run down.
    """
    duration = probe(path).duration
    video = VideoRef(path.stem, path, duration, path.parent)
    w, h = builtin.INPUT_SIZE
    ffmpeg = ["ffmpeg", "-v", "error", "-skip_frame", "bidir", "-i", str(path),
              "-vf", f"fps=1,scale={w}:{h}", "-f", "null", "-"]  # fmt: skip
    runs = {
        "decode": lambda: sum(1 for _ in iter_frames(path, size=builtin.INPUT_SIZE)),
        "builtin": lambda: BuiltinBackbone().video_features(video),
        "ffmpeg": lambda: subprocess.run(ffmpeg, check=True),
    }
    best = {name: float("inf") for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            best[name] = min(best[name], timed(fn))
    return {
        "duration_s": round(duration, 1),
        "decode_x": round(duration / best["decode"], 1),
        "builtin_x": round(duration / best["builtin"], 1),
        "ffmpeg_x": round(duration / best["ffmpeg"], 1),
        "builtin_over_decode_time": round(best["builtin"] / best["decode"], 3),
    }


def _builtin_job(path: str) -> int:
    p = Path(path)
    return len(BuiltinBackbone().video_features(VideoRef(p.stem, p, probe(p).duration, p.parent)))


def two_process_speed(path: Path) -> float:
    """Seconds of video per wall second for builtin on two videos at once in two processes
    (what `compute_features` does with workers=2)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    duration = probe(path).duration
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_builtin_job, [str(CACHE / "clip_360p.mp4")] * 2))  # start both workers
        started = time.perf_counter()
        list(pool.map(_builtin_job, [str(path)] * 2))
        return round(2 * duration / (time.perf_counter() - started), 1)


WORKER = """
import json, resource, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from aligner.features.visual import BuiltinBackbone, VideoRef
from aligner.frames import probe
path = Path({path!r})
feats = BuiltinBackbone().video_features(VideoRef("v", path, probe(path).duration, path.parent))
print(json.dumps({{"rows": len(feats), "self_max_rss_kb":
                   resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""


def peak_rss_mb(path: Path) -> dict:
    """Peak RSS of a fresh process computing builtin features of `path` (Linux: KB units)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run(
        [sys.executable, "-c", WORKER.format(repo=str(REPO), path=str(path))],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    report = json.loads(out.stdout.strip().splitlines()[-1])
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "rows": report["rows"],
        "peak_rss_mb": round(report["self_max_rss_kb"] / 1024, 1),
        "children_max_rss_mb": round(max(children, before) / 1024, 1),
    }


def text_speed(n: int = 2000) -> dict:
    """Sentences per second of minilm with torch's default threads and with one thread (on a
    busy shared machine, intra-op threads spin against each other)."""
    import torch

    from aligner.features.text import get_text_encoder

    words = ["cut", "the", "onion", "into", "thin", "slices", "then", "fry", "them", "gently",
             "in", "butter", "until", "golden"]  # fmt: skip
    texts = [" ".join(words[(i % 7) : (i % 7) + 4 + i % 9]) + f" step {i}" for i in range(n)]
    encoder = get_text_encoder("minilm")
    load_s = timed(lambda: encoder.encode(texts[:8]))  # loads the model
    threads = torch.get_num_threads()
    default_s = timed(lambda: encoder.encode(texts))
    torch.set_num_threads(1)
    one_s = timed(lambda: encoder.encode(texts))
    torch.set_num_threads(threads)
    return {
        "sentences": n,
        "load_s": round(load_s, 2),
        f"sentences_per_s_{threads}_threads": round(n / default_s),
        "sentences_per_s_1_thread": round(n / one_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10, help="length of the speed videos")
    parser.add_argument("--long-minutes", type=int, default=60, help="length for peak memory")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each speed measurement")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    load_before = os.getloadavg()[0]
    videos = {label: make_long(label, args.minutes) for label in SIZES}
    long_video = make_long("360p", args.long_minutes)
    speeds = {}
    for label, path in videos.items():
        speeds[label] = speed(path, args.repeats)
        print(f"{label}: {speeds[label]}", flush=True)
    speeds["360p"]["builtin_2_processes_x"] = two_process_speed(videos["360p"])
    print(f"360p, 2 processes: {speeds['360p']['builtin_2_processes_x']}", flush=True)
    memory = {
        f"{args.minutes}min_360p": peak_rss_mb(videos["360p"]),
        f"{args.long_minutes}min_360p": peak_rss_mb(long_video),
    }
    print(f"memory: {memory}", flush=True)
    text = text_speed()
    print(f"text: {text}", flush=True)
    s360, peaks = speeds["360p"], [m["peak_rss_mb"] for m in memory.values()]
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1min_before": round(load_before, 2),
            "load_avg_1min_after": round(os.getloadavg()[0], 2),
        },  # fmt: skip
        "repeats": args.repeats,
        "video": f"testsrc2 + noise, {RATE} fps, H.264 veryfast CRF 23 (B-frames), features 1/s",
        "speed_x_realtime": speeds,
        "memory": memory,
        "text_minilm": text,
        "targets": {
            "builtin_360p_ge_100x": s360["builtin_x"] >= 100,
            "builtin_within_1.5x_of_decode": s360["builtin_over_decode_time"] <= 1.5,
            "peak_rss_lt_1GB": max(peaks) < 1024,
            "peak_rss_flat": max(peaks) < 1.25 * min(peaks),
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["targets"]))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
