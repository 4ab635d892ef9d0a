"""The quality suite's data: each family's folders generated once, ingested, featurised, and
loaded as training items with their ground truth; and the scoring of a model on them.

Folders live under `QUALITY_CACHE` (default /tmp/aligner_quality), keyed by family and seed; a
second run reuses them (nothing large is committed)."""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.quality.render import write_folder

CACHE = Path(os.environ.get("QUALITY_CACHE", "/tmp/aligner_quality"))
ITEMS_FILE = "items.pkl"  # beside the folder: training items + matched ground truth


@dataclass
class FamilyData:
    """One folder: training items (features + ASR times) and, per item, the ground truth of
    each sentence as `(alignable, start, end)` (nan rows: a GT sentence not found)."""

    name: str
    items: list
    spec: object
    truth: list[np.ndarray]  # per item (K, 3): alignable 1/0, shown start, shown end
    n_missing: int = 0  # alignable GT sentences without a stored sentence (count as misses)


def folder(family: str, seed: int) -> Path:
    return CACHE / f"{family}_s{seed}"


def load_family(family: str, seed: int, *, n_videos: int | None = None) -> FamilyData:
    """Generate / ingest / featurise (each once) and load one folder of `family`."""
    path = folder(family, seed)
    cached = path / ".aligner" / ITEMS_FILE
    if cached.is_file():
        with cached.open("rb") as f:
            return pickle.load(f)
    if not (path / "annotations" / "htm_align.json").is_file():
        write_folder(path, family, seed, n_videos)
    data = _featurise(path, f"{family}_s{seed}")
    with cached.open("wb") as f:
        pickle.dump(data, f)
    return data


def _featurise(path: Path, name: str) -> FamilyData:
    from aligner.evaluate import match_sentences, read_ground_truth
    from aligner.features import compute_features
    from aligner.ingest import ingest_dataset
    from aligner.store import Store
    from aligner.tan.train import load_items
    from aligner.workspace import open_workspace

    ws = open_workspace(path)
    ingest_dataset(ws, progress=False)
    compute_features(ws, progress=False)
    with Store(ws.db_path) as store:
        items, spec, _ = load_items(ws, store)
        truths = match_sentences(read_ground_truth(path / "annotations" / "htm_align.json"),
                                 store.sentences())  # fmt: skip
    where = {sid: (i, k) for i, it in enumerate(items) for k, sid in enumerate(it.sentence_ids)}
    truth = [np.full((len(it.text), 3), np.nan) for it in items]
    missing = 0
    for t in truths:
        if t.sentence_id in where:
            i, k = where[t.sentence_id]
            truth[i][k] = (float(t.alignable), t.start, t.end)
        elif t.alignable:
            missing += 1
    return FamilyData(name, items, spec, truth, missing)


# -- scoring -----------------------------------------------------------------------------------
def predict_family(model, data: FamilyData) -> list:
    """`VideoPrediction` of every item of the folder."""
    from aligner.tan.infer import predict_video

    return [predict_video(model, it.video, it.text, it.start, it.end, video_id=it.video_id)
            for it in data.items]  # fmt: skip


def method_rows(data: FamilyData, preds: list, *, dual: bool = False) -> list[dict]:
    """Per item, the `sentence_rows` (peak, alignability) of the fused or the dual branch."""
    from aligner.tan.infer import sentence_rows

    rows = []
    for pred in preds:
        r = sentence_rows(pred)
        if dual:
            r = [{"peak": x["dual_peak"], "alignability": x["dual_alignability"]} for x in r]
        rows.append(r)
    return rows


def asr_rows(data: FamilyData) -> list[list[dict]]:
    return [[{"peak": (a + b) / 2, "alignability": 0.5} for a, b in zip(it.start, it.end,
             strict=True)] for it in data.items]  # fmt: skip


def metrics(data: FamilyData, rows: list[list[dict]]) -> dict:
    """R@1 and ROC-AUC (HTM-Align rules) of per-item rows against the folder's ground truth;
    plus (label, score) pairs for calibration."""
    from aligner.evaluate import is_hit, roc_auc

    hits, labels, scores = [], [], []
    for truth, item_rows in zip(data.truth, rows, strict=True):
        for (alignable, start, end), row in zip(truth, item_rows, strict=True):
            if np.isnan(alignable):
                continue
            labels.append(bool(alignable))
            scores.append(float(row["alignability"]))
            if alignable:
                hits.append(is_hit(float(row["peak"]), start, end))
    hits += [False] * data.n_missing
    return {"r_at_1": float(np.mean(hits)), "roc_auc": roc_auc(labels, scores),
            "labels": labels, "scores": scores}  # fmt: skip
