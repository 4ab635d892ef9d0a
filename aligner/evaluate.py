"""R@1 and ROC-AUC of stored predictions with the HTM-Align protocol (TAN's public eval code).

- R@1: over the alignable ground-truth sentences, a hit when the predicted peak second t
  satisfies floor(start) <= t <= ceil(end). An alignable sentence with no matching stored
  sentence (or no prediction) counts as a miss.
- ROC-AUC: over all ground-truth sentences, the alignable flag vs the predicted alignability; a
  sentence without a prediction scores below every prediction (it was not found alignable).

Ground truth is HTM-Align JSON `{video_id: [[alignable 1|0, start_s, end_s, text], ...]}`
(default `DATASET/annotations/htm_align.json`) matched to stored sentences by video and
normalised text, in order; or "labels": the curators' current decisions in the store.

Baselines beside the model: the ASR timestamp (peak = ASR midpoint, a constant alignability so
AUC 0.5), the dual encoder alone (the "tan" run's dual columns), and TAN before co-training (the
latest "tan-stage1" run).

This scores *stored* predictions of the tool's own sentences. The real HTM-Align benchmark,
whose sentences come from TAN's splitter, is scored by `aligner.htm_align` instead (the
ground-truth sentences are the queries, as in TAN's eval; `evaluate --protocol htm-align`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aligner.corpus import ANNOTATIONS
from aligner.errors import AlignerError, InputError
from aligner.retrieval import evaluate_retrieval, format_retrieval

LABELS = "labels"  # --ground-truth value selecting the curators' labels
_NON_WORD = re.compile(r"[^\w\s]+")
_APOSTROPHES = re.compile(r"['\u2019]")  # "that's" and "thats" are the same words


@dataclass(frozen=True)
class Truth:
    """One ground-truth sentence; `sentence_id` is None until matched to the store."""

    video_id: str
    alignable: bool
    start: float
    end: float
    text: str
    sentence_id: int | None = None


# -- metrics -----------------------------------------------------------------------------------
def is_hit(peak: float | None, start: float, end: float) -> bool:
    """HTM-Align R@1 rule: floor(start) <= peak <= ceil(end); no prediction is a miss."""
    if peak is None or (isinstance(peak, float) and math.isnan(peak)):
        return False
    return math.floor(start) <= peak <= math.ceil(end)


def recall_at_1(peaks: Sequence[float | None], starts: Sequence[float], ends: Sequence[float]):
    """Share of hits over the given (alignable) sentences; None when there are none."""
    if not len(peaks):
        return None
    hits = [is_hit(p, s, e) for p, s, e in zip(peaks, starts, ends, strict=True)]
    return float(np.mean(hits))


def roc_auc(labels: Sequence[bool | int], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve by ranks (Mann-Whitney U), ties counted half.

    None when only one class is present (the AUC is undefined)."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    # average rank of each group of ties (1-based)
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def score(truths: Sequence[Truth], preds: dict[int, dict[str, Any]], *, peak="peak",
          align="alignability") -> dict[str, Any]:  # fmt: skip
    """R@1 and ROC-AUC of one prediction source: `preds` maps sentence_id to a row with the
    `peak` and `align` keys."""
    alignable = [t for t in truths if t.alignable]
    peaks = [_get(preds, t.sentence_id, peak) for t in alignable]
    r1 = recall_at_1(peaks, [t.start for t in alignable], [t.end for t in alignable])
    scores = [_get(preds, t.sentence_id, align) for t in truths]
    floor = min([s for s in scores if s is not None], default=0.0) - 1.0
    auc = roc_auc([t.alignable for t in truths], [floor if s is None else s for s in scores])
    return {"r_at_1": r1, "roc_auc": auc}


def _get(preds: dict[int, dict[str, Any]], sentence_id: int | None, key: str):
    if sentence_id is None or sentence_id not in preds:
        return None
    value = preds[sentence_id].get(key)
    return None if value is None else float(value)


# -- ground truth ------------------------------------------------------------------------------
def normalise_text(text: str) -> str:
    """Lower case, apostrophes dropped, other punctuation a space, whitespace collapsed: how
    ground truth meets stored sentences ("That's it!" and HTM-Align's "thats it" agree)."""
    return " ".join(_NON_WORD.sub(" ", _APOSTROPHES.sub("", text.lower())).split())


def read_ground_truth(path: str | Path) -> list[Truth]:
    """HTM-Align JSON -> `Truth` list (unmatched); a malformed file is an `InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "ground-truth file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [_truth_row(str(vid), n, row) for vid, rows in data.items()
                for n, row in enumerate(rows)]  # fmt: skip
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as err:
        raise InputError(
            path, f"not HTM-Align JSON {{video: [[alignable, start, end, text]]}} ({err})"
        ) from None


def _truth_row(video_id: str, n: int, row) -> Truth:
    """One `[alignable 1|0, start_s, end_s, text]` row (the real file's ints, or booleans)."""
    if isinstance(row, str | dict) or row[0] not in (0, 1):
        raise ValueError(f"video {video_id!r} row {n}: expected [alignable 1|0, start, end, text]")
    start, end = float(row[1]), float(row[2])
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ValueError(f"video {video_id!r} row {n}: start/end must be numbers of seconds")
    return Truth(video_id, bool(row[0]), start, end, str(row[3]))


def match_sentences(truths: Sequence[Truth], stored: Sequence[Any]) -> list[Truth]:
    """Attach `sentence_id`s: per video, each GT sentence takes the next stored sentence (in
    `idx` order, after the previous match) with the same normalised text."""
    by_video: dict[str, list[Any]] = {}
    for s in stored:
        by_video.setdefault(s.video_id, []).append(s)
    cursor: dict[str, int] = {}
    out = []
    for t in truths:
        rows = by_video.get(t.video_id, [])
        want, pos = normalise_text(t.text), cursor.get(t.video_id, 0)
        found = next((i for i in range(pos, len(rows)) if normalise_text(rows[i].text) == want),
                     None)  # fmt: skip
        if found is None:
            out.append(t)
            continue
        cursor[t.video_id] = found + 1
        out.append(Truth(t.video_id, t.alignable, t.start, t.end, t.text, rows[found].sentence_id))
    return out


def labels_as_truth(store) -> list[Truth]:
    """The curators' current decisions (skipped ones left out) as ground truth."""
    sentences = {s.sentence_id: s for s in store.sentences()}
    truths = []
    for row in store.current_labels():
        s = sentences.get(int(row["sentence_id"]))
        if s is None or row.get("alignable") is None or row.get("status") == "skipped":
            continue
        start = row["start"] if row.get("start") is not None else s.start
        end = row["end"] if row.get("end") is not None else s.end
        truths.append(Truth(s.video_id, bool(row["alignable"]), float(start), float(end),
                            s.text, s.sentence_id))  # fmt: skip
    return truths


# -- a dataset workspace -----------------------------------------------------------------------
def evaluate_dataset(
    ws, ground_truth: str | Path | None = None, *, run_id: str | None = None
) -> dict[str, Any]:
    """Metrics of the latest "tan" run (or `run_id`) and the baselines; see the module doc."""
    from aligner.store import Store

    with Store(ws.db_path) as store:
        truths, source = _truths(ws, store, ground_truth)
        run = store.run(run_id) if run_id else store.latest_run(model="tan")
        if run is None and run_id:
            raise AlignerError(f"{ws.db_path}: no run {run_id!r}")
        if run is None:
            raise AlignerError(f"{ws.db_path}: no predictions yet (run `aligner predict` first)")
        model = _rows_by_sentence(store.predictions(run["run_id"]))
        stage1_run = store.latest_run(model="tan-stage1")
        stage1 = _rows_by_sentence(store.predictions(stage1_run["run_id"])) if stage1_run else {}
        asr = {s.sentence_id: {"peak": (s.start + s.end) / 2, "alignability": 0.5}
               for s in store.sentences()}  # fmt: skip
        retrieval = evaluate_retrieval(ws, truths, run, store)  # text -> moment Recall@K
    report: dict[str, Any] = {
        **score(truths, model),
        "run_id": run["run_id"],
        "ground_truth": source,
        "n_sentences": len(truths),
        "n_alignable": sum(t.alignable for t in truths),
        "n_matched": sum(t.sentence_id is not None for t in truths),
        "n_videos": len({t.video_id for t in truths}),
    }
    report["baselines"] = {
        "asr": score(truths, asr),
        "dual": score(truths, model, peak="dual_peak", align="dual_alignability"),
    }
    report["retrieval"] = retrieval
    if stage1_run:
        report["baselines"]["tan_stage1"] = {
            **score(truths, stage1),
            "run_id": stage1_run["run_id"],
        }
    return report


def _truths(ws, store, ground_truth) -> tuple[list[Truth], str]:
    if ground_truth == LABELS:
        truths = labels_as_truth(store)
        if not truths:
            raise AlignerError(f"{ws.db_path}: no curator labels yet (review some sentences)")
        return truths, LABELS
    path = Path(ground_truth) if ground_truth else ws.dataset / ANNOTATIONS
    return match_sentences(read_ground_truth(path), store.sentences()), str(path)


def _rows_by_sentence(rows: Sequence[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(r["sentence_id"]): r for r in rows}


def format_report(report: dict[str, Any]) -> str:
    """A small table: the model and each baseline, R@1 and ROC-AUC in percent."""
    lines = [
        f"ground truth: {report['ground_truth']}",
        f"sentences: {report['n_sentences']} ({report['n_alignable']} alignable,"
        f" {report['n_matched']} matched to stored sentences) in {report['n_videos']} videos",
        f"{'method':<28}{'R@1':>8}{'ROC-AUC':>10}",
        report_line("TAN (co-trained)", report),
    ]
    names = {"tan_stage1": "TAN before co-training", "dual": "dual encoder alone",
             "asr": "ASR timestamp"}  # fmt: skip
    for key, label in names.items():
        if key in report["baselines"]:
            lines.append(report_line(label, report["baselines"][key]))
    if report.get("retrieval", {}).get("n_queries"):
        lines.append(format_retrieval(report["retrieval"]))
    return "\n".join(lines)


def report_line(label: str, metrics: dict[str, Any], width: int = 28) -> str:
    """One table row: the label, then R@1 and ROC-AUC in percent ("n/a" when undefined)."""
    return f"{label:<{width}}{percent(metrics['r_at_1']):>8}{percent(metrics['roc_auc']):>10}"


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"
