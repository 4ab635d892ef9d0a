"""The features stage: per-second video features and sentence vectors for a whole dataset.

Reads the videos and sentences that ingest stored, computes what the cache does not already
hold, and writes it under `ws.root/features/`. A video that cannot be decoded gets one error
line and the rest completes.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aligner.errors import AlignerError, InputError
from aligner.features.cache import FeatureCache
from aligner.features.text import (
    DEFAULT_TEXT,
    encode_cached,
    encode_missing,
    get_text_encoder,
    open_text_cache,
    text_key,
)
from aligner.features.text_job import TextJob, check_available
from aligner.features.visual import DEFAULT_VISUAL, VideoRef, get_visual_backbone
from aligner.frames import probe

FEATURES_DIR = "features"  # ws.root/features/: the feature cache
TEXT_DIR = "text"  # ws.root/features/text/<encoder key>.npz
POOL_MIN_SECONDS = 120.0  # less video than this to compute: not worth starting processes
MAX_WORKERS = 4  # decoding processes by default


@dataclass
class FeatureSummary:
    """What `compute_features` did; `str()` is the one-line report the CLI prints."""

    visual: list[str]
    text: str
    videos: int = 0
    seconds: float = 0.0  # of video covered
    computed: int = 0  # (video, backbone) pairs computed now
    cached: int = 0  # (video, backbone) pairs read from the cache
    failed: list[str] = field(default_factory=list)  # video ids with an error
    sentences: int = 0
    encoded: int = 0  # sentences encoded now (the rest came from the cache)
    elapsed: float = 0.0  # seconds

    def __str__(self) -> str:
        return (
            f"features: {self.videos} videos ({self.seconds / 60:.1f} min) with "
            f"{', '.join(self.visual)}: {self.computed} computed, {self.cached} cached, "
            f"{len(self.failed)} failed; {self.sentences} sentences with {self.text}: "
            f"{self.encoded} encoded, {self.sentences - self.encoded} cached; "
            f"{self.elapsed:.1f} s"
        )


def visual_names(visual: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if visual is None:
        return [DEFAULT_VISUAL]
    return [visual] if isinstance(visual, str) else list(visual)


def _video_rows(ws) -> tuple[list[dict], list[str]]:
    """(ok video rows, all sentence texts) from the store; the file is closed right after."""
    from aligner.store import Store

    if not Path(ws.db_path).exists():
        raise AlignerError(f"{ws.db_path}: no store yet; run `aligner ingest {ws.dataset}` first")
    with Store(ws.db_path) as store:
        return store.videos(), [s.text for s in store.sentences()]


def video_ref(ws, row: dict) -> VideoRef:
    """A store row as backbones need it; probes the file when ingest stored no duration."""
    path = Path(ws.dataset) / row["path"]
    if not path.exists():
        raise InputError(path, "video file is missing")
    duration = row.get("duration")
    if not duration or duration <= 0:
        duration = probe(path).duration
    return VideoRef(str(row["video_id"]), path, float(duration), Path(ws.dataset))


def video_features(ws, backbone, video: VideoRef) -> tuple[np.ndarray, bool]:
    """(T, D) features of one video from the cache or computed now; also whether it was cached."""
    if not backbone.cacheable:
        return backbone.video_features(video), False
    cache = FeatureCache(ws.subdir(FEATURES_DIR), backbone.key)
    cached = cache.load(video.video_id, video.path)
    if cached is not None:
        return cached, True
    array = np.ascontiguousarray(backbone.video_features(video), dtype=np.float32)
    cache.save(video.video_id, video.path, array)
    return array, False


def compute_features(
    ws,
    *,
    visual=None,
    text: str | None = None,
    workers: int | None = None,
    progress: bool | None = None,
) -> FeatureSummary:
    """Visual features of every ok video and text features of every sentence, skipping the
    cached ones. `visual`: backbone names (default `["builtin"]`); `text`: encoder (`minilm`).
    `progress`: the tqdm bar (seconds of video, videos done, ETA); None = only on a terminal.

    `workers`: processes decoding videos side by side (two processes on two cores beat one
    threaded decoder); default: one per core (at most `MAX_WORKERS`) when there are more than
    `POOL_MIN_SECONDS` of video to compute and no transformers model (that one runs in-process,
    on the GPU when there is one), else 1.
    """
    started = time.perf_counter()
    summary = FeatureSummary(visual_names(visual), text or DEFAULT_TEXT)
    rows, texts = _video_rows(ws)
    backbones = [get_visual_backbone(n, dataset=ws.dataset) for n in summary.visual]
    for backbone in backbones:
        if hasattr(backbone, "loaded"):
            backbone.loaded()  # a model that cannot load fails the run once, not per video
    encoder, folder = get_text_encoder(summary.text), ws.subdir(FEATURES_DIR, TEXT_DIR)
    unique = list(dict.fromkeys(texts))
    known = open_text_cache(folder, encoder.key).index
    job = None
    if any(text_key(t) not in known for t in unique):
        if _has_visual_work(ws, rows, backbones):  # encode on the other core meanwhile
            check_available(summary.text)  # a bad name fails before any video
            job = TextJob(summary.text, unique, folder)
        else:
            encoder.loaded()  # a text model that cannot load fails now, not after hours of video
    workers = _pool_size(ws, rows, backbones, workers)
    try:
        _visual_pass(ws, rows, backbones, summary, workers, progress,
                     on_video=job.check if job else None)  # fmt: skip
        summary.sentences = len(texts)
        if job is not None:
            summary.encoded = job.result()
        else:  # saved in chunks: a kill keeps the sentences encoded so far
            summary.encoded = encode_missing(encoder, unique, folder)
    finally:
        if job is not None:
            job.stop()
    summary.elapsed = time.perf_counter() - started
    return summary


def _has_visual_work(ws, rows: list[dict], backbones: list) -> bool:
    """Whether some video still needs a cacheable backbone's features computed."""
    caches = [FeatureCache(ws.subdir(FEATURES_DIR), b.key) for b in backbones if b.cacheable]
    return any(not c.valid(str(r["video_id"])) for r in rows for c in caches)


@dataclass
class _Outcome:
    """One video's result, also sent back from worker processes."""

    video_id: str
    computed: int = 0
    cached: int = 0
    error: str | None = None


def _video_job(ws, row: dict, backbones: list) -> _Outcome:
    out = _Outcome(str(row["video_id"]))
    try:
        video = video_ref(ws, row)
        for backbone in backbones:
            _, was_cached = video_features(ws, backbone, video)
            out.cached += was_cached
            out.computed += not was_cached
    except AlignerError as err:
        out.error = str(err)
    return out


def _worker_job(ws, row: dict, names: list[str]) -> _Outcome:
    """`_video_job` in a worker process, which builds its own backbones."""
    return _video_job(ws, row, [get_visual_backbone(n, dataset=ws.dataset) for n in names])


def _pool_size(ws, rows: list[dict], backbones: list, workers: int | None) -> int:
    if workers is not None:
        return max(1, min(workers, len(rows)))
    if any(hasattr(b, "loaded") for b in backbones):
        return 1  # one transformers model, in this process
    caches = [FeatureCache(ws.subdir(FEATURES_DIR), b.key) for b in backbones if b.cacheable]
    todo = [r for r in rows if any(not c.valid(str(r["video_id"])) for c in caches)]
    if sum(float(r.get("duration") or 0) for r in todo) < POOL_MIN_SECONDS:
        return 1  # starting processes would cost more than it saves
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS, len(todo)))


def _outcomes(ws, rows: list[dict], backbones: list, workers: int):
    """(row, outcome) per video, in this process or from a pool of `workers` processes."""
    if workers <= 1:
        for row in rows:
            yield row, _video_job(ws, row, backbones)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from aligner.lifeline import die_with_parent

    names = [b.name for b in backbones]
    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads
    # a SIGKILLed parent runs no cleanup: the initializer makes each worker die with it
    with ProcessPoolExecutor(workers, mp_context=context, initializer=die_with_parent,
                             initargs=(os.getpid(),)) as pool:  # fmt: skip
        futures = {pool.submit(_worker_job, ws, row, names): row for row in rows}
        for future in as_completed(futures):
            yield futures[future], future.result()


def _visual_pass(ws, rows: list[dict], backbones: list, summary: FeatureSummary, workers: int,
                 progress: bool | None, on_video=None):  # fmt: skip
    from tqdm import tqdm

    total = sum(float(r.get("duration") or 0) for r in rows)
    bar = tqdm(total=round(total), unit="s", desc="video features",
               file=sys.stderr, dynamic_ncols=True,
               disable=None if progress is None else not progress)  # fmt: skip
    with bar:
        for row, outcome in _outcomes(ws, rows, backbones, workers):
            seconds = float(row.get("duration") or 0)
            summary.videos += 1
            summary.seconds += seconds
            summary.computed += outcome.computed
            summary.cached += outcome.cached
            if outcome.error:
                summary.failed.append(outcome.video_id)
                bar.write(f"aligner features: {outcome.video_id}: {outcome.error}", file=sys.stderr)
            bar.set_postfix_str(f"{summary.videos}/{len(rows)} videos")
            bar.update(round(seconds))
            if on_video is not None:
                on_video()


def load_video_features(ws, video_id: str, visual=None) -> list[np.ndarray]:
    """One float32 (T, D_i) array per backbone, from the cache (computed and cached if missing)."""
    out, video = [], None
    for name in visual_names(visual):
        backbone = get_visual_backbone(name, dataset=ws.dataset)
        if backbone.cacheable:
            hit = FeatureCache(ws.subdir(FEATURES_DIR), backbone.key).load(video_id)
            if hit is not None:
                out.append(hit)
                continue
        video = video or _lookup_video(ws, video_id)
        out.append(video_features(ws, backbone, video)[0])
    return out


def _lookup_video(ws, video_id: str) -> VideoRef:
    from aligner.store import Store

    with Store(ws.db_path) as store:
        row = store.video(video_id)
    if row is None:
        raise AlignerError(f"{video_id}: no such video in {ws.db_path}")
    return video_ref(ws, row)


def load_text_features(ws, texts: list[str], text: str | None = None) -> np.ndarray:
    """(K, D) float32 unit vectors for `texts`, encoding and caching the ones not seen before."""
    encoder = get_text_encoder(text or DEFAULT_TEXT)
    return encode_cached(encoder, list(texts), ws.subdir(FEATURES_DIR, TEXT_DIR))[0]


def feature_dims(visual=None, text: str | None = None, *, dataset=None) -> tuple[list[int], int]:
    """(visual dims per backbone, text dim). `dataset` (folder or workspace) is needed for
    `precomputed:` names.

    `builtin` is a constant; a transformers model is loaded (no video is decoded) and embeds
    one blank image / one word to read its width exactly.
    """
    dataset = getattr(dataset, "dataset", dataset)  # a Workspace works too
    dims = [get_visual_backbone(n, dataset=dataset).dim for n in visual_names(visual)]
    return dims, get_text_encoder(text or DEFAULT_TEXT).dim


def feature_keys(visual=None, text: str | None = None, *, dataset=None) -> dict[str, object]:
    """What the named features are made from, without computing or loading anything: each
    visual backbone's cache key (its version and settings, a local model's files) and the text
    encoder's. Stages that read features put this into the key of their inputs."""
    dataset = getattr(dataset, "dataset", dataset)  # a Workspace works too
    visual_keys = [get_visual_backbone(n, dataset=dataset).key for n in visual_names(visual)]
    return {"visual": visual_keys, "text": get_text_encoder(text or DEFAULT_TEXT).key}
