"""TAN quality and speed on the sample generator's data; writes benchmarks/results/model.json.
(Quality across structurally different families, which chose the defaults: benchmarks/quality.)

Quality (R@1, ROC-AUC, HTM-Align protocol), each beside the ASR-timestamp baseline measured on
the same sentences in the same run:
  1. unseen: train on a generated training folder, evaluate on a second folder of other videos;
  2. same folder: evaluate that model on the folder it was trained on (a curator's use);
  for each positive-window margin k (positives = ASR span +- k s), stage-1 vs co-trained vs
  dual vs ASR side by side.
Speed: training time on the committed sample; inference on a 1-hour video with 600 sentences
(random features, default model size), windowed and global; peak memory (max RSS) of each part,
measured in a child process.

    .venv/bin/python benchmarks/bench_model.py [--train-videos 48] [--test-videos 16]
        [--margins 10] [--work DIR] [--quick]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "benchmarks" / "results" / "model.json"
SAMPLE = REPO / "sample_data" / "htm_sample"
GEN = {"width": 192, "height": 108, "fps": 6.0, "audio": False, "formats": ("vtt", "srt", "json")}
TRAIN_SEED, TEST_SEED = 101, 202  # different videos, the same concept vocabulary
HOUR_S, HOUR_SENTENCES = 3600, 600  # the inference speed case
SPEED_TARGET_S = 2.0
TARGET_GAIN, TARGET_AUC = 0.25, 0.85


def prepare(folder: Path, n_videos: int, seed: int):
    """Generate (once), ingest and compute features; returns the workspace."""
    from aligner.features import compute_features
    from aligner.ingest import ingest_dataset
    from aligner.synthetic import generate_dataset
    from aligner.workspace import open_workspace

    if not (folder / "annotations" / "htm_align.json").is_file():
        generate_dataset(folder, n_videos=n_videos, seed=seed, progress=False, **GEN)
    ws = open_workspace(folder)
    ingest_dataset(ws)
    compute_features(ws)
    return ws


def quality(train_ws, test_ws, margin: float, work: Path, epochs: int | None) -> dict:
    """Train with margin k on the training folder; evaluate on the unseen and the same folder."""
    from aligner.evaluate import evaluate_dataset
    from aligner.tan.config import TrainConfig
    from aligner.tan.infer import predict_dataset
    from aligner.tan.train import train_dataset

    ckpt = work / f"tan_k{margin:g}.pt"
    tcfg = replace(TrainConfig(), pos_margin_s=margin)
    summary = train_dataset(train_ws, out=ckpt, train_config=tcfg, epochs=epochs, progress=False)
    out = {"train_s": round(summary.seconds, 1)}
    for name, ws in (("unseen", test_ws), ("same_folder", train_ws)):
        predict_dataset(ws, checkpoint=ckpt, progress=False)
        out[name] = _compact(evaluate_dataset(ws))
    return out


def _compact(report: dict) -> dict:
    def pct(v):
        return None if v is None else round(100 * v, 1)

    rows = {"tan": report} | {
        {"tan_stage1": "stage1"}.get(k, k): v for k, v in report["baselines"].items()
    }
    table = {k: {"r_at_1": pct(v["r_at_1"]), "roc_auc": pct(v["roc_auc"])} for k, v in rows.items()}
    gain = table["tan"]["r_at_1"] - table["asr"]["r_at_1"]
    return {
        **table,
        "n_sentences": report["n_sentences"],
        "n_alignable": report["n_alignable"],
        "n_matched": report["n_matched"],
        "r_at_1_gain_over_asr": round(gain, 1),
        "meets_target": gain >= 100 * TARGET_GAIN
        and (table["tan"]["roc_auc"] or 0) >= 100 * TARGET_AUC,
    }


# -- speed -------------------------------------------------------------------------------------
def _in_child(fn, *args):
    """Run fn in a fresh process; returns (its result, its peak RSS in MB, or its largest
    child's: training spawns one process per ensemble member). Not a Pool: a pool's daemonic
    workers may not start processes of their own."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(_measured, fn, *args).result()


def _measured(fn, *args):
    result = fn(*args)
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF,
                                                             resource.RUSAGE_CHILDREN))  # fmt: skip
    return result, peak / 1024


def train_sample(work: str, epochs: int | None) -> dict:
    """Training time on a copy of the committed sample (ingest + features done beforehand)."""
    from aligner.tan.train import train_dataset
    from aligner.workspace import open_workspace

    ws = open_workspace(Path(work) / "sample")
    started = time.perf_counter()
    summary = train_dataset(ws, epochs=epochs, progress=False)
    return {"train_s": round(time.perf_counter() - started, 1), "videos": summary.n_videos,
            "sentences": summary.n_sentences}  # fmt: skip


def infer_hour(mode: str) -> dict:
    """One hour of random 512-d video features and 600 random 384-d sentences, default model."""
    import torch

    from aligner.tan.config import FeatureSpec, TANConfig
    from aligner.tan.infer import predict_video, sentence_rows
    from aligner.tan.model import build_model

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = build_model(TANConfig(), FeatureSpec(("random",), (512,), "random", 384)).eval()
    video = [rng.normal(size=(HOUR_S, 512)).astype(np.float32)]
    text = rng.normal(size=(HOUR_SENTENCES, 384)).astype(np.float32)
    start = np.sort(rng.uniform(0, HOUR_S - 5, HOUR_SENTENCES))
    predict_video(model, [v[:200] for v in video], text[:20], start[:20] / 18, start[:20] / 18 + 3,
                  mode=mode)  # warm-up  # fmt: skip
    began = time.perf_counter()
    rows = sentence_rows(predict_video(model, video, text, start, start + 4, mode=mode))
    seconds = time.perf_counter() - began
    return {
        "seconds": round(seconds, 2),
        "sentences": len(rows),
        "threads": torch.get_num_threads(),
    }


def speed(work: Path, epochs: int | None) -> dict:
    from aligner.features import compute_features
    from aligner.ingest import ingest_dataset
    from aligner.workspace import open_workspace

    out = {}
    if SAMPLE.is_dir():
        shutil.copytree(SAMPLE, work / "sample", ignore=shutil.ignore_patterns(".aligner"))
        ws = open_workspace(work / "sample")
        ingest_dataset(ws)
        compute_features(ws)
        result, rss = _in_child(train_sample, str(work), epochs)
        out["train_sample"] = {**result, "peak_rss_mb": round(rss)}
    for mode in ("window", "global"):
        result, rss = _in_child(infer_hour, mode)
        out[f"infer_1h_{mode}"] = {**result, "peak_rss_mb": round(rss),
                                   "target_s": SPEED_TARGET_S}  # fmt: skip
    return out


# -- main --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-videos", type=int, default=48)
    parser.add_argument("--test-videos", type=int, default=16)
    parser.add_argument(
        "--margins", default="10", help="k values, seconds (default: the shipped 10)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="stage-1 epochs (default 8)")
    parser.add_argument("--work", default=None, help="keep generated data here (reused)")
    parser.add_argument("--quick", action="store_true", help="8 + 4 videos, k=10, 4 epochs")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_videos, args.test_videos, args.margins, args.epochs = 8, 4, "10", 4
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_model_"))
    work.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    train_ws = prepare(work / f"train{args.train_videos}_s{TRAIN_SEED}", args.train_videos,
                       TRAIN_SEED)  # fmt: skip
    test_ws = prepare(work / f"test{args.test_videos}_s{TEST_SEED}", args.test_videos, TEST_SEED)
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        },  # fmt: skip
        "data": {
            "train_videos": args.train_videos,
            "test_videos": args.test_videos,
            "generator": {**GEN, "formats": list(GEN["formats"])},
            "seeds": [TRAIN_SEED, TEST_SEED],
        },  # fmt: skip
        "targets": {"r_at_1_gain_over_asr": 100 * TARGET_GAIN, "roc_auc": 100 * TARGET_AUC},
        "quality": {},
    }
    for k in [float(x) for x in args.margins.split(",")]:
        result["quality"][f"k={k:g}"] = quality(train_ws, test_ws, k, work, args.epochs)
        print(f"k={k:g}: {json.dumps(result['quality'][f'k={k:g}'])}", flush=True)
    if not args.skip_speed:
        scratch = Path(tempfile.mkdtemp(prefix="bench_model_speed_"))
        result["speed"] = speed(scratch, args.epochs)
        shutil.rmtree(scratch, ignore_errors=True)
    result["total_s"] = round(time.perf_counter() - began, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
