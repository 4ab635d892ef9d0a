"""caption.json streaming: ingest 10 videos whose captions are entries of a generated 1M-entry
caption.json (HowTo100M's raw_caption.json has ~1.2M; issue 11's goal: < 10 s, < 300 MB).

Each measurement runs in a fresh process (its peak RSS is what it reports). In the same run:
  reference_read_s        read every byte of the file once, 16 MiB at a time: the floor for
                          anything that must look at the whole file once
  reference_json_load_*   `json.load` of a 1/20 slice of the file (50k entries): what loading
                          the file (as ingest did before) costs, for a twentieth of it
  first_*                 `ingest_dataset` into a fresh store: one pass builds the index
                          (first_cpu_s: its CPU time, which a busy shared machine inflates less)
  cached_index_*          a fresh store, the index cached beside it from the first run
  again_*                 the same store again: every video unchanged

    .venv/bin/python benchmarks/bench_captions.py [--entries 1000000] [--videos 10]

Prints the figures and writes benchmarks/results/captions.json.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "captions.json"
sys.path.insert(0, str(REPO))

from benchmarks.report import write_results  # noqa: E402

CAPTIONS_PER_ENTRY = 20  # two-line captions per video
VIDEO_S = 60  # every caption of an entry starts inside the first 50 s
BODIES = 64  # distinct entry bodies, reused with new ids (writing stays fast)
_WORDS = "so now we add the flour and water then mix it well until smooth let's begin the process in a bowl"
WORDS = _WORDS.split(" ")


def _body(rng: random.Random) -> str:
    starts = [round(i * 2.5 + rng.random(), 2) for i in range(CAPTIONS_PER_ENTRY)]
    lines = [" ".join(rng.choices(WORDS, k=5)) for _ in range(CAPTIONS_PER_ENTRY + 1)]
    texts = [f"{lines[i]}\n{lines[i + 1]}" for i in range(CAPTIONS_PER_ENTRY)]  # raw captions
    return json.dumps({"start": starts, "end": [s + 4.0 for s in starts], "text": texts})


def write_caption_json(path: Path, n_entries: int, rng: random.Random) -> None:
    bodies = [_body(rng) for _ in range(BODIES)]
    with open(path, "w", encoding="utf-8") as f:
        f.write("{")
        for lo in range(0, n_entries, 10_000):
            part = (
                f'"v{i:08d}": {bodies[i % BODIES]}' for i in range(lo, min(n_entries, lo + 10_000))
            )
            f.write(("" if lo == 0 else ", ") + ", ".join(part))
        f.write("}")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(mode: str, target: str) -> None:
    """One measurement in this fresh process, printed as JSON."""
    out: dict = {}
    if mode == "ingest":
        import av  # noqa: F401  (what ingest imports lazily: loaded before the baseline)
        import tqdm  # noqa: F401

        from aligner.ingest import ingest_dataset
        from aligner.store import Store  # noqa: F401
        from aligner.workspace import open_workspace

        ws = open_workspace(target)
        out["baseline_rss_mb"] = _rss_mb()
        started, cpu = time.perf_counter(), time.process_time()
        summary = ingest_dataset(ws, progress=False, report=lambda line: None)
        out.update(seconds=time.perf_counter() - started, cpu_s=time.process_time() - cpu, ok=summary.ok,
                   sentences=summary.sentences, unchanged=summary.unchanged)  # fmt: skip
    elif mode == "read":
        started = time.perf_counter()
        with open(target, "rb") as f:
            while f.read(16 << 20):
                pass
        out["seconds"] = time.perf_counter() - started
    else:  # json_load
        started = time.perf_counter()
        with open(target, "rb") as f:
            out["entries"] = len(json.load(f))
        out["seconds"] = time.perf_counter() - started
    out["peak_rss_mb"] = _rss_mb()
    print(json.dumps(out))


def _run_child(mode: str, target: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", mode, str(target)],
                          check=True, capture_output=True, text=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_dataset(root: Path, n_entries: int, n_videos: int) -> Path:
    ds = root / "htm"
    (ds / "videos").mkdir(parents=True)
    write_caption_json(ds / "caption.json", n_entries, random.Random(0))
    clip = ds / "videos" / "clip.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=gray:s=32x32:r=1", "-t", str(VIDEO_S), "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(clip)], check=True)  # fmt: skip
    ids = [
        round(i * (n_entries - 1) / max(n_videos - 1, 1)) for i in range(n_videos)
    ]  # first .. last
    for i in ids:
        shutil.copy(clip, ds / "videos" / f"v{i:08d}.mp4")
    clip.unlink()
    return ds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--videos", type=int, default=10)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_captions_") as tmp:
        started = time.perf_counter()
        ds = make_dataset(Path(tmp), args.entries, args.videos)
        caption = ds / "caption.json"
        gen_s = time.perf_counter() - started
        slice_path = Path(tmp) / "slice.json"
        write_caption_json(slice_path, args.entries // 20, random.Random(0))
        read = _run_child("read", caption)
        loaded = _run_child("json_load", slice_path)
        first = _run_child("ingest", ds)
        (ds / ".aligner" / "aligner.duckdb").unlink()
        cached = _run_child("ingest", ds)
        again = _run_child("ingest", ds)
        row = {
            "entries": args.entries, "videos": args.videos,
            "caption_json_mb": round(caption.stat().st_size / 1e6, 1), "generate_s": round(gen_s, 1),
            "reference_read_s": round(read["seconds"], 2),
            "reference_json_load_slice_entries": loaded["entries"],
            "reference_json_load_slice_s": round(loaded["seconds"], 2),
            "reference_json_load_slice_rss_mb": round(loaded["peak_rss_mb"]),
            "first_s": round(first["seconds"], 2), "first_cpu_s": round(first["cpu_s"], 2),
            "first_peak_rss_mb": round(first["peak_rss_mb"]),
            "baseline_rss_mb": round(first["baseline_rss_mb"]),
            "first_vs_read": round(first["seconds"] / read["seconds"], 2),
            "cached_index_s": round(cached["seconds"], 2), "cached_index_cpu_s": round(cached["cpu_s"], 2),
            "cached_index_peak_rss_mb": round(cached["peak_rss_mb"]),
            "again_s": round(again["seconds"], 2), "again_unchanged": again["unchanged"],
            "ok": first["ok"], "sentences": first["sentences"],
            "goal": "first_s < 10 and first_peak_rss_mb < 300",
        }  # fmt: skip
        row["meets_goal"] = row["first_s"] < 10 and row["first_peak_rss_mb"] < 300
    print(
        f"caption.json: {row['entries']} entries, {row['caption_json_mb']} MB | read once"
        f" {row['reference_read_s']} s | json.load of 1/20: {row['reference_json_load_slice_s']} s,"
        f" {row['reference_json_load_slice_rss_mb']} MB | ingest {row['videos']} videos: first"
        f" {row['first_s']} s ({row['first_cpu_s']} s CPU, {row['first_peak_rss_mb']} MB peak,"
        f" {row['baseline_rss_mb']} MB after"
        f" imports), cached index {row['cached_index_s']} s ({row['cached_index_peak_rss_mb']} MB),"
        f" again {row['again_s']} s | {row['ok']} ok, {row['sentences']} sentences"
    )
    write_results(RESULTS, "captions", [row])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
