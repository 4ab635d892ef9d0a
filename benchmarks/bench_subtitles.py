"""Subtitle ingest speed and memory on 50 MB files (issue 12: < 30 s and < 500 MB).

Generated files, each the only subtitles of a one-video folder (a 0.1 fps 16x16 video long
enough to hold every cue): a YouTube rolling auto-caption VTT (inline word times, `<c>` tags,
10 ms transition cues: the most work per byte), a numbered SRT with `<i>` tags whose sentences
run over three cues, and the same with a sentence per cue (~500k sentences: the most rows for
the store). For each, in the same run:
  reference_read_s        read the file and decode it (the floor for any reader)
  slice_webvtt_py_s/_mb   webvtt-py, the previous reader, on the file's first 5 MB
  slice_parse_s/_mb       this reader (`parse_subtitles`) on the same 5 MB
  ingest_s, peak_rss_mb   `ingest_dataset` on the folder, in a fresh process (peak RSS of
                          that process; baseline_rss_mb is the same process after imports;
                          ingest_cpu_s its CPU time, which a busy shared machine inflates less)

    .venv/bin/python benchmarks/bench_subtitles.py [--mb 50] [--files numbered_srt ...]

Prints the figures and writes benchmarks/results/subtitles.json.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "subtitles.json"
sys.path.insert(0, str(REPO))

from benchmarks.report import write_results  # noqa: E402

PHRASE_S = 2.5  # seconds per caption phrase
SLICE_BYTES = 5_000_000  # the slice both readers parse, for the ratio
_WORDS = (
    "the a to and of you it is in that this we so just going make your with on for can now "
    "add cut stir pour mix bake heat oil salt pan bowl flour water sugar eggs butter slowly "
    "then next first little bit more about minutes until really nice good right here okay"
)
VOCAB = _WORDS.split(" ")


def _ts(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def rolling_vtt(path: Path, target_bytes: int, rng: random.Random) -> float:
    """YouTube-style rolling captions; returns the last cue's end (seconds)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("WEBVTT\nKind: captions\nLanguage: en\n\n")
        prev, t = "", 0.0
        while f.tell() < target_bytes:
            words = rng.choices(VOCAB, k=rng.randint(4, 8))
            step = (PHRASE_S - 0.1) / len(words)
            timed = words[0] + "".join(
                f"<{_ts(t + (i + 1) * step)}><c> {w}</c>" for i, w in enumerate(words[1:])
            )
            f.write(f"{_ts(t)} --> {_ts(t + PHRASE_S - 0.01)} align:start position:0%\n")
            f.write(f"{prev}\n{timed}\n\n" if prev else f" \n{timed}\n\n")
            prev = " ".join(words)
            f.write(f"{_ts(t + PHRASE_S - 0.01)} --> {_ts(t + PHRASE_S)} align:start position:0%\n")
            f.write(f"{prev}\n \n\n")
            t += PHRASE_S
    return t


def numbered_srt(path: Path, target_bytes: int, rng: random.Random, *, every: int = 3) -> float:
    """Numbered SRT, two lines per cue; a sentence ends with every `every`-th cue (prose), or
    with each cue (every=1: half a million sentences, the store's worst case)."""
    with open(path, "w", encoding="utf-8") as f:
        n, t = 0, 0.0
        while f.tell() < target_bytes:
            n += 1
            a, b = (" ".join(rng.choices(VOCAB, k=rng.randint(3, 7))) for _ in range(2))
            span = f"{_ts(t)} --> {_ts(t + PHRASE_S)}".replace(".", ",")
            stop = "." if n % every == 0 else ""
            f.write(f"{n}\n{span}\n<i>{a}</i>\n{b}{stop}\n\n")
            t += PHRASE_S
    return t


def sentence_per_cue_srt(path: Path, target_bytes: int, rng: random.Random) -> float:
    return numbered_srt(path, target_bytes, rng, every=1)


MAKERS = {
    "youtube_rolling": rolling_vtt,
    "numbered_srt": numbered_srt,
    "sentence_per_cue_srt": sentence_per_cue_srt,
}


def long_video(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=black:s=16x16:r=0.1",
         "-t", str(int(seconds) + 20), "-c:v", "libx264", "-preset", "ultrafast",
         "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(mode: str, target: str) -> None:
    """Runs in a fresh process: one measurement, printed as JSON."""
    if mode == "ingest":
        import av  # noqa: F401  (what ingest imports lazily: loaded before the baseline)
        import pyarrow  # noqa: F401
        import tqdm  # noqa: F401

        from aligner.ingest import ingest_dataset
        from aligner.store import Store  # noqa: F401
        from aligner.workspace import open_workspace

        ws = open_workspace(target)
        baseline = _rss_mb()
        started, cpu = time.perf_counter(), time.process_time()
        summary = ingest_dataset(ws, progress=False, report=lambda line: None)
        out = {"seconds": time.perf_counter() - started, "cpu_s": time.process_time() - cpu,
               "sentences": summary.sentences, "ok": summary.ok, "baseline_rss_mb": baseline}  # fmt: skip
    else:
        data = Path(target).read_bytes()[:SLICE_BYTES]
        data = data[: data.rfind(b"\n\n") + 1]  # whole cues only
        started = time.perf_counter()
        if mode == "webvtt":
            import io

            import webvtt

            buf = io.StringIO(data.decode("utf-8"))
            fmt = "srt" if target.endswith(".srt") else "vtt"
            cues = webvtt.WebVTT.from_buffer(buf, format=fmt).captions
        else:
            from aligner.subtitles import parse_subtitles

            cues = parse_subtitles(data, target, warn=lambda line: None)
        out = {"seconds": time.perf_counter() - started, "cues": len(cues)}
    out["peak_rss_mb"] = _rss_mb()
    print(json.dumps(out))


def _run_child(mode: str, target: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, str(target)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_file(name: str, root: Path, make, rng: random.Random, target_bytes: int) -> dict:
    ds = root / name
    suffix = ".srt" if "srt" in name else ".vtt"
    sub = ds / "subtitles" / f"{name}{suffix}"
    sub.parent.mkdir(parents=True)
    end = make(sub, target_bytes, rng)
    long_video(ds / "videos" / f"{name}.mp4", end)
    started = time.perf_counter()
    sub.read_bytes().decode("utf-8")
    read_s = time.perf_counter() - started
    old = _run_child("webvtt", sub)
    new = _run_child("parse", sub)
    ingest = _run_child("ingest", ds)
    row = {
        "file": name, "mb": round(sub.stat().st_size / 1e6, 1), "video_h": round(end / 3600, 1),
        "reference_read_s": round(read_s, 3),
        "slice_mb": SLICE_BYTES / 1e6, "slice_cues": new["cues"],
        "slice_webvtt_py_s": round(old["seconds"], 2), "slice_webvtt_py_rss_mb": round(old["peak_rss_mb"]),
        "slice_parse_s": round(new["seconds"], 2), "slice_parse_rss_mb": round(new["peak_rss_mb"]),
        "slice_speedup_vs_webvtt_py": round(old["seconds"] / new["seconds"], 1),
        "ingest_s": round(ingest["seconds"], 2), "ingest_cpu_s": round(ingest["cpu_s"], 2),
        "peak_rss_mb": round(ingest["peak_rss_mb"]),
        "baseline_rss_mb": round(ingest["baseline_rss_mb"]), "sentences": ingest["sentences"],
        "ok": ingest["ok"], "goal": "ingest_s < 30 and peak_rss_mb < 500",
    }  # fmt: skip
    row["meets_goal"] = row["ingest_s"] < 30 and row["peak_rss_mb"] < 500
    print(
        f"{name}: {row['mb']} MB ({row['video_h']} h of cues) | read {read_s:.2f} s |"
        f" 5 MB slice: webvtt-py {row['slice_webvtt_py_s']} s, ours {row['slice_parse_s']} s"
        f" ({row['slice_speedup_vs_webvtt_py']}x) | ingest {row['ingest_s']} s"
        f" ({row['ingest_cpu_s']} s CPU), peak RSS"
        f" {row['peak_rss_mb']} MB (after imports {row['baseline_rss_mb']} MB),"
        f" {row['sentences']} sentences"
    )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0, help="size of each generated file")
    parser.add_argument(
        "--files", nargs="+", choices=list(MAKERS), default=list(MAKERS),
        help="which generated files to measure (default: all three; the JSON then holds only these)",
    )  # fmt: skip
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    target = int(args.mb * 1e6)
    with tempfile.TemporaryDirectory(prefix="bench_subtitles_") as tmp:
        # one seeded generator per file: a file is the same whichever others are chosen
        rows = [
            bench_file(name, Path(tmp), make, random.Random(name), target)
            for name, make in MAKERS.items()
            if name in args.files
        ]
    write_results(RESULTS, "subtitles", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
