"""`aligner auto-align`: ingest (+ Whisper where subtitles are missing) -> features -> train (when
no checkpoint is given) -> predict, recorded as one `runs` row of kind 'auto-align'.

This module only sequences the stages and shows progress. Each stage decides by itself what is
done and up to date, so `aligner auto-align` does what `aligner ingest`, `features`, `train`
and `predict` run one after the other would do:
  ingest    per-video `input_key` (a transcribed video is not transcribed again)
  features  per-video, per-backbone cache files
  train     the checkpoint (`checkpoints/tan.pt`) is stamped with a hash of its inputs (videos,
            sentences, human labels, backbones, settings, seed): same inputs, no training
  predict   the latest `tan` run is kept when it came from the same checkpoint bytes, videos
            and sentences
A process killed at any point leaves committed rows and finished cache files only; runs it left
'running' are marked failed (their partial predictions dropped) when the next run starts.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aligner.errors import AlignerError
from aligner.export import ALIGNABLE_THRESHOLD  # the summary counts what the export calls alignable
from aligner.progress import StageProgress
from aligner.workspace import Workspace

if TYPE_CHECKING:
    from aligner.features import FeatureSummary
    from aligner.ingest import IngestSummary
    from aligner.tan.infer import PredictSummary
    from aligner.tan.train import TrainSummary

STAGES = ("ingest", "features", "train", "predict")  # ASR runs inside ingest, per video
# torch intra-op threads while training / predicting. The TAN is small (width 128): on a shared
# 2-core machine two threads spin-wait on each other; benchmarks/bench_pipeline.py measured the
# default train stage at 638 s with 2 threads vs 19 s with 1 on the same 30 videos.
TORCH_THREADS = 1


@dataclass(frozen=True)
class AutoAlignOptions:
    checkpoint: str | None = None  # None: train on the folder itself
    asr: bool = True
    asr_model: str | None = None
    write_subtitles: bool = False  # also write subtitles/<id>.vtt for transcribed videos
    visual: tuple[str, ...] | None = None
    text: str | None = None
    epochs: int | None = None
    seed: int = 0
    baselines: bool = True  # also predict with the stage-1 checkpoint (evaluate's baseline)
    sentences: Any = None  # aligner.sentencify.SentencifyParams for ingest (None: defaults)


@dataclass(frozen=True)
class StageResults:
    """What each stage returned (`train` is None when a checkpoint was given)."""

    ingest: IngestSummary
    features: FeatureSummary
    train: TrainSummary | None
    predict: PredictSummary
    checkpoint: str


@dataclass(frozen=True)
class AutoAlignSummary:
    """What one auto-align did; `str()` is the closing report."""

    run_id: str
    dataset: str
    stages: StageResults
    videos: int
    sentences: int
    video_seconds: float
    share_alignable: float | None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage + total
    spans: dict[str, tuple[float, float]] = field(default_factory=dict)  # perf_counter per stage

    @property
    def checkpoint(self) -> str:
        return self.stages.checkpoint

    @property
    def checkpoint_origin(self) -> str:
        """given | trained | reused (the checkpoint was up to date)."""
        trained = self.stages.train
        return "given" if trained is None else "trained" if trained.trained else "reused"

    @property
    def predict_run_id(self) -> str:
        return self.stages.predict.run_id

    @property
    def predicted(self) -> bool:
        """False when the stored predictions were already up to date."""
        return self.stages.predict.predicted

    @property
    def realtime(self) -> float:
        """Seconds of video processed per second of wall time (× realtime)."""
        total = self.timings.get("total", 0.0)
        return self.video_seconds / total if total > 0 else float("inf")

    def metrics(self) -> dict[str, Any]:
        return {
            "videos": self.videos, "sentences": self.sentences, "video_s": self.video_seconds,
            "share_alignable": self.share_alignable, "predict_run_id": self.predict_run_id,
            "checkpoint_origin": self.checkpoint_origin, "predicted": self.predicted,
            "realtime": round(self.realtime, 3), "predict_key": self.stages.predict.inputs_key,
        }  # fmt: skip

    def __str__(self) -> str:
        share = "n/a" if self.share_alignable is None else f"{self.share_alignable:.0%}"
        stages = " | ".join(f"{s} {self.timings.get(s, 0):.1f} s" for s in STAGES)
        predicted = "predicted" if self.predicted else "predictions already up to date"
        return "\n".join([
            f"auto-align: {self.videos} videos ({self.video_seconds / 60:.1f} min),"
            f" {self.sentences} sentences, {share} predicted alignable"
            f" ({predicted}: run {self.predict_run_id})",
            f"  {stages} | total {self.timings.get('total', 0):.1f} s"
            f" = {self.realtime:.1f}x realtime",
            f"  checkpoint ({self.checkpoint_origin}): {self.checkpoint}",
            f"  run {self.run_id}; review with: aligner review {self.dataset}",
        ])  # fmt: skip


def auto_align(
    ws: Workspace,
    *,
    checkpoint: str | Path | None = None,
    asr: bool = True,
    asr_model: str | None = None,
    write_subtitles: bool = False,
    visual: Sequence[str] | None = None,
    text: str | None = None,
    epochs: int | None = None,
    seed: int = 0,
    baselines: bool = True,
    progress: bool | None = None,
    sentences: Any = None,
) -> AutoAlignSummary:
    """Run every stage on `ws.dataset`; each skips what is stored and up to date.

    `progress`: the overall display on stderr (None: only on a terminal); `sentences`: the
    `SentencifyParams` ingest uses (e.g. `already_sentences=True` for `--sentences-as-cues`)."""
    opts = AutoAlignOptions(
        str(Path(checkpoint).resolve()) if checkpoint else None, asr, asr_model, write_subtitles,
        tuple(visual) if visual else None, text, epochs, seed, baselines, sentences,
    )  # fmt: skip
    if opts.checkpoint and not Path(opts.checkpoint).is_file():
        raise AlignerError(f"{checkpoint}: checkpoint not found")
    run_id = _open_run(ws, opts)
    display = StageProgress("auto-align", STAGES, progress)
    started = time.perf_counter()
    try:
        with display:
            results = _run_stages(ws, opts, display)
    except BaseException:
        _close_run(ws, run_id, status="failed", timings=display.timings)
        raise
    timings = {**display.timings, "total": time.perf_counter() - started}
    summary = _summarise(ws, run_id, results, timings, display.spans)
    _close_run(ws, run_id, status="done", timings=timings, summary=summary)
    return summary


def _run_stages(ws: Workspace, opts: AutoAlignOptions, display: StageProgress) -> StageResults:
    from aligner.export import write_asr_subtitles
    from aligner.features import compute_features
    from aligner.ingest import ingest_dataset
    from aligner.tan.infer import predict_dataset
    from aligner.tan.train import train_dataset

    bars, visual = display.inner, list(opts.visual) if opts.visual else None
    with display.stage("ingest") as note:
        ingested = ingest_dataset(
            ws, asr=opts.asr, asr_model=opts.asr_model, params=opts.sentences, progress=bars
        )
        note(ingested)
        display.postfix(f"{ingested.ok}/{ingested.videos} videos with sentences")
        if opts.write_subtitles:
            note(f"wrote {write_asr_subtitles(ws)} Whisper transcript(s) to {ws.dataset}/subtitles")
    with display.stage("features") as note:
        featured = compute_features(ws, visual=visual, text=opts.text, progress=bars)
        note(featured)
    with display.stage("train") as note, torch_threads(TORCH_THREADS):
        trained = None
        if opts.checkpoint is None:
            trained = train_dataset(ws, epochs=opts.epochs, visual=visual, text=opts.text,
                                    seed=opts.seed, progress=bars)  # fmt: skip
        note(trained or f"checkpoint given: {opts.checkpoint}")
    checkpoint = opts.checkpoint or str(trained.checkpoint)
    with display.stage("predict") as note, torch_threads(TORCH_THREADS):
        predicted = predict_dataset(ws, checkpoint=checkpoint, baselines=opts.baselines,
                                    progress=bars)  # fmt: skip
        note(predicted)
    return StageResults(ingested, featured, trained, predicted, checkpoint)


@contextmanager
def torch_threads(n: int):
    """Limit torch to `n` intra-op threads inside the block, then restore the setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# -- the run row and the totals ----------------------------------------------------------------
def _open_run(ws: Workspace, opts: AutoAlignOptions) -> str:
    from aligner.store import Store

    params = {**asdict(opts), "asr_model": _asr_model_id(opts)}
    with Store(ws.db_path) as store:
        for stale in store.abandon_stale_runs():
            print(f"aligner auto-align: run {stale} was interrupted; resuming", file=sys.stderr)
        return store.start_run("auto-align", model="tan", params=params)


def _close_run(
    ws: Workspace, run_id: str, *, status: str, timings: dict[str, float],
    summary: AutoAlignSummary | None = None,
) -> None:  # fmt: skip
    from aligner.store import Store

    with Store(ws.db_path) as store:
        store.finish_run(
            run_id, status=status, checkpoint=summary.checkpoint if summary else None,
            timings={k: round(v, 3) for k, v in timings.items()},
            metrics=summary.metrics() if summary else None,
        )  # fmt: skip


def _summarise(ws: Workspace, run_id: str, results: StageResults, timings, spans):
    from aligner.store import Store

    with Store(ws.db_path, read_only=True) as store:
        share = store.alignable_share(results.predict.run_id, ALIGNABLE_THRESHOLD)
        return AutoAlignSummary(
            run_id, str(ws.dataset), results, len(store.videos()), store.sentence_count(),
            store.total_duration(), share, timings, spans,
        )  # fmt: skip


def _asr_model_id(opts: AutoAlignOptions) -> str | None:
    if not opts.asr:
        return None
    try:
        from aligner.asr import model_id

        return model_id(opts.asr_model)
    except AlignerError:
        return str(opts.asr_model)
