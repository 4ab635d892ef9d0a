"""Cached media for the Review page: the clip for the player, the frame strip, the heatmap."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import streamlit as st
from aligner.ui import alignment_picture, media, state
from aligner.ui.frame_strip import frame_strip, strip_times
from aligner.ui.player import player

from aligner.errors import AlignerError
from aligner.frames import FALLBACK_FPS
from aligner.similarity import load_similarity

CLIP_MARGIN_S = 10.0  # seconds of video around a sentence's said + shown windows in its clip
CLIP_GRID_S = 5.0  # clip bounds snap to this grid so neighbouring sentences share clips


@st.cache_data(show_spinner=False, max_entries=24)
def _clip_url(path: str, mtime: float, start: float, end: float, cache_dir: str):
    data, offset = media.clip(Path(path), start, end, Path(cache_dir))
    return media.data_url(data, "video/mp4"), offset


@st.cache_data(show_spinner=False, max_entries=64)
def _thumb_urls(path: str, mtime: float, times: tuple[float, ...], cache_dir: str) -> list[str]:
    jpegs = media.thumbnails(Path(path), list(times), Path(cache_dir))
    return [media.data_url(j, "image/jpeg") if j else "" for j in jpegs]


@st.cache_resource(show_spinner=False, max_entries=4)  # read-only: no copy per render
def _heat_rgb(root: str, run_id: str, video_id: str) -> np.ndarray | None:
    """The coloured (K, T, 3) heatmap of a run's stored similarity (a run's files never change)."""
    sim = load_similarity(state.workspace(), run_id, video_id)
    return None if sim is None else alignment_picture.colour_rows(sim.astype(np.float32))


def video_file(video: dict):
    """The video's path inside the dataset, or None (with one error line) when refused/missing."""
    try:
        return media.safe_video_path(state.dataset_path(), video["path"])
    except AlignerError as err:
        st.error(str(err))
        return None


def _windows(row: dict) -> list[tuple[float, float]]:
    windows = [(row["asr_start"], row["asr_end"])]
    if row["pred_start"] is not None:
        windows.append((row["pred_start"], row["pred_end"]))
    return windows


def show_player(path, video: dict, rows: list[dict], row: dict, edit: tuple[float, float]):
    """The two-way player on a clip around the sentence; returns the component result."""
    windows = _windows(row) + [edit]
    lo = max(
        0.0, math.floor((min(w[0] for w in windows) - CLIP_MARGIN_S) / CLIP_GRID_S) * CLIP_GRID_S
    )
    hi = math.ceil((max(w[1] for w in windows) + CLIP_MARGIN_S) / CLIP_GRID_S) * CLIP_GRID_S
    if video.get("duration"):
        hi = min(hi, float(video["duration"]))
    cache = state.workspace().subdir("clips")
    try:
        url, offset = _clip_url(str(path), path.stat().st_mtime, lo, hi, str(cache))
    except AlignerError as err:
        st.error(str(err))
        return None
    cues = [(r["asr_start"], r["asr_end"], r["text"]) for r in rows
            if r["asr_end"] > lo and r["asr_start"] < hi]  # fmt: skip
    return player(
        key="player", clip_url=url, clip_key=f"{path.name}:{lo}:{hi}", offset=offset,
        seg_start=edit[0], seg_end=edit[1], fps=float(video.get("fps") or FALLBACK_FPS),
        vtt=media.vtt_for(cues, offset), on_mark=lambda: None,
    )  # fmt: skip


def show_strip(path, video: dict, row: dict, edit: tuple[float, float]):
    """Thumbnails around the said and shown windows; returns the component result."""
    times = strip_times(_windows(row), video.get("duration"))
    cache = state.workspace().subdir("thumbs")
    urls = _thumb_urls(str(path), path.stat().st_mtime, tuple(times), str(cache))
    inside = lambda t, a, b: a is not None and a - 0.5 < t < b + 0.5  # noqa: E731
    frames = [
        {"t": t, "src": u, "said": inside(t, row["asr_start"], row["asr_end"]),
         "shown": inside(t, row["pred_start"], row["pred_end"]), "edit": inside(t, *edit)}
        for t, u in zip(times, urls, strict=True) if u
    ]  # fmt: skip
    return frame_strip(key="frames", sentence=row["sentence_id"], frames=frames,
                       on_pick=lambda: None)  # fmt: skip


def show_alignment(run: dict | None, video: dict, rows: list[dict], idx: int) -> None:
    """Zoomed view around the sentence, then the whole video; LAFF weights when reported."""
    rgb = None
    try:
        if run:
            rgb = _heat_rgb(str(state.workspace().root), run["run_id"], video["video_id"])
    except AlignerError as err:  # an unreadable file: say which, draw the timeline only
        st.warning(str(err))
    duration = float(video.get("duration") or max(r["asr_end"] for r in rows))
    if rgb is None:
        st.caption("No similarity matrix for this video in the current run: timeline only.")
    else:
        duration = max(duration, rgb.shape[1])
    k_range, t_range = alignment_picture.zoom_ranges(rows, idx, duration)
    height = (k_range[1] - k_range[0]) * alignment_picture.PX_PER_ROW_ZOOM
    zoom = alignment_picture.draw(rgb, rows, k_range=k_range, t_range=t_range,
                                  size=(900, height), current=idx)  # fmt: skip
    st.image(zoom, caption=f"sentences #{k_range[0]}–#{k_range[1] - 1}, "
             f"{t_range[0]:.0f}–{t_range[1]:.0f} s: orange said, blue shown, green your label,"
             " red edge not alignable, white box current")  # fmt: skip
    full = alignment_picture.draw(
        rgb, rows, k_range=(0, len(rows)), t_range=(0.0, duration),
        size=(alignment_picture.FULL_WIDTH_PX, alignment_picture.FULL_HEIGHT_PX), current=idx,
    )  # fmt: skip
    st.image(full, caption=f"whole video: {len(rows)} sentences × {duration:.0f} s")
    _laff_weights(run, video["video_id"])


def _laff_weights(run: dict | None, video_id: str) -> None:
    """Per-feature LAFF weights when the run reports them: this video's from the metrics key
    `laff_weights_per_video` ({video_id: {feature: weight}}, written by `aligner.tan.infer`), else a
    `metrics` or `params` key with "laff" or "fusion_weights": {feature: weight or [weights]}."""
    if run is None:
        return
    blobs = {f: run.get(f) for f in ("metrics", "params")}
    values = {f: json.loads(b) if isinstance(b, str) else (b or {}) for f, b in blobs.items()}
    per_video = values["metrics"].get("laff_weights_per_video") or {}
    if video_id in per_video:
        values["metrics"] = {"laff_weights": per_video[video_id]}
    for field in ("metrics", "params"):
        items = values[field].items()
        weights = next((v for k, v in items if "laff" in k or "fusion_weights" in k), None)
        if isinstance(weights, dict) and weights:
            means = {k: float(np.mean(v)) for k, v in weights.items()}
            st.caption("LAFF fusion weights per feature (mean over the video)")
            st.bar_chart(means, height=180)
            return
    visual = (values["params"].get("features") or {}).get("visual") or []
    if len(visual) > 1:
        st.caption(f"LAFF fuses {', '.join(map(str, visual))}; this run did not report weights.")
