"""`aligner auto-align`: ingest (+ Whisper where subtitles are missing) -> features -> train (when
no checkpoint is given) -> predict, recorded as one `runs` row of kind 'auto-align'.

Resumable and incremental, because every stage skips what is already stored for the same inputs:
  ingest    per-video `input_key` (a transcribed video is not transcribed again)
  features  per-video, per-backbone cache files
  train     the checkpoint is named by a hash of its inputs (videos, sentences, human labels,
            feature backbones, epochs, seed, model / training defaults): same inputs, same
            file, no training
  predict   skipped when the latest `tan` run came from an earlier auto-align with the same
            checkpoint bytes and the same videos and sentences
A process killed at any point leaves committed rows and finished cache files only; runs it left
'running' are marked failed (their partial predictions dropped) when the next run starts.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aligner.errors import AlignerError
from aligner.export import ALIGNABLE_THRESHOLD  # the summary counts what the export calls alignable
from aligner.workspace import Workspace

STAGES = ("ingest", "features", "train", "predict")  # ASR runs inside ingest, per video
AUTO_CHECKPOINT = "auto-{key}.pt"  # under ws.root/checkpoints/; key = hash of the train inputs
KEY_CHARS = 16  # hex characters of the input hashes kept in names
HASH_CHUNK_BYTES = 1 << 20  # read checkpoints 1 MiB at a time when hashing them
# torch intra-op threads while training / predicting. The TAN is small (width 128): on a shared
# 2-core machine two threads spin-wait on each other; benchmarks/bench_pipeline.py measured the
# default train stage at 638 s with 2 threads vs 19 s with 1 on the same 30 videos.
TORCH_THREADS = 1


@dataclass
class AutoAlignSummary:
    """What one auto-align did; `str()` is the closing report."""

    run_id: str
    dataset: str = "DATASET"
    videos: int = 0
    sentences: int = 0
    video_seconds: float = 0.0
    share_alignable: float | None = None
    predict_run_id: str | None = None
    checkpoint: str | None = None
    checkpoint_origin: str = ""  # given | trained | reused
    predicted: bool = False  # False when the stored predictions were already up to date
    predict_key: str | None = None  # hash of the prediction's inputs (checkpoint, sentences)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage + total
    spans: dict[str, tuple[float, float]] = field(default_factory=dict)  # perf_counter per stage
    notes: list[str] = field(default_factory=list)  # one line per stage summary

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
            "realtime": round(self.realtime, 3), "predict_key": self.predict_key,
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
    """Run every stage on `ws.dataset`, skipping what is stored and up to date.

    `progress`: the overall display on stderr (None: only on a terminal); `sentences`: the
    `SentencifyParams` ingest uses (e.g. `already_sentences=True` for `--sentences-as-cues`)."""
    opts = AutoAlignOptions(
        str(checkpoint) if checkpoint else None, asr, asr_model, write_subtitles,
        tuple(visual) if visual else None, text, epochs, seed, baselines, sentences,
    )  # fmt: skip
    if opts.checkpoint and not Path(opts.checkpoint).is_file():
        raise AlignerError(f"{opts.checkpoint}: checkpoint not found")
    run_id = _open_run(ws, opts)
    summary = AutoAlignSummary(run_id=run_id, dataset=str(ws.dataset))
    started = time.perf_counter()
    try:
        with _Display(progress) as display:
            _run_stages(ws, opts, summary, display)
    except BaseException:
        _close_run(ws, summary, status="failed")
        raise
    summary.timings["total"] = time.perf_counter() - started
    _fill_totals(ws, summary)
    _close_run(ws, summary, status="done")
    return summary


def _run_stages(ws: Workspace, opts: AutoAlignOptions, summary: AutoAlignSummary, display) -> None:
    from aligner.features import compute_features
    from aligner.ingest import ingest_dataset

    bars = display.inner
    with display.stage("ingest", summary):
        ingested = ingest_dataset(
            ws, asr=opts.asr, asr_model=opts.asr_model, params=opts.sentences, progress=bars
        )
        summary.notes.append(str(ingested))
        display.note(f"{ingested.ok}/{ingested.videos} videos with sentences")
        if opts.write_subtitles:
            summary.notes.append(write_asr_subtitles(ws))
    with display.stage("features", summary):
        summary.notes.append(str(compute_features(ws, visual=_list(opts.visual), text=opts.text)))
    with display.stage("train", summary), _torch_threads(TORCH_THREADS):
        summary.checkpoint, summary.checkpoint_origin = _train_stage(ws, opts, summary, bars)
    with display.stage("predict", summary), _torch_threads(TORCH_THREADS):
        _predict_stage(ws, opts, summary, bars)


@contextmanager
def _torch_threads(n: int):
    """Limit torch to `n` intra-op threads inside the block, then restore the setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# -- train -------------------------------------------------------------------------------------
def _train_stage(ws: Workspace, opts: AutoAlignOptions, summary, bars: bool) -> tuple[str, str]:
    """(checkpoint path, origin): the given one, one trained before on the same inputs, or new."""
    if opts.checkpoint:
        return str(Path(opts.checkpoint).resolve()), "given"
    from aligner.tan.train import train_dataset

    key = train_key(ws, opts)
    path = ws.subdir("checkpoints") / AUTO_CHECKPOINT.format(key=key)
    if path.is_file():  # checkpoints are written atomically: a file here is a finished training
        return str(path), "reused"
    trained = train_dataset(
        ws, epochs=opts.epochs, out=path, visual=_list(opts.visual), text=opts.text,
        seed=opts.seed, progress=bars,
    )  # fmt: skip
    summary.notes.append(str(trained))
    return str(path), "trained"


def train_key(ws: Workspace, opts: AutoAlignOptions) -> str:
    """Hash of everything training reads: stored videos, sentences, human labels, options, and
    the default model / training settings (so new defaults train a new checkpoint)."""
    from dataclasses import asdict

    from aligner.store import Store
    from aligner.tan.config import TANConfig, TrainConfig

    with Store(ws.db_path) as store:
        digest = store.content_digest()
    inputs = {
        "content": digest, "visual": opts.visual, "text": opts.text, "epochs": opts.epochs,
        "seed": opts.seed, "model": asdict(TANConfig()), "train": asdict(TrainConfig()),
    }  # fmt: skip
    return _hash(inputs)


# -- predict -----------------------------------------------------------------------------------
def _predict_stage(ws: Workspace, opts: AutoAlignOptions, summary: AutoAlignSummary, bars) -> None:
    from aligner.store import Store
    from aligner.tan.infer import predict_dataset

    with Store(ws.db_path) as store:
        key = predict_key(store, summary.checkpoint)
        reusable = _reusable_prediction(store, key)
    summary.predict_key = key
    if reusable:
        summary.predict_run_id = reusable
        return
    predicted = predict_dataset(
        ws, checkpoint=summary.checkpoint, baselines=opts.baselines, progress=bars
    )
    summary.notes.append(str(predicted))
    summary.predict_run_id, summary.predicted = predicted.run_id, True


def predict_key(store, checkpoint: str | None) -> str:
    """Hash of what prediction reads: the checkpoint's bytes and the stored videos / sentences
    (the bytes, not the path: a dataset folder moved elsewhere keeps its predictions)."""
    digest = store.content_digest()
    ckpt = _file_sha256(Path(checkpoint)) if checkpoint else None
    return _hash({"checkpoint": ckpt, "videos": digest["videos"], "sentences": digest["sentences"]})


def _file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK_BYTES):
            sha.update(chunk)
    return sha.hexdigest()


def _reusable_prediction(store, key: str) -> str | None:
    """The latest `tan` run's id when the previous auto-align made it from the same inputs."""
    latest, previous = store.latest_run("tan"), store.latest_auto_align()
    if latest is None or previous is None:
        return None
    metrics = json.loads(previous["metrics"] or "{}")
    if metrics.get("predict_key") == key and metrics.get("predict_run_id") == latest["run_id"]:
        return latest["run_id"]
    return None


# -- ASR transcripts as subtitle files ---------------------------------------------------------
def write_asr_subtitles(ws: Workspace) -> str:
    """Write `subtitles/<video_id>.vtt` with the stored sentences of every video whose text came
    from Whisper, unless that file exists. The next ingest reads them as ordinary subtitles."""
    from aligner.store import Store
    from aligner.subtitles import Cue, write_vtt

    folder = ws.dataset / "subtitles"
    written = 0
    with Store(ws.db_path) as store:
        for video in store.videos():
            target = folder / f"{video['video_id']}.vtt"
            if video["subtitle_source"] != "asr" or target.exists():
                continue
            folder.mkdir(exist_ok=True)
            cues = [Cue(s.start, s.end, s.text) for s in store.sentences(video["video_id"])]
            write_vtt(cues, target)
            written += 1
    return f"wrote {written} Whisper transcript(s) to {folder}"


# -- the run row and the totals ----------------------------------------------------------------
def _open_run(ws: Workspace, opts: AutoAlignOptions) -> str:
    from dataclasses import asdict

    from aligner.store import Store

    params = {**asdict(opts), "asr_model": _asr_model_id(opts)}
    with Store(ws.db_path) as store:
        for stale in store.abandon_stale_runs():
            print(f"aligner auto-align: run {stale} was interrupted; resuming", file=sys.stderr)
        return store.start_run("auto-align", model="tan", params=params)


def _close_run(ws: Workspace, summary: AutoAlignSummary, *, status: str) -> None:
    from aligner.store import Store

    metrics = summary.metrics()
    timings = {k: round(v, 3) for k, v in summary.timings.items()}
    with Store(ws.db_path) as store:
        store.finish_run(
            summary.run_id, status=status, checkpoint=summary.checkpoint, timings=timings,
            metrics=metrics,
        )  # fmt: skip


def _fill_totals(ws: Workspace, summary: AutoAlignSummary) -> None:
    from aligner.store import Store

    with Store(ws.db_path) as store:
        summary.videos = len(store.videos())
        summary.sentences = store.sentence_count()
        summary.video_seconds = store.total_duration()
        if summary.predict_run_id:
            summary.share_alignable = store.alignable_share(
                summary.predict_run_id, ALIGNABLE_THRESHOLD
            )


def _asr_model_id(opts: AutoAlignOptions) -> str | None:
    if not opts.asr:
        return None
    try:
        from aligner.asr import model_id

        return model_id(opts.asr_model)
    except AlignerError:
        return str(opts.asr_model)


def _list(values: tuple[str, ...] | None) -> list[str] | None:
    return list(values) if values else None


def _hash(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:KEY_CHARS]


# -- the overall progress display --------------------------------------------------------------
class _Display:
    """One overall bar (stage k/4, elapsed, ETA) on stderr; each stage's own per-video bar shows
    below it. Without a terminal (or with progress=False) one line per finished stage instead."""

    def __init__(self, progress: bool | None):
        self.enabled = sys.stderr.isatty() if progress is None else progress
        self.inner = self.enabled  # whether stages draw their own per-video bars
        self.bar = None

    def __enter__(self) -> _Display:
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=len(STAGES), desc="auto-align", unit="stage", file=sys.stderr,
                            position=0, dynamic_ncols=True)  # fmt: skip
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()

    def note(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(text)

    @contextmanager
    def stage(self, name: str, summary: AutoAlignSummary):
        """Time one stage into `summary.timings[name]` and advance the overall bar."""
        number = STAGES.index(name) + 1
        if self.bar is not None:
            self.bar.set_description(f"auto-align [{number}/{len(STAGES)} {name}]")
        started, n_notes = time.perf_counter(), len(summary.notes)
        yield
        summary.spans[name] = (started, time.perf_counter())
        summary.timings[name] = summary.spans[name][1] - started
        lines = [
            f"auto-align: [{number}/{len(STAGES)}] {name} done in {summary.timings[name]:.1f} s"
        ]
        lines += [f"  {note}" for note in summary.notes[n_notes:]]
        if self.bar is not None:
            self.bar.update(1)
        for line in lines:
            self._write(line)

    def _write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)
