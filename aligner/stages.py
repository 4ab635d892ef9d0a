"""Per-video work of the batch pipeline, one function per stage, with no Ray in sight.

`pipelines/` runs each function inside a Ray Data actor (one model load per actor); the local
path runs the same backbone / encoder / model code through `aligner.features` and
`aligner.tan.infer`. A video is a dict (one manifest row, see `aligner.manifest`) that each stage
extends: `decode` adds `frames`, `embed` adds `visual` + `text_features`, `predict` adds the
prediction columns. A stage that fails sets `error` (one line naming the video) and later stages
pass the row through untouched, so one bad file never stops a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aligner.errors import AlignerError, first_line

PREDICTION_FIELDS = ("alignability", "start", "end", "peak", "dual_alignability", "dual_peak")


def failed(video: dict) -> bool:
    return bool(video.get("error"))


def record_error(video: dict, stage: str, err: Exception) -> dict:
    """Mark `video` failed at `stage` with a one-line reason (AlignerErrors name the file)."""
    reason = str(err) if isinstance(err, AlignerError) else f"{type(err).__name__}: {err}"
    video["error"] = f"{stage}: {first_line(reason)}"
    return video


def video_ref(video: dict, dataset: Path | None):
    from aligner.features.visual import VideoRef

    return VideoRef(str(video["video_id"]), Path(video["path"] or "."), float(video["duration"]),
                    dataset or Path("."))  # fmt: skip


# -- decode (CPU) ------------------------------------------------------------------------------
def decode(video: dict, backbones: Sequence, dataset: Path | None) -> dict:
    """Decode the frames each frame-based backbone needs: `frames` = one uint8 (T, H, W, 3) array
    per backbone (None for backbones without frames, e.g. precomputed features)."""
    if failed(video):
        return video
    try:
        ref = video_ref(video, dataset)
        video["frames"] = [
            np.stack(list(b.frames(ref))) if hasattr(b, "frames") else None for b in backbones
        ]
    except Exception as err:  # noqa: BLE001 - any decoder failure is this video's error
        record_error(video, "decode", err)
    return video


# -- embed (GPU when there is one) -------------------------------------------------------------
def embed(video: dict, backbones: Sequence, encoder, dataset: Path | None) -> dict:
    """Per-second features per backbone (`visual`: list of float32 (T, D_i)) from the decoded
    frames, and sentence vectors (`text_features`: float32 (K, Dt))."""
    if failed(video):
        return video
    try:
        frames = video.pop("frames", None) or [None] * len(backbones)
        ref = video_ref(video, dataset)
        video["visual"] = [
            np.ascontiguousarray(
                b.video_features(ref) if f is None else b.embed_frames(f), dtype=np.float32
            )
            for b, f in zip(backbones, frames, strict=True)
        ]
        video["text_features"] = encoder.encode(list(video["texts"])).astype(np.float32)
    except Exception as err:  # noqa: BLE001
        record_error(video, "embed", err)
    return video


# -- predict -----------------------------------------------------------------------------------
def predict(video: dict, model, *, mode: str = "window") -> dict:
    """TAN on one embedded video: the `predictions` columns (arrays of K) and the fused `sim`
    (float16 (K, T)), exactly as `aligner.tan.infer` stores them locally."""
    from aligner.tan.infer import _check_dims, predict_video, sentence_rows

    if failed(video):
        return video
    try:
        visual = video["visual"]
        _check_dims(str(video["video_id"]), [v.shape[1] for v in visual], model.spec.visual_dims)
        pred = predict_video(model, visual, video["text_features"], np.asarray(video["starts"]),
                             np.asarray(video["ends"]), mode=mode,
                             video_id=str(video["video_id"]))  # fmt: skip
        rows = sentence_rows(pred)
        for name in PREDICTION_FIELDS:
            video[name] = np.array([r[name] for r in rows], dtype=np.float64)
        video["sim"] = pred.sim.astype(np.float16)
    except Exception as err:  # noqa: BLE001
        record_error(video, "predict", err)
    return video


def prediction_records(video: dict) -> list[dict[str, Any]]:
    """One record per sentence of a predicted video (the predictions shard's rows)."""
    ids = video.get("sentence_ids")
    return [
        {
            "video_id": str(video["video_id"]),
            "idx": k,
            "sentence_id": None if ids is None else int(ids[k]),
            "text": str(video["texts"][k]),
            "asr_start": float(video["starts"][k]),
            "asr_end": float(video["ends"][k]),
            **{name: float(video[name][k]) for name in PREDICTION_FIELDS},
        }  # fmt: skip
        for k in range(len(video["texts"]))
    ]
