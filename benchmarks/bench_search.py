"""Search and tags: speed, build time, retrieval recall with / without the auxiliary losses, tag
precision; writes benchmarks/results/search.json.

speed    exact query latency over 1M and 10M random 128-d float16 vectors (the small preset's
         width) in 1M-row shards, single queries and a batch of 64, peak memory of the child
         that searches; beside it, a plain in-memory float32 matmul over the same 1M vectors
         (the reference measured in the same run, so the ratio holds on a loaded machine);
         the time to write the shards.
quality  two generated folders of different seeds and video lengths; per folder and variant
         (off, pem, tap, both: `TrainConfig.pem_weight` / `tap_weight` = `AUX_WEIGHT`), train
         with the defaults, predict, `evaluate_dataset` (R@1, ROC-AUC, retrieval Recall@1/5/10
         over the whole folder), index build time, and tag precision against the generator's
         known step objects (annotations/steps.json):
           - listed: the 19 concept names as the user's entity list; a second is tagged when
             z >= TAG_Z; precision = share of tagged seconds inside a step of that concept;
             R-precision = the same for the R best seconds, R = seconds the concept is shown;
             chance = share of the folder's seconds showing it;
           - mined: the transcripts' own entities that name exactly one concept.

    .venv/bin/python benchmarks/bench_search.py [--parts speed,quality] [--work DIR]
        [--sizes 1000000,10000000]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "benchmarks" / "results" / "search.json"
GEN = {"width": 192, "height": 108, "fps": 6.0, "audio": False, "formats": ("vtt", "srt", "json")}
FOLDERS = {"a": (24, 11, (60.0, 120.0)), "b": (24, 22, (30.0, 60.0))}  # videos, seed, lengths
AUX_WEIGHT = 0.5
VARIANTS = {"off": {}, "pem": {"pem_weight": AUX_WEIGHT}, "tap": {"tap_weight": AUX_WEIGHT},
            "both": {"pem_weight": AUX_WEIGHT, "tap_weight": AUX_WEIGHT}}  # fmt: skip
DIM = 128
SHARD = 1_000_000
SECONDS_PER_FAKE_VIDEO = 10_000
QUERIES, BATCH = 5, 64


# -- speed -------------------------------------------------------------------------------------
def write_random_index(root: Path, n: int, seed: int = 0) -> float:
    """`n` random unit vectors as 1M-row float16 shards + manifest; returns seconds taken."""
    from aligner import search

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    manifest = search.empty_manifest("bench", root / "none.pt", DIM)
    root.mkdir(parents=True, exist_ok=True)
    made = 0
    while made < n:
        rows = min(SHARD, n - made)
        vectors, hashes = {}, {}
        for v0 in range(0, rows, SECONDS_PER_FAKE_VIDEO):
            x = rng.standard_normal((min(SECONDS_PER_FAKE_VIDEO, rows - v0), DIM), np.float32)
            vid = f"v{(made + v0) // SECONDS_PER_FAKE_VIDEO:06d}"
            vectors[vid] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)
            hashes[vid] = "-"
        search.append_shard(root, manifest, vectors, hashes)
        made += rows
    return time.perf_counter() - started


def query_latency(root: str, n_queries: int, batch: int) -> dict:
    """Median single-query latency, and one batch of `batch` queries, over the index."""
    from aligner import search

    index = search.open_index(Path(root))
    rng = np.random.default_rng(1)
    q = rng.standard_normal((max(n_queries, batch), DIM)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    search.search_vectors(index, q[:1], top=10)  # warm the page cache once
    singles = []
    for i in range(n_queries):
        started = time.perf_counter()
        search.search_vectors(index, q[i : i + 1], top=10)
        singles.append(time.perf_counter() - started)
    started = time.perf_counter()
    search.search_vectors(index, q[:batch], top=10)
    batch_s = time.perf_counter() - started
    return {"vectors": index.n_vectors, "single_query_s": round(float(np.median(singles)), 3),
            "single_query_min_s": round(min(singles), 3), f"batch{batch}_s": round(batch_s, 3),
            f"batch{batch}_per_query_s": round(batch_s / batch, 4)}  # fmt: skip


def reference_matmul(root: str) -> dict:
    """Plain numpy on the first shard held in memory as float32: scores + argpartition."""
    from aligner import search

    index = search.open_index(Path(root))
    first = np.asarray(next(index.shards())[1], np.float32)
    q = np.random.default_rng(2).standard_normal(DIM).astype(np.float32)
    times = []
    for _ in range(QUERIES):
        started = time.perf_counter()
        scores = first @ q
        np.argpartition(-scores, 200)[:200]
        times.append(time.perf_counter() - started)
    return {"vectors": len(first), "single_query_s": round(float(np.median(times)), 3)}


def _child(fn, *args):
    """Run `fn(*args)` in a fresh process; returns (result, its peak RSS in MB)."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        result = pool.apply(_measured, (fn, *args))
    return result


def _measured(fn, *args):
    out = fn(*args)
    return out, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def speed(work: Path, sizes: list[int]) -> dict:
    out = {}
    for n in sizes:
        root = work / f"random{n}"
        if not (root / "manifest.json").is_file():
            out.setdefault("write_shards_s", {})[str(n)] = round(write_random_index(root, n), 1)
        result, rss = _child(query_latency, str(root), QUERIES, BATCH)
        out[f"exact_{n}"] = {**result, "peak_rss_mb": round(rss)}
        if n == min(sizes):
            ref, rss = _child(reference_matmul, str(root))
            out["reference_in_memory_float32_1shard"] = {**ref, "peak_rss_mb": round(rss)}
        print(json.dumps({f"exact_{n}": out[f"exact_{n}"]}), flush=True)
    for n in sizes:
        shutil.rmtree(work / f"random{n}", ignore_errors=True)  # gigabytes: never left behind
    return out


# -- quality -----------------------------------------------------------------------------------
def prepare(folder: Path, n_videos: int, seed: int, lengths):
    from aligner.features import compute_features
    from aligner.ingest import ingest_dataset
    from aligner.synthetic import generate_dataset
    from aligner.workspace import open_workspace

    if not (folder / "annotations" / "htm_align.json").is_file():
        generate_dataset(folder, n_videos=n_videos, seed=seed, duration_s=lengths,
                         progress=False, **GEN)  # fmt: skip
    ws = open_workspace(folder)
    ingest_dataset(ws)
    compute_features(ws, progress=False)
    return ws


def train_variant(ws, ckpt: Path, variant: str, epochs: int | None) -> float | None:
    """Train (unless the checkpoint exists: re-runs reuse it); returns the training seconds."""
    from aligner.tan.config import TrainConfig
    from aligner.tan.train import train_dataset

    if ckpt.is_file():
        return None
    summary = train_dataset(ws, out=ckpt, train_config=TrainConfig(**VARIANTS[variant]),
                            epochs=epochs, progress=False, seed=0)  # fmt: skip
    return round(summary.seconds, 1)


def evaluate_variant(ws, ckpt: Path) -> dict:
    from aligner import search
    from aligner.evaluate import evaluate_dataset
    from aligner.store import Store
    from aligner.tan.infer import predict_run

    shutil.rmtree(search.index_dir(ws, search.checkpoint_key(ckpt)), ignore_errors=True)
    started = time.perf_counter()
    build = search.build_index(ws, checkpoint=ckpt, progress=False)
    build_s = time.perf_counter() - started
    with Store(ws.db_path) as store:
        run = predict_run(ws, store, ckpt, model_name="tan", progress=False)
    report = evaluate_dataset(ws, run_id=run.run_id)
    return {"r_at_1": report["r_at_1"], "roc_auc": report["roc_auc"],
            "asr_r_at_1": report["baselines"]["asr"]["r_at_1"],
            "retrieval": report["retrieval"], "index_build_s": round(build_s, 2),
            "index_vectors": build.n_vectors}  # fmt: skip


def tag_precision(ws, ckpt: Path, work: Path) -> dict:
    """Listed-concept and mined-entity tag precision (see the module docstring)."""
    from aligner import tags, vocabulary
    from aligner.synthetic.vocab import CONCEPTS

    steps = json.loads((ws.dataset / "annotations" / "steps.json").read_text())
    listed = work / "concepts.txt"
    listed.write_text("\n".join(c.name for c in CONCEPTS) + "\n")
    out = {}
    for name, kwargs in (("listed", {"entities_file": listed, "mine": False}), ("mined", {})):
        tags.compute_tags(ws, checkpoint=ckpt, progress=False, **kwargs)
        tagset = tags.load_tags(ws)
        concept_of = ({c.name: c.name for c in CONCEPTS} if name == "listed"
                      else _mined_concepts(tagset.entities, CONCEPTS, vocabulary))  # fmt: skip
        out[name] = _precision(tagset, steps, concept_of)
    return out


def _mined_concepts(entities, concepts, vocabulary) -> dict[str, str]:
    """Mined entity -> the one concept whose phrases name it (ambiguous ones left out)."""
    out = {}
    for e in entities:
        named = {c.name for c in concepts for p in c.phrases if vocabulary.mentions(p, [e])}
        if len(named) == 1:
            out[e] = named.pop()
    return out


def _precision(tagset, steps: dict, concept_of: dict[str, str]) -> dict:
    from aligner.tags import TAG_Z

    z, shown_by = [], {}
    for vid in tagset.index.video_ids:
        scores = tagset.scores(vid)
        z.append(scores)
        shown = np.full(len(scores), "", dtype=object)
        for s in steps.get(vid, []):
            shown[max(0, math.floor(s["start"])) : math.ceil(s["end"])] = s["concept"]
        shown_by[vid] = shown
    z = np.concatenate(z)
    shown = np.concatenate([shown_by[v] for v in tagset.index.video_ids])
    per = {}
    for entity, concept in concept_of.items():
        col = tagset.entities.index(entity)
        truth = shown == concept
        if not truth.any():
            continue
        tagged = z[:, col] >= TAG_Z
        best = np.argsort(-z[:, col])[: int(truth.sum())]
        per[entity] = {"precision": float(truth[tagged].mean()) if tagged.any() else None,
                       "r_precision": float(truth[best].mean()), "chance": float(truth.mean()),
                       "n_tagged": int(tagged.sum())}  # fmt: skip

    def mean(key):
        vals = [p[key] for p in per.values() if p[key] is not None]
        return round(float(np.mean(vals)), 3) if vals else None

    return {"n_entities": len(per), "precision": mean("precision"),
            "r_precision": mean("r_precision"), "chance": mean("chance"),
            "per_entity": per}  # fmt: skip


def quality(work: Path, variants: list[str], epochs: int | None, save,
            folders: list[str] | None = None) -> dict:  # fmt: skip
    """Variant by variant (so a partial run compares like with like), each folder in turn;
    `save(out)` after every result: a long run interrupted keeps what it measured."""
    out: dict = {}
    spaces = {f: prepare(work / f, *FOLDERS[f]) for f in folders or FOLDERS}
    for variant in variants:
        for folder, ws in spaces.items():
            ckpt = work / f"{folder}_{variant}_e{epochs or 'default'}.pt"
            train_s = train_variant(ws, ckpt, variant, epochs)
            result = {"train_s": train_s, **evaluate_variant(ws, ckpt),
                      "tags": tag_precision(ws, ckpt, work)}  # fmt: skip
            out.setdefault(folder, {})[variant] = result
            print(json.dumps({folder: {variant: _brief(result)}}), flush=True)
            out["mean"] = {v: _mean_over(out, v) for v in variants
                           if all(v in out.get(f, {}) for f in FOLDERS)}  # fmt: skip
            save(out)
    return out


def _brief(r: dict) -> dict:
    return {"r_at_1": r["r_at_1"], "roc_auc": r["roc_auc"], "recall": r["retrieval"]["recall"],
            "tag_r_precision": r["tags"]["listed"]["r_precision"]}  # fmt: skip


def merge_quality(into: dict, others: list[Path]) -> dict:
    """Folder/variant results of other runs' JSON (e.g. one process per folder) joined in."""
    for path in others:
        extra = json.loads(path.read_text()).get("quality", {})
        for folder in FOLDERS:
            into.setdefault(folder, {}).update(extra.get(folder, {}))
    variants = [v for v in VARIANTS if all(v in into.get(f, {}) for f in FOLDERS)]
    into["mean"] = {v: _mean_over(into, v) for v in variants}
    return into


def _mean_over(out: dict, variant: str) -> dict:
    rows = [out[f][variant] for f in FOLDERS if variant in out.get(f, {})]
    pick = {
        "r_at_1": lambda r: r["r_at_1"], "roc_auc": lambda r: r["roc_auc"],
        **{f"retrieval_{k}": (lambda r, k=k: r["retrieval"]["recall"][k]) for k in ("r@1", "r@5", "r@10")},
        **{f"retrieval_peak_{k}": (lambda r, k=k: r["retrieval"]["recall_peak"][k]) for k in ("r@1", "r@5", "r@10")},
        "tag_precision_listed": lambda r: r["tags"]["listed"]["precision"],
        "tag_r_precision_listed": lambda r: r["tags"]["listed"]["r_precision"],
        "tag_r_precision_mined": lambda r: r["tags"]["mined"]["r_precision"],
    }  # fmt: skip
    return {k: round(float(np.mean([f(r) for r in rows])), 4) for k, f in pick.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="speed,quality",
                        help="speed, quality, or merge (only gather what earlier runs measured)")  # fmt: skip
    parser.add_argument("--work", default=None, help="keep generated folders / checkpoints here")
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--folders", default=",".join(FOLDERS))
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON to write")
    parser.add_argument("--merge", nargs="*", type=Path, default=[],
                        help="other runs' JSON whose quality results are joined in")  # fmt: skip
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs in all (split as TrainConfig's); default: TrainConfig's")  # fmt: skip
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench_search_"))
    work.mkdir(parents=True, exist_ok=True)
    out_path = args.out
    previous = json.loads(out_path.read_text()) if out_path.is_file() else {}
    result = {**previous, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
              "load_avg_1m": round(os.getloadavg()[0], 2),
              "note": "2 cores shared by 8 engineers: timings taken under heavy load"}}  # fmt: skip
    started = time.perf_counter()
    parts = args.parts.split(",")
    if "speed" in parts:  # kept in the work folder too: a later run merges it back
        result["speed"] = speed(work, [int(s) for s in args.sizes.split(",")])
        (work / "speed.json").write_text(json.dumps(result["speed"]))
    elif (work / "speed.json").is_file():
        result["speed"] = json.loads((work / "speed.json").read_text())
    if "quality" in parts:
        result["quality_setup"] = {"folders": {k: {"videos": v[0], "seed": v[1], "lengths_s": v[2]}
                                               for k, v in FOLDERS.items()},
                                   "generator": {**GEN, "formats": list(GEN["formats"])},
                                   "aux_weight": AUX_WEIGHT, "epochs": args.epochs}  # fmt: skip
        quality(work, args.variants.split(","), args.epochs,
                lambda q: _save({**result, "quality": q}, started, out_path), args.folders.split(","))  # fmt: skip
    if "quality" in parts:  # what the last save wrote, plus a speed part finished meanwhile
        result = {
            **json.loads(out_path.read_text()),
            **{k: result[k] for k in ("speed",) if k in result},
        }
    if args.merge:
        result["quality"] = merge_quality(result.get("quality", {}), args.merge)
        setups = [json.loads(p.read_text()).get("quality_setup") for p in args.merge]
        result.setdefault("quality_setup", next((s for s in setups if s), None))
    _save(result, started, out_path)
    print(f"wrote {out_path}")
    return 0


def _save(result: dict, started: float, path: Path) -> None:
    result["total_s"] = round(time.perf_counter() - started, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    sys.exit(main())
