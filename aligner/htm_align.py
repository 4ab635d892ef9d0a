"""The HTM-Align benchmark scored as TAN's public eval code (`eval/eval_zeroshot_align.py`) does.

HTM-Align's ground-truth sentences come from TAN's own sentence splitter, so they rarely match
the sentences this tool derives. Here the ground-truth sentences *are* the queries: each video's
annotated texts go through the model as they are, and nothing from the store is used.

The annotation file is `{video_id: [[alignable 1|0, start_s, end_s, text], ...]}` (80 videos,
texts lower case without punctuation). There is no separate ASR file: an alignable row carries
its annotated (shown) times, a non-alignable row keeps its original ASR times. So, as in TAN:

- windows: `WINDOW_S`-second windows (the model's training window, TAN's `seq_len`) starting every
  window / 4 seconds while `t0 < T - window / 2`, T = the number of feature rows;
- which sentences join a window is decided from ASR times only, never the annotated ones: the
  non-alignable sentences whose time midpoint lies in `[t0 - window, t0 + 2 window]` give the
  first and last row index, and every sentence between them (alignable ones included) joins; the
  first four windows extend to the first sentence, else the last four to the last one; a window
  with no such non-alignable sentence is skipped;
- each window is one model pass over its seconds and its sentences; similarities (cosine / tau)
  and alignability-head logits are averaged over the windows that saw them;
- R@1: the fused similarity `(joint + dual) / 2` with uncovered (zero) cells set to `MASKED`,
  softmax over time, argmax t; a hit when `floor(start) <= t <= ceil(end)`, pooled over every
  alignable sentence of every video;
- ROC-AUC: pooled over all sentences, the alignable flag vs the joint head's mean logit (0 for a
  sentence no window saw).

Beside it, from the same passes: `joint` and `dual` (R@1 from one branch; the dual one with the
head on the dual text tokens), and `max_sim` (alignability = the maximum of the masked fused
similarity over time, as TAN scored the models without a head, e.g. CLIP and MIL-NCE).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aligner.corpus import ANNOTATIONS
from aligner.errors import AlignerError, InputError
from aligner.evaluate import (
    Truth,
    is_hit,
    read_ground_truth,
    report_line,
    roc_auc,
)
from aligner.numeric import softmax

PROTOCOL = "htm-align"
MASKED = -6e4  # TAN's value for cells no window saw (exp() underflows to 0 in the softmax)
EDGE_WINDOWS = 4  # TAN: the first / last four windows reach the first / last sentence
COUNT_EPS = 1e-5  # TAN divides sums by max(count, eps): a never-seen value stays 0
PROB_EPS = 1e-15  # head probabilities are clipped to [eps, 1 - eps] before going back to logits
VARIANTS = ("joint", "dual", "max_sim")


@dataclass(frozen=True)
class Window:
    """One inference window: seconds `[t0, t1)` and the sentence rows that join it."""

    t0: int
    t1: int
    rows: np.ndarray


def window_starts(t: int, window: int) -> list[int]:
    """TAN's window starts: every `window // 4` s while `t0 < t - window // 2` (none when the
    video is shorter than half a window)."""
    return list(range(0, t - window // 2, max(1, window // 4)))


def tan_windows(
    t: int, alignable: np.ndarray, start: np.ndarray, end: np.ndarray, window: int
) -> list[Window]:
    """The windows and their sentences (see the module doc); `alignable`, `start`, `end` are the
    annotation's `(K,)` columns, of which only the non-alignable rows' times (ASR) are read."""
    alignable = np.asarray(alignable, dtype=bool)
    mid = (np.asarray(start, float) + np.asarray(end, float)) / 2
    asr_rows = np.flatnonzero(~alignable)
    starts = window_starts(t, window)
    out = []
    for i, t0 in enumerate(starts):
        near = asr_rows[(t0 - window <= mid[asr_rows]) & (mid[asr_rows] <= t0 + 2 * window)]
        if not len(near):
            continue
        first, last = int(near.min()), int(near.max())
        if i < EDGE_WINDOWS:
            first = 0
        elif i >= len(starts) - EDGE_WINDOWS:  # TAN's elif: a short video extends only left
            last = len(alignable) - 1
        out.append(Window(t0, min(t, t0 + window), np.arange(first, last + 1)))
    return out


# -- stitching the windows' outputs ----------------------------------------------------------
@dataclass
class Stitched:
    """One video's window outputs averaged: similarities `(K, T)`, head logits `(K,)`."""

    joint: np.ndarray
    dual: np.ndarray
    head_logit: np.ndarray
    dual_head_logit: np.ndarray
    seen: np.ndarray  # (K,) how many windows each sentence joined

    def masked(self, branch: str = "fused") -> np.ndarray:
        """The similarity of `branch` (fused | joint | dual) with the zero cells set to MASKED."""
        sim = {"fused": (self.joint + self.dual) / 2, "joint": self.joint, "dual": self.dual}
        return np.where(sim[branch] == 0, MASKED, sim[branch])

    def peaks(self, branch: str = "fused") -> np.ndarray:
        """`(K,)` argmax over time of the softmax over time of the masked similarity."""
        return softmax(self.masked(branch)).argmax(axis=1)


def head_logit(prob: np.ndarray) -> np.ndarray:
    """The logit behind a head probability (`VideoPrediction.head` is its sigmoid)."""
    p = np.clip(np.asarray(prob, dtype=np.float64), PROB_EPS, 1 - PROB_EPS)
    return np.log(p) - np.log1p(-p)


def stitch(k: int, t: int, windows: Sequence[Window], outputs: Sequence[Any]) -> Stitched:
    """Average per-window `VideoPrediction`s (`joint_sim`, `dual_sim` `(K_w, T_w)`, `head`,
    `dual_head` `(K_w,)`) into the whole video's `(K, T)` / `(K,)` arrays, as TAN does."""
    sums = {"joint": np.zeros((k, t)), "dual": np.zeros((k, t))}
    count = np.zeros((k, t))
    logits, dual_logits, seen = np.zeros(k), np.zeros(k), np.zeros(k)
    for w, out in zip(windows, outputs, strict=True):
        rows, cols = w.rows[:, None], np.arange(w.t0, w.t1)[None, :]
        sums["joint"][rows, cols] += out.joint_sim
        sums["dual"][rows, cols] += out.dual_sim
        count[rows, cols] += 1
        logits[w.rows] += head_logit(out.head)
        dual_logits[w.rows] += head_logit(out.dual_head)
        seen[w.rows] += 1
    count, per_text = np.maximum(count, COUNT_EPS), np.maximum(seen, COUNT_EPS)
    return Stitched(sums["joint"] / count, sums["dual"] / count, logits / per_text,
                    dual_logits / per_text, seen)  # fmt: skip


# -- one video's contribution, and the pooled metrics -----------------------------------------
@dataclass
class VideoScore:
    """What one video adds to the pooled metrics, per method (`tan` + `VARIANTS`)."""

    video_id: str
    alignable: np.ndarray  # (K,) bool
    hits: dict[str, np.ndarray]  # method -> (K_alignable,) bool
    scores: dict[str, np.ndarray]  # method -> (K,) alignability score
    n_windows: int = 0
    n_unseen: int = 0  # sentences no window saw


def score_video(video_id: str, truths: Sequence[Truth], stitched: Stitched, n_windows: int):
    """Hits and alignability scores of one video's sentences (rows in annotation order)."""
    alignable = np.array([t.alignable for t in truths], dtype=bool)
    spans = [(t.start, t.end) for t in truths if t.alignable]

    def hits(branch: str) -> np.ndarray:
        peaks = stitched.peaks(branch)[alignable]
        return np.array([is_hit(float(p), s, e) for p, (s, e) in zip(peaks, spans, strict=True)],
                        dtype=bool)  # fmt: skip

    fused_hits = hits("fused")
    return VideoScore(
        video_id,
        alignable,
        hits={
            "tan": fused_hits,
            "joint": hits("joint"),
            "dual": hits("dual"),
            "max_sim": fused_hits,
        },  # fmt: skip
        scores={
            "tan": stitched.head_logit,
            "joint": stitched.head_logit,
            "dual": stitched.dual_head_logit,
            "max_sim": stitched.masked("fused").max(axis=1),
        },  # fmt: skip
        n_windows=n_windows,
        n_unseen=int((stitched.seen == 0).sum()),
    )


def pooled_metrics(videos: Sequence[VideoScore], method: str = "tan") -> dict[str, Any]:
    """R@1 over every alignable sentence and ROC-AUC over every sentence, all videos pooled."""
    hits = np.concatenate([v.hits[method] for v in videos]) if videos else np.zeros(0, bool)
    labels = np.concatenate([v.alignable for v in videos]) if videos else np.zeros(0, bool)
    scores = np.concatenate([v.scores[method] for v in videos]) if videos else np.zeros(0)
    return {
        "r_at_1": float(hits.mean()) if len(hits) else None,
        "roc_auc": roc_auc(labels, scores),
    }


# -- running the model ------------------------------------------------------------------------
def predict_windows(
    model, video: Sequence[np.ndarray], text: np.ndarray, windows: Sequence[Window],
    video_id: str | None = None,
):  # fmt: skip
    """One `VideoPrediction` per window: a single pass over its seconds and its sentences (the
    "global" mode of `predict_video` on a clip no longer than the training window); `video_id`
    for the look bank (`predict_video`)."""
    from aligner.tan.infer import predict_video

    out = []
    for w in windows:
        clip = [v[w.t0 : w.t1] for v in video]
        none = np.zeros(len(w.rows))  # ASR times: unused by a single pass
        out.append(predict_video(model, clip, text[w.rows], none, none, mode="global",
                                 video_id=video_id))  # fmt: skip
    return out


def evaluate_video(model, video_id: str, truths: Sequence[Truth], video, text) -> VideoScore:
    """Windows, model passes, stitching and scores for one video; `video` one `(T, D_i)` per
    backbone, `text` `(K, Dt)` for the annotation's sentences in order."""
    t = min(v.shape[0] for v in video)
    video = [np.asarray(v[:t], dtype=np.float32) for v in video]
    alignable = np.array([x.alignable for x in truths], dtype=bool)
    start = np.array([x.start for x in truths])
    end = np.array([x.end for x in truths])
    windows = tan_windows(t, alignable, start, end, model.cfg.window_s)
    preds = predict_windows(model, video, text, windows, video_id)
    stitched = stitch(len(truths), t, windows, preds)
    return score_video(video_id, truths, stitched, len(windows))


# -- features of the benchmark's videos -------------------------------------------------------
class VideoFeatures:
    """The visual features a checkpoint reads, for videos that need not be ingested:
    `precomputed:<name>` from `DATASET/features/<name>/<id>[.mp4].npy` (every row: TAN's T is the
    feature length), other backbones from `DATASET/videos/**/<id>.<ext>` (through the cache)."""

    def __init__(self, ws, names: Sequence[str]):
        from aligner.features.visual import PRECOMPUTED_PREFIX, get_visual_backbone

        self.ws, self.names, self._videos = ws, list(names), None
        self.backbones = [get_visual_backbone(n, dataset=ws.dataset) for n in self.names]
        self._precomputed = [n.startswith(PRECOMPUTED_PREFIX) for n in self.names]

    def load(self, video_id: str) -> list[np.ndarray]:
        return [self._one(b, pre, video_id) for b, pre in zip(self.backbones, self._precomputed,
                                                                strict=True)]  # fmt: skip

    def _one(self, backbone, precomputed: bool, video_id: str) -> np.ndarray:
        from aligner.features.compute import video_features

        if precomputed:
            path = backbone.file(video_id)
            try:
                array = np.load(path, allow_pickle=False)
            except (ValueError, OSError, EOFError) as err:  # truncated or not an .npy file
                raise InputError(path, f"not a readable .npy array ({err})") from None
            if array.ndim != 2 or not len(array):
                raise InputError(path, f"expected a 2-D (seconds x dims) array, got {array.shape}")
            return array.astype(np.float32)
        return video_features(self.ws, backbone, self._video_ref(video_id))[0]

    def _video_ref(self, video_id: str):
        from aligner.corpus import VIDEO_EXTENSIONS
        from aligner.features.visual import VideoRef
        from aligner.frames import probe

        if self._videos is None:  # one walk of videos/ for the whole benchmark
            root = Path(self.ws.dataset) / "videos"
            self._videos = {p.stem: p for p in sorted(root.rglob("*"))
                            if p.suffix.lower() in VIDEO_EXTENSIONS}  # fmt: skip
        path = self._videos.get(video_id)
        if path is None:
            raise AlignerError(f"{video_id}: no video file under {self.ws.dataset / 'videos'}")
        return VideoRef(video_id, path, float(probe(path).duration), Path(self.ws.dataset))


# -- the benchmark over a dataset folder -------------------------------------------------------
STAGE1 = "tan_stage1"  # the baseline run from the checkpoint's stage-1 sibling, when it exists


@dataclass
class BenchmarkRun:
    scores: dict[str, list[VideoScore]]  # model name -> one score per scored video
    failed: list[str] = field(default_factory=list)


def run_benchmark(
    ws,
    *,
    ground_truth: str | Path | None = None,
    checkpoint: str | Path | None = None,
    baselines: bool = True,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Score `checkpoint` (default `ws.root/checkpoints/tan.pt`) on the HTM-Align file
    `ground_truth` (default `DATASET/annotations/htm_align.json`); returns the report dict
    (`r_at_1`, `roc_auc`, counts, `variants`, `baselines`, `failed`). With `baselines`, the
    stage-1 sibling checkpoint (TAN before co-training) is scored too when it exists. A video
    whose features cannot be read is listed in `failed` and left out; the rest is scored."""
    from aligner.tan.checkpoints import default_checkpoint, load_checkpoint, stage1_sibling

    gt_path = Path(ground_truth) if ground_truth else ws.dataset / ANNOTATIONS
    by_video = group_by_video(read_ground_truth(gt_path))
    ckpt = Path(checkpoint) if checkpoint else default_checkpoint(ws)
    models = {"tan": load_checkpoint(ckpt)[0]}
    if baselines and stage1_sibling(ckpt).is_file():
        models[STAGE1] = load_checkpoint(stage1_sibling(ckpt), expect=models["tan"].spec)[0]
    started = time.perf_counter()
    run = _run_videos(ws, models, by_video, progress)
    if not run.scores["tan"]:
        reason = run.failed[0] if run.failed else "the file has no videos"
        raise AlignerError(f"{gt_path}: no video could be scored ({reason})")
    return _report(run, gt_path, ckpt, time.perf_counter() - started)


def group_by_video(truths: Sequence[Truth]) -> dict[str, list[Truth]]:
    """`{video_id: rows in file order}`, videos sorted by id as TAN's loader does."""
    grouped: dict[str, list[Truth]] = {}
    for t in truths:
        grouped.setdefault(t.video_id, []).append(t)
    return dict(sorted(grouped.items()))


def _run_videos(ws, models: dict[str, Any], by_video: dict[str, list[Truth]], progress):
    """Each video's features are read once and scored with every model (same features)."""
    from tqdm import tqdm

    from aligner import features

    spec = models["tan"].spec
    run, source = BenchmarkRun({name: [] for name in models}), VideoFeatures(ws, spec.visual)
    bar = tqdm(by_video.items(), desc="htm-align", unit="video", total=len(by_video),
               file=sys.stderr, disable=None if progress is None else not progress)  # fmt: skip
    for video_id, truths in bar:
        try:
            video = source.load(video_id)
            _check_dims(video_id, [v.shape[1] for v in video], spec.visual_dims)
            text = features.load_text_features(ws, [t.text for t in truths], spec.text)
        except AlignerError as err:
            run.failed.append(f"{video_id}: {err}")
            bar.write(f"aligner evaluate: {video_id}: {err}", file=sys.stderr)
            continue
        for name, model in models.items():
            run.scores[name].append(evaluate_video(model, video_id, truths, video, text))
    return run


def _check_dims(video_id: str, got: list[int], expected: Sequence[int]) -> None:
    if list(got) != list(expected):
        raise AlignerError(
            f"{video_id}: video features have dims {got}, the model expects {list(expected)}"
        )


def _report(run: BenchmarkRun, gt_path: Path, ckpt: Path, seconds: float) -> dict[str, Any]:
    scores = run.scores["tan"]
    n = sum(len(v.alignable) for v in scores)
    return {
        "protocol": PROTOCOL,
        **pooled_metrics(scores),
        "ground_truth": str(gt_path),
        "checkpoint": str(ckpt),
        "n_videos": len(scores),
        "n_sentences": n,
        "n_alignable": int(sum(v.alignable.sum() for v in scores)),
        "n_matched": n,  # the ground-truth sentences are the queries
        "n_windows": sum(v.n_windows for v in scores),
        "n_unseen": sum(v.n_unseen for v in scores),
        "failed": run.failed,
        "seconds": round(seconds, 2),
        "variants": {m: pooled_metrics(scores, m) for m in VARIANTS},
        "baselines": {name: pooled_metrics(s) for name, s in run.scores.items() if name != "tan"},
    }


def format_benchmark_report(report: dict[str, Any]) -> str:
    """A small table in percent, like TAN's README (R@1, ROC-AUC)."""
    lines = [
        f"HTM-Align protocol (TAN's eval): {report['ground_truth']}",
        f"checkpoint: {report['checkpoint']}",
        f"{report['n_videos']} videos, {report['n_sentences']} sentences"
        f" ({report['n_alignable']} alignable), {report['n_windows']} windows,"
        f" {report['n_unseen']} sentences in no window",
        f"{'method':<40}{'R@1':>8}{'ROC-AUC':>10}",
        report_line("TAN (fused sim, joint head)", report, 40),
    ]
    names = {"joint": "joint encoder sim, joint head", "dual": "dual encoder sim, dual head",
             "max_sim": "fused sim, max sim as alignability"}  # fmt: skip
    lines += [report_line(label, report["variants"][key], 40) for key, label in names.items()]
    if STAGE1 in report["baselines"]:
        lines.append(report_line("TAN before co-training", report["baselines"][STAGE1], 40))
    if report["failed"]:
        lines.append(f"{len(report['failed'])} video(s) not scored: {report['failed'][0]}")
    return "\n".join(lines)
