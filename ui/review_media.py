"""Cached media for the Review page: the desk's clip and frame strip, the alignment heatmap."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import streamlit as st
from aligner.ui import alignment_picture, media, state

from aligner.errors import AlignerError
from aligner.similarity import load_similarity
from aligner.tags import MANIFEST as TAGS_MANIFEST
from aligner.tags import best_tag_per_second, tags_dir

CLIP_MARGIN_S = 10.0  # seconds of video around a sentence's said + shown windows in its clip
CLIP_GRID_S = 60.0  # clip bounds snap to this grid so neighbouring sentences share one clip
FRAMES_PER_S = 1.0  # thumbnails per second of video in the frame strip
STRIP_MARGIN_S = 3.0  # seconds shown before and after the union of the windows
MAX_FRAMES = 48  # a very long window is sampled more sparsely instead


@st.cache_resource(show_spinner=False, max_entries=24)  # immutable str: no copy per rerun
def _clip_url(path: str, mtime: float, start: float, end: float, cache_dir: str):
    data, offset = media.clip(Path(path), start, end, Path(cache_dir))
    return media.data_url(data, "video/mp4"), offset


@st.cache_resource(show_spinner=False, max_entries=64)
def _thumb_urls(path: str, mtime: float, times: tuple[float, ...], cache_dir: str) -> list[str]:
    jpegs = media.thumbnails(Path(path), list(times), Path(cache_dir))
    return [media.data_url(j, "image/jpeg") if j else "" for j in jpegs]


@st.cache_resource(show_spinner=False, max_entries=4)  # read-only: no copy per render
def _heat_rgb(root: str, run_id: str, video_id: str) -> np.ndarray | None:
    """The coloured (K, T, 3) heatmap of a run's stored similarity (a run's files never change)."""
    sim = load_similarity(state.workspace(), run_id, video_id)
    return None if sim is None else alignment_picture.colour_rows(sim.astype(np.float32))


@st.cache_resource(show_spinner=False, max_entries=8)
def _waveform(path: str, mtime: float, cache_dir: str):
    return media.waveform(Path(path), Path(cache_dir))


@st.cache_resource(show_spinner=False, max_entries=4)  # a run's files never change
def _similarity(root: str, run_id: str, video_id: str) -> np.ndarray | None:
    """A run's (K, T) similarity of a video as float32 (None when it stored none)."""
    sim = load_similarity(state.workspace(), run_id, video_id)
    return None if sim is None else sim.astype(np.float32)


def similarity_row(run: dict | None, video_id: str, idx: int) -> list[float] | None:
    """Sentence `idx`'s similarity per second, scaled to 0..1 over its own row (heat strip)."""
    try:
        sim = _similarity(str(state.workspace().root), run["run_id"], video_id) if run else None
    except AlignerError:  # ids that would lead outside the workspace
        return None
    if sim is None or idx >= sim.shape[0]:
        return None
    row = sim[idx]
    lo, hi = float(row.min()), float(row.max())
    return [round(float(v), 2) for v in (row - lo) / max(hi - lo, 1e-6)]


def tag_row(video_id: str) -> list[str | None] | None:
    """The best entity tag of each second of the video (None where no tag reaches
    `aligner.tags.TAG_Z`), for the timeline's tags lane; None when no tags are computed."""
    manifest = tags_dir(state.workspace()) / TAGS_MANIFEST
    if not manifest.is_file():
        return None
    return _tag_row(video_id, manifest.stat().st_mtime_ns)


@st.cache_resource(show_spinner=False, max_entries=8)  # keyed by the tags' mtime: recomputed tags
def _tag_row(video_id: str, _stamp: int) -> list[str | None] | None:
    try:
        return best_tag_per_second(state.workspace(), video_id)
    except AlignerError:  # tags of another index, or a video the tags do not cover
        return None


def wave_for_clip(path, lo: float, hi: float) -> list[float] | None:
    """Waveform peaks from `lo` to `hi` s (`media.WAVE_BINS_PER_S` per second)."""
    cache = state.workspace().subdir("waveforms")
    peaks = _waveform(str(path), path.stat().st_mtime, str(cache))
    if peaks is None:
        return None
    a, b = int(lo * media.WAVE_BINS_PER_S), int(hi * media.WAVE_BINS_PER_S)
    return [round(float(v), 2) for v in peaks[a:b]]


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


def strip_times(windows: list[tuple[float, float]], duration: float | None) -> list[float]:
    """Thumbnail times (s) covering all `windows` with `STRIP_MARGIN_S` margin."""
    lo = max(0.0, min(w[0] for w in windows) - STRIP_MARGIN_S)
    hi = max(w[1] for w in windows) + STRIP_MARGIN_S
    if duration:
        hi = min(hi, max(duration - 0.1, lo))
    step = max(1.0 / FRAMES_PER_S, (hi - lo) / MAX_FRAMES)
    n = int((hi - lo) / step) + 1
    return [round(lo + i * step, 2) for i in range(n)]


def clip_bounds(row: dict, duration: float | None) -> tuple[float, float]:
    """The clip around a sentence's windows, snapped to `CLIP_GRID_S` so neighbours share it."""
    windows = _windows(row)
    lo = math.floor((min(w[0] for w in windows) - CLIP_MARGIN_S) / CLIP_GRID_S) * CLIP_GRID_S
    hi = math.ceil((max(w[1] for w in windows) + CLIP_MARGIN_S) / CLIP_GRID_S) * CLIP_GRID_S
    return max(0.0, lo), min(hi, float(duration)) if duration else hi


def clip_data(path, video: dict, rows: list[dict], row: dict, have: str | None) -> dict | None:
    """The desk's clip around `row`: key, offset, end (`hi`), and the mp4 + VTT only when the
    desk does not hold this clip already (`have` is the key it reported)."""
    lo, hi = clip_bounds(row, video.get("duration"))
    key = f"{path.name}:{lo}:{hi}"
    cache = state.workspace().subdir("clips")
    try:
        url, offset = _clip_url(str(path), path.stat().st_mtime, lo, hi, str(cache))
    except AlignerError as err:
        st.error(str(err))
        return None
    out = {"key": key, "offset": offset, "lo": lo, "hi": hi, "src": None, "vtt": None,
           "wave": None, "wave_per_s": media.WAVE_BINS_PER_S}  # fmt: skip
    if have != key:
        cues = [(r["asr_start"], r["asr_end"], r["text"]) for r in rows
                if r["asr_end"] > lo and r["asr_start"] < hi]  # fmt: skip
        out.update(src=url, vtt=media.vtt_for(cues, offset), wave=wave_for_clip(path, lo, hi))
    return out


def strip_data(path, video: dict, row: dict, have: int | None) -> dict:
    """Thumbnails around the said and shown windows of `row` (frames None when the desk has
    them: `have` is the sentence id of the strip it holds)."""
    sid = int(row["sentence_id"])
    if have == sid:
        return {"sid": sid, "frames": None}
    times = strip_times(_windows(row), video.get("duration"))
    cache = state.workspace().subdir("thumbs")
    urls = _thumb_urls(str(path), path.stat().st_mtime, tuple(times), str(cache))
    return {
        "sid": sid,
        "frames": [{"t": t, "src": u} for t, u in zip(times, urls, strict=True) if u],
    }


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
    st.image(zoom, caption=f"sentences #{k_range[0] + 1}–#{k_range[1]}, "
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
