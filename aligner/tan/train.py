"""Training TAN on ASR timestamps (self-supervised) and on the curators' labels.

Stage 1 (`stage1_loss`): MIL-NCE both ways (sentence -> seconds, second -> sentences) with the
positives = the seconds of the sentence's ASR span widened by `pos_margin_s` (10 s) each side, and
the negatives = every other second / sentence of the batch (several videos per batch, so in-video
and cross-video), for the joint and the dual encoder; plus the video-level term.

Stage 2 (`stage2_loss`, co-training): an EMA copy of the model (m = 0.999) labels each sentence:
each branch slides a box of the ASR span's length over time and keeps its best window; where the
joint and dual windows agree (IoU >= 0.5) their union replaces the ASR target, else the ASR target
stays. The MIL-NCE is restricted to the more confident half of the sentences (by how much of the
teacher's probability over time gathers in one 10 s box, joint + dual).

Alignability BCE (both stages; stage 1 labels with the model itself, stage 2 with the teacher):
TAN's rank rule with co-training agreement: each sentence's max-similarity (joint + dual) less
its window's median, ranked over the batch; the top half -> 1 where the joint and dual windows
agree, the bottom quarter -> 0. (A prediction's alignability combines the head with the
similarity score, see `infer`; each alone ranked worse on the quality suite. An earlier
rule, "a sentence matching the look that recurs through the video is not alignable", held only
where that look is a talking head; where a workspace recurs it marked the steps themselves.)

Early stopping: on held-out videos, the share of sentences whose most similar second lies more
than 5 s from their target window; judged in the second half of each stage only.

Video-level term (multi-level alignment): each window's pooled video vs its pooled sentences,
InfoNCE both ways across the batch.

Ensemble (`TANConfig.members`, default 4): each member is trained alone, as above, from seed
`seed + i` (so on its own held-out videos too); `train_items` returns their `TANEnsemble`.

Curators' labels override every pseudo-label: an alignable sentence's target is exactly its
labelled window (always in the loss, weighted `label_weight`), a "not alignable" one has no
positive seconds and alignability target 0.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from aligner.errors import AlignerError
from aligner.features.text import DEFAULT_TEXT
from aligner.features.visual import DEFAULT_VISUAL
from aligner.keys import inputs_key
from aligner.tan import aux_losses
from aligner.tan.batching import Batch, VideoItem, epoch_batches, fixed_batches, split_videos
from aligner.tan.checkpoints import default_checkpoint, read_stamp, save_checkpoint, stage1_sibling
from aligner.tan.config import FeatureSpec, TANConfig, TrainConfig
from aligner.tan.cotraining import ema_update, pseudo_labels
from aligner.tan.infer import build_look_bank
from aligner.tan.losses import NEG, total_loss
from aligner.tan.model import TAN, TANEnsemble, build_model
from aligner.tan.sentence_bank import sample_bank

VAL_SLACK_S = 5  # validation: a peak this close to the target window counts as agreeing


@dataclass
class TrainResult:
    model: TAN | TANEnsemble
    stage1_state: dict[str, torch.Tensor]
    history: list[dict[str, float]] = field(default_factory=list)
    train_videos: list[str] = field(default_factory=list)
    val_videos: list[str] = field(default_factory=list)


# -- the two stages ----------------------------------------------------------------------------
def stage1_loss(model: TAN, batch: Batch, cfg: TrainConfig) -> torch.Tensor:
    """MIL-NCE on the ASR (+- k) targets, video-level term, and alignability BCE on the model's
    own (detached) pseudo-labels, with curators' labels overriding."""
    out = model(batch.video, batch.text, batch.video_pad, batch.text_pad)
    with torch.no_grad():
        labels = pseudo_labels(*model.similarities(out), batch, cfg)
    return total_loss(model, out, batch, batch.target, ~batch.text_pad, labels.align, cfg)


def stage2_loss(model: TAN, teacher: TAN, batch: Batch, cfg: TrainConfig) -> torch.Tensor:
    """Co-training: targets and alignability from the EMA teacher's agreeing windows."""
    with torch.no_grad():
        t_out = teacher(batch.video, batch.text, batch.video_pad, batch.text_pad)
        labels = pseudo_labels(*teacher.similarities(t_out), batch, cfg)
    out = model(batch.video, batch.text, batch.video_pad, batch.text_pad)
    return total_loss(model, out, batch, labels.target, labels.selected, labels.align, cfg)


# -- the loop ----------------------------------------------------------------------------------
def train_items(
    items: Sequence[VideoItem],
    spec: FeatureSpec,
    *,
    config: TANConfig | None = None,
    train_config: TrainConfig | None = None,
    seed: int = 0,
    progress: bool = True,
    entity_prompts=None,
    workers: int = 1,
) -> TrainResult:
    """Train stage 1 then stage 2 on `items`; deterministic for a given seed. With
    `config.members` > 1 each member is trained alone from seed `seed + i` (its own held-out
    videos too) and the result is their `TANEnsemble`; its history rows carry `member`.
    `workers` > 1 trains that many members at once, each in its own process on one torch
    thread (the same weights as one after the other, on one thread)."""
    cfg, tcfg = config or TANConfig(), train_config or TrainConfig()
    if not items:
        raise AlignerError("nothing to train on: no video has both features and sentences")
    one = replace(cfg, members=1)
    jobs = [(items, spec, one, tcfg, seed + i, entity_prompts) for i in range(cfg.members)]
    if workers > 1 and cfg.members > 1:
        results = _train_in_processes(jobs, min(workers, cfg.members), progress)
    else:
        results = [_train_one(*job, progress=progress) for job in jobs]
    if cfg.members == 1:
        return _with_banks(results[0], items, seed)
    stage1 = TANEnsemble.of([_with_state(r.model, r.stage1_state) for r in results])
    history = [{**h, "member": i} for i, r in enumerate(results) for h in r.history]
    model = TANEnsemble.of([r.model for r in results])
    return _with_banks(TrainResult(model, _snapshot(stage1), history, results[0].train_videos,
                                   results[0].val_videos), items, seed)  # fmt: skip


def _with_banks(result: TrainResult, items: list[VideoItem], seed: int) -> TrainResult:
    """The trained model with its sentence bank and then its look bank (made with the sentence
    bank in place, as prediction will see it), from every video, held-out ones too."""
    model = result.model
    model.sentence_bank = sample_bank([it.text for it in items], seed)
    was_training = model.training
    model.eval()
    videos = [(it.video_id, it.video, it.text, it.start, it.end) for it in items]
    model.look_bank = build_look_bank(model, videos, seed)
    model.train(was_training)
    return result


def member_workers(members: int) -> int:
    """Processes for training `members` ensemble members: one per core, at most one each."""
    import os

    return max(1, min(members, os.cpu_count() or 1))


def _train_in_processes(jobs: list[tuple], workers: int, progress: bool) -> list[TrainResult]:
    """`_train_one` of each job in a pool of `workers` spawned processes (a SIGKILLed parent
    takes them with it), in job order; a bar counts the members done."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    from aligner.lifeline import die_with_parent

    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads
    bar = tqdm(total=len(jobs), desc="ensemble members", unit="member", disable=not progress)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=die_with_parent,
                             initargs=(os.getpid(),)) as pool:  # fmt: skip
        futures = [pool.submit(_train_member, job) for job in jobs]
        for future in futures:
            future.add_done_callback(lambda _: bar.update())
        results = [future.result() for future in futures]
    bar.close()
    return [_rebuilt(job, result) for job, result in zip(jobs, results, strict=True)]


def _train_member(job: tuple) -> TrainResult:
    """In a worker: one member on one torch thread; its weights go back as a state dict."""
    torch.set_num_threads(1)
    result = _train_one(*job, progress=False)
    return replace(result, model=_snapshot(result.model))


def _rebuilt(job: tuple, result: TrainResult) -> TrainResult:
    items, spec, cfg, _, _, entity_prompts = job
    model = build_model(cfg, spec)
    aux_losses.attach(model, entity_prompts)
    model.load_state_dict(result.model)
    return replace(result, model=model.eval())


def _train_one(items, spec, cfg: TANConfig, tcfg: TrainConfig, seed: int, entity_prompts,
               progress: bool) -> TrainResult:  # fmt: skip
    with _deterministic(seed):
        rng = np.random.default_rng(seed)
        train, val = split_videos(items, tcfg, rng)
        model = build_model(cfg, spec)
        aux_losses.attach(model, entity_prompts)  # used only when an auxiliary weight is > 0
        history: list[dict[str, float]] = []
        _run_stage(model, None, train, val, tcfg, rng, 1, history, progress)
        stage1_state = _snapshot(model)
        teacher = copy.deepcopy(model).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        _run_stage(model, teacher, train, val, tcfg, rng, 2, history, progress)
    model.eval()
    return TrainResult(
        model, stage1_state, history, [it.video_id for it in train], [it.video_id for it in val]
    )


def _run_stage(model, teacher, train, val, cfg: TrainConfig, rng, stage: int, history, progress):
    """One stage with AdamW, gradient clipping and early stopping on the held-out videos.

    Each stage judges only itself. (Starting stage 2 from stage 1's held-out error, so that
    co-training keeps its weights only where they beat stage 1, was tried and dropped: the
    held-out error is measured against the ASR windows, which co-training moves away from when
    it works; the quality suite saw it throw away a 9-point R@1 gain.)"""
    from tqdm import tqdm

    epochs = cfg.stage1_epochs if stage == 1 else cfg.stage2_epochs
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    val_batches = fixed_batches(val, cfg) if val else []
    best, best_state, stale = math.inf, None, 0
    bar = tqdm(total=epochs, desc=f"stage {stage}", unit="epoch", disable=not progress)
    for epoch in range(epochs):
        model.train()
        losses = [train_step(model, teacher, b, cfg, opt) for b in epoch_batches(train, cfg, rng)]
        val_error = _validate(model, teacher, val_batches, cfg)
        history.append({"stage": stage, "epoch": epoch, "loss": float(np.mean(losses)),
                        "val_error": val_error})  # fmt: skip
        bar.set_postfix(loss=f"{np.mean(losses):.3f}", val_err=f"{val_error:.3f}")
        bar.update()
        if not val_batches or epoch + 1 < epochs * cfg.min_epoch_share:
            continue  # too early to judge: the held-out error is noisy in the first epochs
        if val_error < best - 1e-4:
            best, stale = val_error, 0
            best_state = _snapshot(model)
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)


def train_step(model, teacher, batch: Batch, cfg: TrainConfig, opt) -> float:
    """One optimiser step of stage 1 (`teacher` None) or stage 2; the loss. (The Ray trainer
    takes the same step with a DDP-wrapped model.)"""
    loss = (
        stage1_loss(model, batch, cfg)
        if teacher is None
        else stage2_loss(model, teacher, batch, cfg)
    )
    if not torch.isfinite(loss):  # one NaN weight update poisons the model for good
        raise AlignerError(
            f"training stopped: the loss became {loss.item()} (non-finite features, times or"
            " labels reached the model); nothing was saved"
        )
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    if teacher is not None:
        ema_update(teacher, model, cfg.ema_momentum)
    return float(loss.detach())


@torch.no_grad()
def _validate(model, teacher, batches: list[Batch], cfg: TrainConfig) -> float:
    """Validation error on held-out videos: the share of sentences whose most similar second
    (joint + dual) is more than `VAL_SLACK_S` from their target window (ASR span +- k).

    A ranking measure, not the loss: as the model grows confident the MIL-NCE on noisy ASR
    targets rises while the alignment still improves (we saw the loss bottom out after 2 of
    24 epochs while R@1 kept climbing)."""
    if not batches:
        return float("nan")
    model.eval()
    hits, total = 0, 0
    for b in batches:
        out = model(b.video, b.text, b.video_pad, b.text_pad)
        joint, dual = model.similarities(out)
        sim = joint + dual  # (B, K, T)
        peak = sim.masked_fill(b.video_pad[:, None, :], NEG).argmax(2)  # (B, K)
        near = F.max_pool1d(b.target.float().flatten(0, 1)[:, None], 2 * VAL_SLACK_S + 1, 1,
                            VAL_SLACK_S)[:, 0].view(b.target.shape) > 0  # fmt: skip
        counted = b.target.any(2) & ~b.text_pad
        hit = near.gather(2, peak[..., None])[..., 0] & counted
        hits, total = hits + int(hit.sum()), total + int(counted.sum())
    return 1.0 - hits / max(total, 1)


@contextmanager
def _deterministic(seed: int) -> Iterator[None]:
    """Seed torch and use deterministic kernels (cheap on CPU); restore the setting after."""
    was = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was)


# -- a dataset workspace -----------------------------------------------------------------------
@dataclass
class TrainSummary:
    """What `train_dataset` did; `trained` is False when the checkpoint was already up to date."""

    run_id: str | None  # the train run that wrote the checkpoint
    checkpoint: Path
    stage1_checkpoint: Path
    n_videos: int
    n_sentences: int
    n_labels: int
    seconds: float
    inputs_key: str  # hash of what the checkpoint was trained from (`train_key`)
    trained: bool = True
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if not self.trained:
            return (
                f"train: {self.checkpoint} is up to date (same videos, sentences, labels and"
                f" settings; run {self.run_id}); nothing trained (--force to train again)"
            )
        skipped = f"; skipped {len(self.skipped)} video(s)" if self.skipped else ""
        return (
            f"trained TAN on {self.n_videos} videos / {self.n_sentences} sentences"
            f" ({self.n_labels} curated) in {self.seconds:.0f} s -> {self.checkpoint}"
            f" (run {self.run_id}){skipped}"
        )


def train_dataset(
    ws,
    *,
    epochs: int | None = None,
    out: str | Path | None = None,
    visual: Sequence[str] | None = None,
    text: str | None = None,
    seed: int = 0,
    config: TANConfig | None = None,
    train_config: TrainConfig | None = None,
    force: bool = False,
    progress: bool = True,
) -> TrainSummary:
    """Train on every ingested video of the workspace (+ the curators' labels); writes
    `out` (default `ws.root/checkpoints/tan.pt`), its `.stage1.pt` sibling and a `runs` row.

    Idempotent: the checkpoint is stamped with `train_key` (stored videos, sentences, labels,
    backbones, settings, seed); when `out` already carries the same stamp nothing is trained
    (unless `force`). `epochs`: this many epochs in all, split between the stages as the
    defaults are (`TrainConfig.with_epochs`)."""
    from aligner.store import Store

    cfg, tcfg = config or TANConfig(), train_config or TrainConfig()
    if epochs is not None:
        tcfg = tcfg.with_epochs(epochs)
    visual, text = list(visual or [DEFAULT_VISUAL]), text or DEFAULT_TEXT
    out = Path(out) if out else default_checkpoint(ws)
    with Store(ws.db_path) as store:
        key = train_key(ws, store, visual=visual, text=text, config=cfg, train_config=tcfg,
                        seed=seed)  # fmt: skip
        done = None if force else _up_to_date(out, key)
        if done is not None:
            return done
        out.parent.mkdir(parents=True, exist_ok=True)  # an unwritable place fails before training
        return _train_and_save(ws, store, out, key, visual, text, cfg, tcfg, seed, progress)


def train_key(
    ws, store, *, visual: Sequence[str], text: str, config: TANConfig,
    train_config: TrainConfig, seed: int,
) -> str:  # fmt: skip
    """Hash of everything training reads: the stored ok videos, sentences and human labels, the
    feature backbones (their cache keys: a new descriptor version is new input), the model /
    training settings and the seed (new defaults: new key)."""
    from aligner import features

    return inputs_key({
        "content": store.content_digest(), "seed": seed, "model": asdict(config),
        "features": features.feature_keys(visual, text, dataset=ws.dataset),
        "train": asdict(train_config),
    })  # fmt: skip


def _up_to_date(out: Path, key: str) -> TrainSummary | None:
    """The summary of the training that wrote `out` when it was trained from the same inputs."""
    stamp = read_stamp(out)
    if stamp is None or stamp.get("inputs_key") != key or not stage1_sibling(out).is_file():
        return None
    counts = stamp.get("counts", {})
    return TrainSummary(
        stamp.get("run_id"), out, stage1_sibling(out), int(counts.get("videos", 0)),
        int(counts.get("sentences", 0)), int(counts.get("labels", 0)), 0.0, key, trained=False,
    )  # fmt: skip


def _train_and_save(ws, store, out: Path, key: str, visual, text, cfg, tcfg, seed, progress):
    started = time.perf_counter()
    items, spec, skipped = load_items(ws, store, visual=visual, text=text)
    params = {"train": asdict(tcfg), "model": asdict(cfg), "seed": seed,
              "features": spec.to_dict(), "inputs_key": key}  # fmt: skip
    run_id = store.start_run("train", model="tan", params=params)
    n_labels = int(sum(np.sum(~np.isnan(it.label_alignable)) for it in items))
    n_sentences = sum(len(it.text) for it in items)
    counts = {"videos": len(items), "sentences": n_sentences, "labels": n_labels}
    stamp = {"inputs_key": key, "run_id": run_id, "counts": counts}
    stage1 = stage1_sibling(out)
    try:
        prompts = aux_losses.prepare(ws, store, items, spec, tcfg)  # None unless switched on
        aux = {"entity_prompts": prompts} if prompts is not None else {}
        result = train_items(items, spec, config=cfg, train_config=tcfg, seed=seed,
                             progress=progress, workers=member_workers(cfg.members),
                             **aux)  # fmt: skip
        save_checkpoint(_with_state(result.model, result.stage1_state), stage1,
                        extra={"stage": 1, **stamp})  # fmt: skip
        # written last: a checkpoint under the real name means the training finished
        save_checkpoint(result.model, out, extra={"stage": 2, "history": result.history,
                                                  "val_videos": result.val_videos, **stamp})  # fmt: skip
    except BaseException:  # a full disk included: the run is failed, not left 'running'
        store.finish_run(run_id, status="failed")
        raise
    seconds = time.perf_counter() - started
    store.finish_run(run_id, checkpoint=str(out), timings={"train_s": seconds},
                     metrics=_final_losses(result.history))  # fmt: skip
    return TrainSummary(run_id, out, stage1, len(items), n_sentences, n_labels, seconds, key,
                        skipped=skipped)  # fmt: skip


def _snapshot(model: TAN) -> dict[str, torch.Tensor]:
    """A copy of the weights that later optimiser steps do not touch."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _with_state(model: TAN, state: dict[str, torch.Tensor]) -> TAN:
    twin = copy.deepcopy(model)
    twin.load_state_dict(state)
    return twin


def _final_losses(history: list[dict[str, float]]) -> dict[str, float]:
    last = {h["stage"]: h for h in history}
    return {f"stage{s}_{k}": float(h[k]) for s, h in last.items() for k in ("loss", "val_error")}


def load_items(
    ws, store, *, visual: Sequence[str] | None = None, text: str | None = None
) -> tuple[list[VideoItem], FeatureSpec, list[str]]:
    """Every ok video with sentences, as `VideoItem`s with features and current labels.

    A video whose features cannot be loaded is reported (returned in `skipped`) and left out;
    the others still train."""
    from aligner import features

    visual = list(visual or [DEFAULT_VISUAL])
    text = text or DEFAULT_TEXT
    dims, text_dim = features.feature_dims(visual, text, dataset=ws.dataset)
    spec = FeatureSpec(tuple(visual), tuple(int(d) for d in dims), text, int(text_dim))
    labels = _labels_by_sentence(store)
    items, skipped = [], []
    for video in store.videos(status="ok"):
        sentences = store.sentences(video["video_id"])
        if not sentences:
            continue
        try:
            items.append(_load_item(ws, video["video_id"], sentences, labels, spec))
        except AlignerError as err:
            skipped.append(f"{video['video_id']}: {err}")
    return items, spec, skipped


def _load_item(ws, video_id: str, sentences, labels: dict[int, dict], spec: FeatureSpec):
    from aligner import features

    video = features.load_video_features(ws, video_id, list(spec.visual))
    text = features.load_text_features(ws, [s.text for s in sentences], spec.text)
    if min(v.shape[0] for v in video) == 0:
        raise AlignerError(f"{video_id}: no video features (shorter than 1 s?)")
    label = [labels.get(s.sentence_id, {}) for s in sentences]
    return VideoItem(
        video_id=video_id,
        video=[np.asarray(v, dtype=np.float32) for v in video],
        text=np.asarray(text, dtype=np.float32),
        start=np.array([s.start for s in sentences], dtype=np.float64),
        end=np.array([s.end for s in sentences], dtype=np.float64),
        label_alignable=np.array([_num(lab.get("alignable")) for lab in label]),
        label_start=np.array([_num(lab.get("start")) for lab in label]),
        label_end=np.array([_num(lab.get("end")) for lab in label]),
        sentence_ids=[s.sentence_id for s in sentences],
    )


def _labels_by_sentence(store) -> dict[int, dict]:
    """Current curator decisions that say something (skipped ones carry no label)."""
    out = {}
    for row in store.current_labels():
        if row.get("alignable") is None or row.get("status") == "skipped":
            continue
        if row["alignable"] and (row.get("start") is None or row.get("end") is None):
            continue  # alignable without a window: nothing exact to learn from
        out[int(row["sentence_id"])] = row
    return out


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)
