"""Agreement between the model and curators, and between curators (the review app's stats page).

Times in seconds. R@1 and ROC-AUC are `aligner.evaluate`'s (HTM-Align protocol: a hit when the
predicted peak second t satisfies floor(start) <= t <= ceil(end) of the curator's window).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from aligner.evaluate import recall_at_1, roc_auc


def temporal_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two [start, end] windows (0 when they do not overlap)."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def boundary_error(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Mean absolute difference of the start and end boundaries, seconds."""
    return (abs(a[0] - b[0]) + abs(a[1] - b[1])) / 2


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa of two raters' yes/no decisions on the same items (None when undefined)."""
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    if expected == 1:
        return 1.0 if observed == 1 else None
    return (observed - expected) / (1 - expected)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def model_agreement(rows: Sequence[dict]) -> dict:
    """Model vs curator on decided sentences.

    `rows` carry the label (`alignable`, `label_start`, `label_end`) and the prediction
    (`alignability`, `pred_start`, `pred_end`, `peak`; None when the run did not predict it).
    """
    rows = [r for r in rows if r.get("alignability") is not None and r["alignable"] is not None]
    spans = [r for r in rows if r["alignable"] and r["label_start"] is not None]
    windows = [(r["label_start"], r["label_end"]) for r in spans]
    preds = [(r["pred_start"], r["pred_end"]) for r in spans]
    return {
        "n_labels": len(rows),
        "n_alignable": len(spans),
        "r_at_1": recall_at_1(
            [r["peak"] for r in spans], [w[0] for w in windows], [w[1] for w in windows]
        ),  # fmt: skip
        "roc_auc": roc_auc([bool(r["alignable"]) for r in rows], [r["alignability"] for r in rows]),
        "boundary_error_s": _mean(
            [boundary_error(p, w) for p, w in zip(preds, windows, strict=True)]
        ),
        "iou": _mean([temporal_iou(p, w) for p, w in zip(preds, windows, strict=True)]),
    }


def curator_agreement(decisions: Sequence[dict]) -> dict:
    """Curator vs curator where two (or more) decided the same sentence; every pair counts.

    `decisions`: one dict per (sentence, curator) with sentence_id, curator, alignable, start, end.
    """
    by_sentence: dict[int, list[dict]] = {}
    for d in decisions:
        by_sentence.setdefault(d["sentence_id"], []).append(d)
    pairs = [p for ds in by_sentence.values() for p in combinations(ds, 2)]
    both = [(x, y) for x, y in pairs if x["alignable"] and y["alignable"]]
    spans = [((x["start"], x["end"]), (y["start"], y["end"])) for x, y in both]
    return {
        "n_sentences": sum(len(ds) > 1 for ds in by_sentence.values()),
        "n_pairs": len(pairs),
        "kappa": cohen_kappa(
            [bool(x["alignable"]) for x, _ in pairs], [bool(y["alignable"]) for _, y in pairs]
        ),  # fmt: skip
        "boundary_error_s": _mean([boundary_error(a, b) for a, b in spans]),
        "iou": _mean([temporal_iou(a, b) for a, b in spans]),
    }
