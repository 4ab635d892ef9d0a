"""Text -> moment retrieval recall over HTM-Align-format ground truth.

Each alignable ground-truth sentence is a query searched across the whole dataset
(`aligner.search`: every video's seconds compete); its target is its own video's window.

- overlap hit (the headline `recall`): one of the top K moments is in the sentence's video and
  shares a second with the window, using the HTM-Align R@1 bounds: the moment [a, b) (seconds
  a..b-1) meets floor(start)..ceil(end).
- peak hit (`recall_peak`, stricter): the moment's best second itself lies in floor(start) ..
  ceil(end), the R@1 rule applied to the moment's peak; a long moment cannot hit by its width.
Recall@K = hits / alignable sentences, for K in `KS`; the median moment length is reported too,
since overlap recall grows with moment length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

KS = (1, 5, 10)  # Recall@K reported


def overlap_hit(moment, video_id: str, start: float, end: float) -> bool:
    """The moment is in `video_id` and one of its seconds lies in floor(start)..ceil(end)."""
    if moment.video_id != video_id:
        return False
    return moment.start <= math.ceil(end) and moment.end - 1 >= math.floor(start)


def peak_hit(moment, video_id: str, start: float, end: float) -> bool:
    return moment.video_id == video_id and math.floor(start) <= moment.peak <= math.ceil(end)


def recall_at_k(results: Sequence[Sequence[Any]], targets: Sequence[tuple[str, float, float]],
                hit=overlap_hit, ks: Sequence[int] = KS) -> dict[str, float | None]:  # fmt: skip
    """`{"r@1": ..., "r@5": ...}`: share of queries with a hit among their first K moments."""
    if not targets:
        return {f"r@{k}": None for k in ks}
    first = [next((i for i, m in enumerate(ms) if hit(m, *t)), None) for ms, t in
             zip(results, targets, strict=True)]  # fmt: skip
    return {f"r@{k}": float(np.mean([f is not None and f < k for f in first])) for k in ks}


def retrieval_metrics(ws, truths, *, checkpoint=None, store=None) -> dict[str, Any]:
    """Recall@1/5/10 (overlap and peak) of the alignable `truths` (`evaluate.Truth`) as queries
    over the dataset's search index of `checkpoint` (default: the latest tan run's)."""
    from aligner.search import search_texts

    queries = [t for t in truths if t.alignable]
    if not queries:
        return {"n_queries": 0, "recall": {}, "recall_peak": {}}
    results = search_texts(ws, [t.text for t in queries], top=max(KS), checkpoint=checkpoint,
                           store=store)  # fmt: skip
    targets = [(t.video_id, t.start, t.end) for t in queries]
    lengths = [m.end - m.start for ms in results for m in ms[:1]]
    return {
        "n_queries": len(queries),
        "recall": recall_at_k(results, targets, overlap_hit),
        "recall_peak": recall_at_k(results, targets, peak_hit),
        "median_top1_moment_s": float(np.median(lengths)) if lengths else None,
    }


def format_retrieval(metrics: dict[str, Any]) -> str:
    """One line per hit rule: R@1 / R@5 / R@10 in percent."""
    if not metrics.get("n_queries"):
        return "retrieval: no alignable queries"
    lines = [f"retrieval over the whole dataset ({metrics['n_queries']} queries):"]
    for key, label in (("recall", "moment overlaps window"), ("recall_peak", "moment peak in")):
        cells = "  ".join(f"{k.upper()} {_pct(v)}" for k, v in metrics[key].items())
        lines.append(f"  {label:<24}{cells}")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def evaluate_retrieval(ws, truths, run: dict | None, store) -> dict[str, Any]:
    """`retrieval_metrics` with the checkpoint of the evaluated `run`; a run whose checkpoint is
    gone (or unreadable) gives `{"skipped": reason}` instead of failing the evaluation."""
    from pathlib import Path

    from aligner.errors import AlignerError

    checkpoint = (run or {}).get("checkpoint")
    if not checkpoint or not Path(checkpoint).is_file():
        return {"skipped": f"the run's checkpoint {checkpoint!r} is not on disk"}
    try:
        return retrieval_metrics(ws, truths, checkpoint=checkpoint, store=store)
    except AlignerError as err:
        return {"skipped": str(err)}
