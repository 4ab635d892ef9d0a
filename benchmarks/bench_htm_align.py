"""Speed of the HTM-Align protocol (TAN's eval: one model pass per window) at the benchmark's
scale; writes benchmarks/results/htm_align.json.

80 videos (HTM-Align's count) of 4-9 minutes with S3D-sized (1024-d) random features, one
sentence per ~6 s, the default model size with random weights: the protocol's time is what a
user waits for `aligner evaluate --protocol htm-align` besides reading features. The reference,
measured on the same inputs in the same run, is the tool's own windowed inference
(`predict_video`, windows batched into one forward pass), so the ratio holds on a noisy machine.

    .venv/bin/python benchmarks/bench_htm_align.py [--videos 80] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "benchmarks" / "results" / "htm_align.json"
S3D_DIM, TEXT_DIM = 1024, 384
SECONDS_PER_SENTENCE = 6.0


def make_videos(n: int, seed: int = 0):
    """`[(video_id, truths, video (T, 1024), text (K, 384))]` with random content."""
    from aligner.evaluate import Truth

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        t = int(rng.integers(240, 540))
        k = int(t / SECONDS_PER_SENTENCE)
        start = np.sort(rng.uniform(0, t - 5, k))
        alignable = rng.random(k) < 0.4
        truths = [Truth(f"v{i}", bool(a), float(s), float(s + rng.uniform(2, 8)), f"s{j}")
                  for j, (a, s) in enumerate(zip(alignable, start, strict=True))]  # fmt: skip
        text = rng.normal(size=(k, TEXT_DIM)).astype(np.float32)
        text /= np.linalg.norm(text, axis=1, keepdims=True)
        out.append((f"v{i}", truths, rng.normal(size=(t, S3D_DIM)).astype(np.float32), text))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=80)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()
    import torch

    from aligner.htm_align import evaluate_video, pooled_metrics
    from aligner.tan.config import FeatureSpec, TANConfig
    from aligner.tan.infer import predict_video
    from aligner.tan.model import build_model

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    spec = FeatureSpec(("precomputed:s3d",), (S3D_DIM,), "minilm", TEXT_DIM)
    model = build_model(TANConfig(), spec).eval()
    videos = make_videos(args.videos)
    started = time.perf_counter()
    scores = [evaluate_video(model, vid, truths, [video], text)
              for vid, truths, video, text in videos]  # fmt: skip
    protocol_s = time.perf_counter() - started
    started = time.perf_counter()
    for _, truths, video, text in videos:
        start = np.array([t.start for t in truths])
        predict_video(model, [video], text, start, start + 4, mode="window")
    reference_s = time.perf_counter() - started
    result = {
        "videos": args.videos,
        "video_minutes": round(sum(len(v[2]) for v in videos) / 60, 1),
        "sentences": sum(len(v[1]) for v in videos),
        "windows": sum(s.n_windows for s in scores),
        "protocol_s": round(protocol_s, 2),
        "reference_windowed_predict_s": round(reference_s, 2),
        "ratio_protocol_to_reference": round(protocol_s / reference_s, 2),
        "metrics_random_model": pooled_metrics(scores),
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
    }
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
