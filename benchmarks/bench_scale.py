"""Throughput of local `aligner auto-align` vs the Ray pipeline (`aligner scale --import`) on the
same generated set (>= 1 hour of video), in one run, plus a HowTo100M projection.

Both commands are timed whole (process start, ingest, models, Ray start-up, import) on their own
fresh workspace (`--db`), with the same TAN checkpoint: a freshly initialised model (speed does
not depend on the weights; training is measured by bench_model / bench_pipeline). Then per-stage
rates are measured in this process on a few of the videos (CPU seconds per second of video, one
core): decode, builtin descriptor, sentence encoding, TAN prediction; the projection scales
them to HowTo100M with the assumptions written into the JSON.

    sample_data/generate.py --out SET --videos 30 --duration 120 --formats vtt --no-audio
    nice .venv/bin/python benchmarks/bench_scale.py SET [--decoders 2]
Writes benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "scale.json"
sys.path.insert(0, str(REPO))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
       "RAY_AUTH_MODE": "disabled"}  # fmt: skip
ALIGNER = [sys.executable, "-m", "aligner"]
RATE_VIDEOS = 3  # videos the per-stage rates are measured on

HOWTO100M = {"videos": 1_220_000, "hours": 131_000, "sentences": 136_000_000}
ASSUMPTIONS = {
    "decode": "360p H.264 at 1 frame/s, PyAV skipping B-frames, per core as measured here on a"
    " 30 fps noisy testsrc2 clip (decode_360p_clip_x_per_core; the generated set's simple"
    " drawings decode several times faster, decode_x_per_core)",
    "embed_cpu": "the weight-free builtin descriptor, as measured here per core",
    "embed_gpu": "a CLIP ViT-B/32-class backbone at 2,000 frames/s per GPU (not measured here:"
    " no GPU on this machine; typical fp16 throughput at 224 px)",
    "text_gpu": "MiniLM on a GPU at 20x the CPU rate measured here",
    "predict": "TAN small on one CPU core as measured here (windowed inference)",
    "scaling": "stages scale linearly with workers (Ray Data streams between them; shards are"
    " independent); wall = the slower of the CPU stages (decode + predict) and the GPU stage."
    " Ray's start-up overhead, which dominates on this 2-core machine (ray_over_local_time),"
    " is a fixed cost per run and is not projected",
    "worker": "one worker node = 32 CPU cores + 1 GPU",
}


def _timed(cmd: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, done.stdout


def make_checkpoint(path: Path) -> Path:
    import torch

    from aligner.features import feature_dims
    from aligner.tan.checkpoints import save_checkpoint
    from aligner.tan.config import FeatureSpec, TANConfig
    from aligner.tan.model import build_model

    dims, text_dim = feature_dims(["builtin"], "minilm")
    torch.manual_seed(0)
    model = build_model(TANConfig(), FeatureSpec(("builtin",), tuple(dims), "minilm", text_dim))
    return save_checkpoint(model, path, extra={"stage": 2})


def video_seconds(dataset: Path) -> float:
    from aligner.frames import probe

    return sum(probe(p).duration for p in sorted((dataset / "videos").glob("*.mp4")))


def stage_rates(dataset: Path, db: Path, checkpoint: Path) -> dict:
    """CPU seconds per second of video (or per sentence) of each stage, on one core."""
    import numpy as np
    import torch

    from aligner import stages
    from aligner.features.text import get_text_encoder
    from aligner.features.visual import BuiltinBackbone
    from aligner.manifest import store_manifest
    from aligner.tan.checkpoints import load_checkpoint
    from aligner.workspace import open_workspace

    torch.set_num_threads(1)
    backbone, encoder = BuiltinBackbone(), get_text_encoder("minilm")
    encoder.loaded()
    model = load_checkpoint(checkpoint)[0]
    videos = store_manifest(open_workspace(dataset, db))[:RATE_VIDEOS]
    cpu = {"decode": 0.0, "embed": 0.0, "text": 0.0, "predict": 0.0}
    seconds = sum(float(v["duration"]) for v in videos)
    sentences = sum(len(v["texts"]) for v in videos)
    for video in videos:
        t = time.process_time()
        frames = np.stack(list(backbone.frames(stages.video_ref(video, dataset))))
        cpu["decode"] += time.process_time() - t
        t = time.process_time()
        video["visual"] = [backbone.embed_frames(frames)]
        cpu["embed"] += time.process_time() - t
        t = time.process_time()
        video["text_features"] = encoder.encode(list(video["texts"]))
        cpu["text"] += time.process_time() - t
        t = time.process_time()
        stages.predict(video, model)
        cpu["predict"] += time.process_time() - t
    return {
        "decode_x_per_core": round(seconds / cpu["decode"], 1),
        "embed_builtin_x_per_core": round(seconds / cpu["embed"], 1),
        "text_sentences_per_core_s": round(sentences / cpu["text"], 1),
        "predict_x_per_core": round(seconds / cpu["predict"], 1),
    }


def clip_decode_rate() -> float:
    """Decode speed (seconds of video per CPU second) on bench_features' 360p clip: 30 fps
    testsrc2 + noise with B-frames, closer to real footage than the generated set's drawings."""
    from aligner.features.visual import BuiltinBackbone, VideoRef
    from aligner.frames import probe
    from benchmarks.bench_features import make_clip

    clip = make_clip("360p")
    ref = VideoRef("clip", clip, probe(clip).duration, clip.parent)
    started = time.process_time()
    for _ in BuiltinBackbone().frames(ref):
        pass
    return ref.duration / (time.process_time() - started)


def projection(rates: dict, workers: list[int]) -> dict:
    """HowTo100M CPU-hours, GPU-hours and wall time on N worker nodes from the measured rates."""
    video_s = HOWTO100M["hours"] * 3600
    decode_cpu_h = video_s / rates["decode_360p_clip_x_per_core"] / 3600
    predict_cpu_h = video_s / rates["predict_x_per_core"] / 3600
    builtin_cpu_h = video_s / rates["embed_builtin_x_per_core"] / 3600
    gpu_h = video_s / 2000 / 3600 + HOWTO100M["sentences"] / (
        20 * rates["text_sentences_per_core_s"]) / 3600  # fmt: skip
    cores = 32
    wall = {}
    for n in workers:
        cpu_wall = (decode_cpu_h + predict_cpu_h) / (n * cores)
        wall[str(n)] = round(max(cpu_wall, gpu_h / n), 1)
    return {
        "decode_cpu_hours": round(decode_cpu_h), "predict_cpu_hours": round(predict_cpu_h),
        "builtin_embed_cpu_hours": round(builtin_cpu_h), "gpu_hours_clip_embed_and_text":
        round(gpu_h), "wall_hours_on_n_workers": wall,
        "precomputed_features_wall_hours": {str(n): round(predict_cpu_h / (n * cores), 1)
                                            for n in workers},
        "assumptions": ASSUMPTIONS,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--decoders", type=int, default=2)
    args = parser.parse_args()
    dataset = args.dataset.resolve()
    total = video_seconds(dataset)
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        ckpt = make_checkpoint(Path(tmp) / "tan.pt")
        local_s, _ = _timed([*ALIGNER, "auto-align", str(dataset), "--db",
                             f"{tmp}/local/a.duckdb", "--checkpoint", str(ckpt), "--no-asr"])  # fmt: skip
        ray_s, ray_out = _timed([*ALIGNER, "scale", str(dataset), "--db", f"{tmp}/ray/a.duckdb",
                                 "--checkpoint", str(ckpt), "--decoders", str(args.decoders),
                                 "--cpus-per-actor", "0.5", "--videos-per-shard", "8",
                                 "--import"])  # fmt: skip
        rates = stage_rates(dataset, Path(tmp) / "ray" / "a.duckdb", ckpt)
        rates["decode_360p_clip_x_per_core"] = round(clip_decode_rate(), 1)
    result = {
        "video_s": round(total), "videos": len(list((dataset / "videos").glob("*.mp4"))),
        "local_auto_align_s": round(local_s, 1), "ray_scale_s": round(ray_s, 1),
        "local_x_realtime": round(total / local_s, 1), "ray_x_realtime": round(total / ray_s, 1),
        "ray_over_local_time": round(ray_s / local_s, 2), "ray_summary": ray_out.strip()[-400:],
        "stage_rates": rates, "howto100m": projection(rates, [1, 10, 100]),
        "load_average": os.getloadavg()[0], "cpus": os.cpu_count(),
    }  # fmt: skip
    print(json.dumps(result, indent=1))
    RESULTS.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
