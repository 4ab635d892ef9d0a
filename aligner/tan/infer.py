"""Inference: per sentence, alignability, peak second and a start/end interval; the K x T similarity
saved (float16) for the review app.

Windowed mode (TAN's eval, the default): 64 s windows every 16 s; a sentence takes part in a
window when its ASR span, widened by `SENTENCE_MARGIN_S` on each side, overlaps it; each cell of
the K x T matrix is the mean over the windows that saw it (cells no window saw get
`UNCOVERED`, cosine -1). Global mode: one pass over the whole video with the temporal positions
of a training window stretched to its length.

Per sentence, from the similarity `(joint + dual) / 2` (TAN's eval fuses both branches) plus,
when the model has a look bank, the evidence of how sentences like it were seen in the
training folder's other videos (`aligner.tan.look_bank`; the bank is made by `build_look_bank`
at the end of training):
- peak: the index t of the second with the best similarity plus the ASR prior
  (`asr_prior`: a heavy-tailed Cauchy log-density around the ASR midpoint, `PRIOR_WEIGHT`
  logit units at `PRIOR_SCALE_S`): where the narration was said is evidence too, and it picks
  the right one of several seconds that look alike (a thing shown twice, a recurring scene);
  plus the sentence's claim on the second against the video's other sentences
  (`peak_evidence`: of two sentences about a thing shown twice, each takes its own showing);
- start/end: the contiguous run of seconds around the peak whose similarity stays within
  `SPAN_DROP` (= ln 2, i.e. a softmax probability over time of at least half the peak's) of the
  peak; start = first second, end = last second + 1, so at least 1 s;
- alignability: a calibrated probability (`calibrated`, a fixed logistic map fitted on the
  quality suite's development families) of `alignability_score`: the sentence's best
  similarity relative to the video's median sentence (what a sentence names is shown when it
  matches some second much better than the video's typical sentence; without the ASR prior,
  which says where a thing would be, not whether it is there) plus a share of the log
  probability of the alignability head on the sentence alone (trained on the co-training
  teacher's max-similarity ranks where its branches agree; averaged over the most similar
  sentences of the training folder, `sentence_bank`): a log probability, not a logit, so the
  head can only pull down what it is sure is never shown ("subscribe"), while among sentences
  that name a thing, whether it is there is left to the picture; plus a share of the
  sentence's kinship with the sentences that the training folder's other videos confidently
  showed (chit-chat matched nothing confidently anywhere) and of its presence: the share that
  sentences of its kind hold in the folder's softmax over what the best second shows (a thing
  named but never shown gets little), `look_bank.Evidence`;
- dual_alignability / dual_peak: the same from the dual encoder alone (the review app ranks
  doubtful sentences where the branches disagree).

Similarity alone or the head alone ranked worse on the quality suite than both together
(development folders, two training seeds, mean ROC-AUC 91.0 / 92.5 / 96.5).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aligner.errors import AlignerError
from aligner.features.visual import l2_normalise
from aligner.keys import file_sha256, inputs_key
from aligner.similarity import save_similarity
from aligner.tan import look_bank
from aligner.tan.config import TEMPERATURE
from aligner.tan.prior import PRIOR_SCALE_S, PRIOR_WEIGHT, asr_prior
from aligner.tan.sentence_bank import pooled_sentence_logits

__all__ = ["PRIOR_SCALE_S", "PRIOR_WEIGHT", "VideoPrediction", "asr_prior", "build_look_bank",
           "peak_interval", "predict_video", "sentence_rows"]  # fmt: skip

STRIDE_S = 16  # seconds between windows (TAN: a quarter of the 64 s window)
SENTENCE_MARGIN_S = 64.0  # a sentence may be shown this many seconds before / after its ASR
SPAN_DROP = math.log(2)  # start/end: similarity within ln 2 of the peak (prob >= half)
WINDOWS_PER_FORWARD = 32  # windows batched into one forward pass
# calibration of the alignability score (cosine units): p = sigmoid(scale * (score - centre)),
# a logistic fit on the quality suite's development folders (all four families pooled;
# leave-one-family-out ECE 0.02-0.08; on the report folders 0.02-0.07: see
# benchmarks/results/quality.json, "calibration" and "reliability")
ALIGN_SCALE, ALIGN_CENTRE = 6.37, 0.1014
# the alignability score's terms besides the best similarity: the sentence head's log
# probability, and what the look bank says of the sentence (`look_bank.Evidence`): its
# kinship with the sentences other videos of the training folder confidently showed, and its
# presence (is what such sentences showed in view here). Development folders, two training seeds, mean
# ROC-AUC over the 4 families: the prior-weighted best similarity + 0.1 x the joint head's
# logit + 0.2 x the sentence head's (before) 95.7; the same without the prior 96.1; without
# the prior + 0.5 x the sentence head's log probability 96.5 (0.4-0.75 within 0.1; the joint
# head added nothing); + 0.25 x log probability + 0.5 x kinship 96.8 (crowded +1.5);
# + 0.25 x presence as the best cosine to the neighbours' mean look 96.9; presence as the
# share of the folder's confident sentences of its kind in the best second's softmax (as now),
# + 0.75 x presence 97.6 (each family x seed pair up or level; 0.5 / 1.0 within 0.05)
TEXT_HEAD_WEIGHT, KINSHIP_WEIGHT, PRESENCE_WEIGHT = 0.25, 0.5, 0.75
# peaks: the weight of a sentence's claim on a second against the other sentences
# (`peak_evidence`). Development folders, mean R@1 over the 4 families: 0 -> 79.1, 1 -> 80.5
# with the 4-member ensemble; +1.5 on average over 5 single models (seeds 0-4), up on every
# family on average (0.5 and 2 gave less)
EXCLUSION_WEIGHT = 1.0
MODES = ("window", "global")


@dataclass
class VideoPrediction:
    """A video's predictions; similarities are cosine / tau, `(K, T)` float32."""

    joint_sim: np.ndarray
    dual_sim: np.ndarray
    head: np.ndarray  # (K,) probability from the alignability head (joint text tokens)
    dual_head: np.ndarray  # (K,) the same head on the dual text tokens
    asr_mid: np.ndarray  # (K,) seconds: the middle of each sentence's ASR span (the prior)
    temperature: float = TEMPERATURE  # tau of the similarities (cosine = sim * tau)
    # the dual encoder's unit embeddings, (T, d) per second and (K, d) per sentence (what the
    # look bank is made of and asked with)
    dual_video_emb: np.ndarray | None = None
    dual_text_emb: np.ndarray | None = None
    look: np.ndarray | None = None  # (K, T) logits from the model's look bank, when it has one
    # (K,) each `look_bank.Evidence` of the model's look bank, when it has one
    kinship: np.ndarray | None = None
    presence: np.ndarray | None = None

    @property
    def sim(self) -> np.ndarray:
        """The fused similarity that peaks, intervals and alignability come from, `(K, T)`:
        the branches' mean, plus the look bank's evidence (`aligner.tan.look_bank`)."""
        fused = (self.joint_sim + self.dual_sim) / 2
        return fused if self.look is None else fused + self.look

    @property
    def prior(self) -> np.ndarray:
        """`(K, T)` ASR prior in logit units, added to a similarity to pick the peak."""
        return asr_prior(self.sim.shape[1], self.asr_mid)

    @property
    def raw_alignability(self) -> np.ndarray:
        """`(K,)` uncalibrated `alignability_score` of the fused branches, the sentence head and
        the look bank's evidence."""
        return self._score(self.sim)

    @property
    def alignability(self) -> np.ndarray:
        """`(K,)` calibrated probability that the sentence is shown (fused branches)."""
        return calibrated(self.raw_alignability)

    @property
    def dual_alignability(self) -> np.ndarray:
        return calibrated(self._score(self.dual_sim))

    def _score(self, sim: np.ndarray) -> np.ndarray:
        """`alignability_score` of one branch's similarity with this video's other terms."""
        return alignability_score(sim, self.temperature, self.dual_head, self.kinship,
                                  self.presence)  # fmt: skip


def alignability_score(
    sim: np.ndarray,
    temperature: float,
    sentence_head: np.ndarray | None = None,
    kinship: np.ndarray | None = None,
    presence: np.ndarray | None = None,
) -> np.ndarray:
    """`(K,)` raw alignability from a similarity `(K, T)` (no prior): the sentence's best value
    (cosine units) minus the video's median sentence's best value (a video whose features
    match everything a little better shifts no sentence), plus `TEXT_HEAD_WEIGHT` x the log of
    the sentence head's probability `(K,)` that such a sentence is shown, plus
    `KINSHIP_WEIGHT` x its kinship (`(K,)` cosines) and `PRESENCE_WEIGHT` x its presence (`(K,)`
    shares, 0-1: an absolute, not less the video's median, since a video may show none of
    what its narrator names) (`look_bank.Evidence`)."""
    best = sim.max(axis=1) * temperature if sim.shape[1] else np.zeros(len(sim))
    score = best - (np.median(best) if len(best) else 0.0)
    if presence is not None:
        score = score + PRESENCE_WEIGHT * np.asarray(presence, np.float64)
    if sentence_head is not None:
        p = np.clip(np.asarray(sentence_head, np.float64), 1e-6, 1.0)
        score = score + TEXT_HEAD_WEIGHT * np.log(p)
    if kinship is not None:
        score = score + KINSHIP_WEIGHT * np.asarray(kinship, np.float64)
    return score


def calibrated(score: np.ndarray) -> np.ndarray:
    """The fixed logistic map from `alignability_score` to a probability."""
    return _sigmoid(ALIGN_SCALE * (np.asarray(score, np.float64) - ALIGN_CENTRE))


def peak_interval(
    row: np.ndarray, drop: float = SPAN_DROP, prior: np.ndarray | None = None
) -> tuple[int, int, int]:
    """`(peak, start, end)` seconds for one similarity row `(T,)`: the peak is the argmax of
    `row + prior` (of `row` without a prior), the interval the contiguous run around it where
    `row >= row[peak] - drop`; end is exclusive (last second + 1)."""
    peak = int(np.argmax(row if prior is None else row + prior))
    low = row < row[peak] - drop
    left = np.flatnonzero(low[:peak])
    right = np.flatnonzero(low[peak + 1 :])
    start = int(left[-1]) + 1 if len(left) else 0
    end = peak + 1 + int(right[0]) if len(right) else len(row)
    return peak, start, end


def peak_evidence(sim: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """`(K, T)` what picks a sentence's peak besides its own similarity `sim`: the ASR `prior`,
    and how much of second t this sentence claims against the video's other sentences
    (`EXCLUSION_WEIGHT` x log-softmax over sentences of sim + prior, TAN's "a second shows one
    sentence"): of two sentences naming a thing shown twice, each takes the showing the other
    has less claim to."""
    weighted = sim + prior
    if not len(weighted):
        return prior
    top = weighted.max(axis=0, keepdims=True)
    log_share = weighted - top - np.log(np.exp(weighted - top).sum(axis=0, keepdims=True))
    return prior + EXCLUSION_WEIGHT * log_share


def sentence_rows(pred: VideoPrediction) -> list[dict[str, float]]:
    """One dict per sentence with the `predictions` columns (except `sentence_id`)."""
    rows = []
    fused, dual = pred.sim, pred.dual_sim
    evidence, dual_evidence = peak_evidence(fused, pred.prior), peak_evidence(dual, pred.prior)
    alignability, dual_alignability = pred.alignability, pred.dual_alignability
    for k in range(fused.shape[0]):
        peak, start, end = peak_interval(fused[k], prior=evidence[k])
        rows.append(
            {
                "alignability": float(alignability[k]),
                "start": float(start),
                "end": float(end),
                "peak": float(peak),
                "dual_alignability": float(dual_alignability[k]),
                "dual_peak": float(np.argmax(dual[k] + dual_evidence[k])),
            }
        )
    return rows


# -- one video ---------------------------------------------------------------------------------
def predict_video(
    model,
    video: Sequence[np.ndarray],
    text: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    *,
    mode: str = "window",
    video_id: str | None = None,
) -> VideoPrediction:
    """Predict one video: `video` one `(T, D_i)` per backbone, `text` `(K, Dt)`, ASR `start` /
    `end` `(K,)` seconds (used only to pick which sentences join which window). `video_id`:
    the look bank leaves out this video's own rows (a video of the training folder)."""
    import torch

    if mode not in MODES:
        raise AlignerError(f"unknown inference mode {mode!r} (use one of {', '.join(MODES)})")
    t = min(v.shape[0] for v in video)
    video = [np.asarray(v[:t], dtype=np.float32) for v in video]
    k = len(text)
    if k == 0 or t == 0:
        empty = np.zeros((k, t), np.float32)
        return VideoPrediction(empty, empty.copy(), np.zeros(k), np.zeros(k), np.zeros(k))
    with torch.no_grad():
        if mode == "global":
            pred = _predict_global(model, video, np.asarray(text, np.float32))
        else:
            pred = _predict_windows(model, video, np.asarray(text, np.float32), start, end)
    pred.asr_mid = (np.asarray(start, np.float64) + np.asarray(end, np.float64)) / 2
    pred.temperature = model.cfg.temperature
    pooled = pooled_sentence_logits(model, text)  # the sentence head, pooled over the bank
    if pooled is not None:
        pred.dual_head = _sigmoid(pooled)
    looks = getattr(model, "look_bank", None)
    if looks is not None and len(looks) and pred.dual_text_emb is not None:
        key = look_bank.video_key(video_id)
        seen = look_bank.evidence(looks, pred.dual_text_emb, pred.dual_video_emb, key,
                                  pred.temperature)  # fmt: skip
        if seen is not None:
            pred.look, pred.kinship, pred.presence = seen.look, seen.kinship, seen.presence
    return pred


def build_look_bank(model, videos, seed: int = 0) -> look_bank.LookBank:
    """The model's look bank from `videos` (`(video_id, video, text, start, end)` as
    `predict_video` takes them; a fixed random order until `SENTENCES_EXAMINED` sentences):
    each predicted without a look bank, its confident sentences' peak looks kept."""
    videos = list(videos)
    order = np.random.default_rng(seed).permutation(len(videos))
    saved, model.look_bank = getattr(model, "look_bank", None), None
    peaks, alignability, text, video, ids, seen = [], [], [], [], [], 0
    try:
        for i in order:
            if seen >= look_bank.SENTENCES_EXAMINED:
                break
            video_id, feats, sentences, start, end = videos[i]
            pred = predict_video(model, feats, sentences, start, end)
            rows = sentence_rows(pred)
            peaks.append(np.array([r["peak"] for r in rows]))
            alignability.append(np.array([r["alignability"] for r in rows]))
            text.append(pred.dual_text_emb)
            video.append(pred.dual_video_emb)
            ids.append(video_id)
            seen += len(rows)
    finally:
        model.look_bank = saved
    return look_bank.confident_rows(peaks, alignability, text, video, ids, seed)


def window_plan(
    t: int, start: np.ndarray, end: np.ndarray, window: int, stride: int = STRIDE_S
) -> list[tuple[int, int, np.ndarray]]:
    """`(t0, t1, sentence rows)` per window: windows every `stride` s (TAN: from 0 while
    t0 < T - window / 2); a sentence joins when its ASR span (clamped into the video, so every
    sentence joins somewhere) +- `SENTENCE_MARGIN_S` overlaps the window."""
    a = np.clip(start, 0, max(t - 1, 0)) - SENTENCE_MARGIN_S
    b = np.clip(end, 1, t) + SENTENCE_MARGIN_S
    plan = []
    for t0 in range(0, max(1, t - window // 2), stride):
        t1 = min(t, t0 + window)
        plan.append((t0, t1, np.flatnonzero((b > t0) & (a < t1))))
    return plan


def _predict_windows(model, video, text, start, end) -> VideoPrediction:
    t, k = video[0].shape[0], len(text)
    sums = {"joint": np.zeros((k, t)), "dual": np.zeros((k, t))}
    count = np.zeros((k, t))
    emb_video, emb_text, seconds_seen = None, None, np.zeros(t)
    logit_sum, dual_logit_sum, seen = np.zeros(k), np.zeros(k), np.zeros(k)
    plan = [p for p in window_plan(t, start, end, model.cfg.window_s) if len(p[2])]
    for i in range(0, len(plan), WINDOWS_PER_FORWARD):
        chunk = plan[i : i + WINDOWS_PER_FORWARD]
        batch = _pad_windows([[v[t0:t1] for v in video] for t0, t1, _ in chunk],
                             [text[rows] for _, _, rows in chunk])  # fmt: skip
        out = model(*batch)
        joint, dual = (s.numpy() for s in model.similarities(out))  # (W, K', T') each
        dual_video, dual_text = out.dual_video.numpy(), out.dual_text.numpy()
        if emb_video is None:
            emb_video = np.zeros((t, dual_video.shape[-1]))
            emb_text = np.zeros((k, dual_text.shape[-1]))
        for w, (t0, t1, rows) in enumerate(chunk):
            n, m = len(rows), t1 - t0
            sums["joint"][rows, t0:t1] += joint[w, :n, :m]
            sums["dual"][rows, t0:t1] += dual[w, :n, :m]
            count[rows, t0:t1] += 1
            emb_video[t0:t1] += dual_video[w, :m]
            emb_text[rows] += dual_text[w, :n]
            seconds_seen[t0:t1] += 1
            logit_sum[rows] += out.align_logit[w, :n].numpy()
            dual_logit_sum[rows] += out.dual_align_logit[w, :n].numpy()
            seen[rows] += 1
    uncovered = -1.0 / model.cfg.temperature
    with np.errstate(invalid="ignore", divide="ignore"):
        joint_sim = np.where(count > 0, sums["joint"] / count, uncovered)
        dual_sim = np.where(count > 0, sums["dual"] / count, uncovered)
    seen = np.maximum(seen, 1)
    return VideoPrediction(
        joint_sim.astype(np.float32),
        dual_sim.astype(np.float32),
        _sigmoid(logit_sum / seen),
        _sigmoid(dual_logit_sum / seen),
        np.zeros(k),
        dual_video_emb=l2_normalise(emb_video / np.maximum(seconds_seen, 1)[:, None]),
        dual_text_emb=l2_normalise(emb_text / seen[:, None]),
    )


def _predict_global(model, video, text) -> VideoPrediction:
    t = video[0].shape[0]
    batch = _pad_windows([video], [text])
    stretch = model.cfg.window_s if t > model.cfg.window_s else None
    out = model(*batch, interpolate_from=stretch)
    joint, dual = (s[0].numpy() for s in model.similarities(out))
    return VideoPrediction(
        joint.astype(np.float32),
        dual.astype(np.float32),
        _sigmoid(out.align_logit[0].numpy()),
        _sigmoid(out.dual_align_logit[0].numpy()),
        np.zeros(len(text)),
        dual_video_emb=l2_normalise(out.dual_video[0].numpy()),
        dual_text_emb=l2_normalise(out.dual_text[0].numpy()),
    )


def _pad_windows(videos: list[list[np.ndarray]], texts: list[np.ndarray]):
    """`(video list of (W, T, D_i), text (W, K, Dt), video_pad, text_pad)` tensors."""
    import torch

    w, t, k = len(videos), max(len(v[0]) for v in videos), max(len(x) for x in texts)
    video = [torch.zeros(w, t, v.shape[1]) for v in videos[0]]
    text = torch.zeros(w, k, texts[0].shape[1])
    video_pad = torch.ones(w, t, dtype=torch.bool)
    text_pad = torch.ones(w, k, dtype=torch.bool)
    for i, (vs, x) in enumerate(zip(videos, texts, strict=True)):
        for j, v in enumerate(vs):
            video[j][i, : len(v)] = torch.from_numpy(v)
        video_pad[i, : len(vs[0])] = False
        text[i, : len(x)] = torch.from_numpy(x)
        text_pad[i, : len(x)] = False
    return video, text, video_pad, text_pad


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


# -- a dataset workspace -----------------------------------------------------------------------
@dataclass
class PredictSummary:
    """What `predict_dataset` did; `predicted` is False when the stored run was up to date."""

    run_id: str
    n_videos: int
    n_sentences: int
    seconds: float
    inputs_key: str = ""  # `predict_key`: checkpoint bytes, videos, sentences, features, mode
    predicted: bool = True
    baseline_runs: dict[str, str] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        extra = "".join(f", {m} run {r}" for m, r in self.baseline_runs.items())
        if not self.predicted:
            return (
                f"predict: run {self.run_id}{extra} is up to date (same checkpoint, videos and"
                " sentences); nothing predicted (--force to predict again)"
            )
        failed = f"; {len(self.failed)} video(s) failed: {self.failed[0]}" if self.failed else ""
        return (
            f"predicted {self.n_sentences} sentences in {self.n_videos} videos in"
            f" {self.seconds:.1f} s (run {self.run_id}{extra}){failed}"
        )


def predict_dataset(
    ws,
    *,
    checkpoint: str | Path | None = None,
    mode: str = "window",
    baselines: bool = True,
    force: bool = False,
    progress: bool = True,
) -> PredictSummary:
    """Predict every ingested video with `checkpoint` (default `ws.root/checkpoints/tan.pt`)
    into a run with model "tan"; with `baselines`, also a "tan-stage1" run from the sibling
    stage-1 checkpoint when it exists (evaluation reports it as "TAN before co-training").

    Idempotent: a model's latest run is kept (nothing predicted) when it was made from the same
    checkpoint bytes, videos, sentences and mode and no video failed, unless `force`."""
    from aligner.store import Store
    from aligner.tan.checkpoints import default_checkpoint, stage1_sibling

    path = Path(checkpoint) if checkpoint else default_checkpoint(ws)
    options = {"mode": mode, "force": force, "progress": progress}
    with Store(ws.db_path) as store:
        summary = predict_run(ws, store, path, model_name="tan", **options)
        stage1 = stage1_sibling(path)
        if baselines and stage1.is_file():
            base = predict_run(ws, store, stage1, model_name="tan-stage1", **options)
            summary.baseline_runs["tan-stage1"] = base.run_id
    return summary


def predict_key(ws, store, checkpoint: Path, mode: str) -> str:
    """Hash of what prediction reads: the checkpoint's bytes (not its path: a dataset folder
    moved elsewhere keeps its predictions), the stored ok videos and sentences, the cache keys
    of the features the checkpoint reads, the mode."""
    from aligner import features
    from aligner.tan.checkpoints import CHECKPOINT_NOT_FOUND, read_stamp

    if not checkpoint.is_file():
        raise AlignerError(f"{checkpoint}: {CHECKPOINT_NOT_FOUND}")
    spec = (read_stamp(checkpoint) or {}).get("features")  # None: loading will say what's wrong
    digest = store.content_digest()
    return inputs_key({
        "checkpoint": file_sha256(checkpoint), "videos": digest["videos"],
        "sentences": digest["sentences"], "mode": mode,
        "features": spec and features.feature_keys(spec["visual"], spec["text"], dataset=ws),
    })  # fmt: skip


def predict_run(
    ws,
    store,
    checkpoint: Path,
    *,
    model_name: str,
    mode: str = "window",
    force: bool = False,
    progress: bool = True,
) -> PredictSummary:
    """One `runs` row (kind "predict") with predictions + similarity files for every video, or
    the latest run of `model_name` when it is up to date (see `predict_dataset`)."""
    key = predict_key(ws, store, checkpoint, mode)
    reused = None if force else _up_to_date(store, model_name, key)
    if reused is not None:
        return reused
    return _predict_all(ws, store, checkpoint, model_name, mode, key, progress)


def _up_to_date(store, model_name: str, key: str) -> PredictSummary | None:
    """The latest run of `model_name` as a summary when it was made from the same inputs (an
    older run with the same key is not enough: evaluation and review read the latest)."""
    latest = store.latest_run(model_name, kind="predict")
    if latest is None or json.loads(latest["params"] or "{}").get("inputs_key") != key:
        return None
    metrics = json.loads(latest["metrics"] or "{}")
    if metrics.get("failed"):
        return None  # some video failed: try again, its features may be there now
    return PredictSummary(
        latest["run_id"], int(metrics.get("videos", 0)), int(metrics.get("sentences", 0)), 0.0,
        key, predicted=False,
    )  # fmt: skip


def _predict_all(ws, store, checkpoint: Path, model_name: str, mode: str, key: str, progress):
    from tqdm import tqdm

    from aligner.tan.checkpoints import load_checkpoint

    model, payload = load_checkpoint(checkpoint)
    started = time.perf_counter()
    params = {"mode": mode, "stage": payload.get("stage"), "features": payload["features"],
              "inputs_key": key, "checkpoint_sha256": file_sha256(checkpoint)}  # fmt: skip
    run_id = store.start_run("predict", model=model_name, params=params)
    videos = [v["video_id"] for v in store.videos(status="ok")]
    n_sentences, done, failed, fusion = 0, 0, [], {}
    for video_id in tqdm(videos, desc=f"predict {model_name}", unit="video", disable=not progress):
        try:
            n_sentences += _predict_one(ws, store, model, run_id, video_id, mode, fusion)
            done += 1
        except AlignerError as err:
            failed.append(f"{video_id}: {err}")
    seconds = time.perf_counter() - started
    status = "done" if done or not videos else "failed"
    metrics = {"failed": len(failed), "videos": done, "sentences": n_sentences,
               **({"laff_weights_per_video": fusion} if fusion else {})}  # fmt: skip
    store.finish_run(run_id, status=status, checkpoint=str(checkpoint),
                     timings={"predict_s": seconds}, metrics=metrics)  # fmt: skip
    return PredictSummary(run_id, done, n_sentences, seconds, key, failed=failed)


def _predict_one(ws, store, model, run_id: str, video_id: str, mode: str, fusion: dict) -> int:
    """Predict one video into the run; LAFF weights (mean per backbone) go into `fusion`."""
    from aligner import features

    sentences = store.sentences(video_id)
    if not sentences:
        return 0
    spec = model.spec
    video = features.load_video_features(ws, video_id, list(spec.visual))
    _check_dims(video_id, [v.shape[1] for v in video], spec.visual_dims)
    text = features.load_text_features(ws, [s.text for s in sentences], spec.text)
    start = np.array([s.start for s in sentences])
    end = np.array([s.end for s in sentences])
    pred = predict_video(model, video, text, start, end, mode=mode, video_id=video_id)
    if len(video) > 1:
        fusion[video_id] = laff_weights(model, video)
    save_similarity(ws, run_id, video_id, pred.sim)
    rows = [
        {"sentence_id": s.sentence_id, **row}
        for s, row in zip(sentences, sentence_rows(pred), strict=True)
    ]
    return store.save_predictions(run_id, rows)


def laff_weights(model, video: Sequence[np.ndarray]) -> dict[str, float]:
    """Mean LAFF attention weight of each visual backbone over a video's seconds (sums to 1;
    an ensemble's: the mean over its members)."""
    import torch

    from aligner.tan.model import members_of

    x = [torch.from_numpy(v).float() for v in video]
    with torch.no_grad():  # (members, T, backbones)
        weights = torch.stack([m.video_in.weights(x) for m in members_of(model)])
    means = weights.mean(dim=(0, 1)).tolist()
    return {name: round(w, 4) for name, w in zip(model.spec.visual, means, strict=True)}


def _check_dims(video_id: str, got: list[int], expected: Sequence[int]) -> None:
    if list(got) != list(expected):
        raise AlignerError(
            f"{video_id}: video features have dims {got}, the model expects {list(expected)}"
        )
