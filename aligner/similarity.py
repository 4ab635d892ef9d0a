"""The K x T similarity a predict run stores per video (one float16 `.npy`, rows in sentence `idx`
order, values cosine / tau), under `ws.root/similarity/<run_id>/<video_id>.npy`.

Prediction writes these files; the review app draws them. Both go through this module, so the
layout lives in one place."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aligner.atomic import atomic_save_npy
from aligner.errors import AlignerError

SIMILARITY_DIR = "similarity"  # under the workspace root


def similarity_path(ws, run_id: str, video_id: str) -> Path:
    """Where a run's similarity for a video lives; `AlignerError` when the ids would lead outside
    the workspace's similarity folder (they come from the store, but never trust a path)."""
    base = (ws.root / SIMILARITY_DIR).resolve()
    path = (base / run_id / f"{video_id}.npy").resolve()
    if not path.is_relative_to(base) or path.parent == base:
        raise AlignerError(f"run {run_id!r} / video {video_id!r}: not a similarity file name")
    return path


def save_similarity(ws, run_id: str, video_id: str, sim: np.ndarray) -> Path:
    """Store a `(K, T)` similarity as float16 (atomically: a killed run leaves no partial file)."""
    return atomic_save_npy(similarity_path(ws, run_id, video_id), np.asarray(sim, np.float16))


def load_similarity(ws, run_id: str, video_id: str) -> np.ndarray | None:
    """The `(K, T)` float16 similarity a run stored for a video; None when it stored none (a run
    imported without similarities, a video that failed); `AlignerError` for an unreadable file."""
    path = similarity_path(ws, run_id, video_id)
    if not path.is_file():
        return None
    try:
        sim = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise AlignerError(f"{path}: unreadable similarity file ({err})") from None
    if sim.ndim != 2:
        raise AlignerError(f"{path}: expected a (sentences x seconds) matrix, got {sim.shape}")
    return sim
