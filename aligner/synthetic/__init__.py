"""Synthetic HowTo100M-style datasets: instructional "steps" with narration that drifts like ASR.

`generate_dataset(out, n_videos=8, seed=0)` writes

    out/videos/<id>.mp4              H.264 (x264 defaults, yuv420p) + mono AAC espeak-ng narration
    out/subtitles/<id>.{vtt,srt,json} one format per video (see `subs.FORMATS`)
    out/caption.json                 HowTo100M raw_caption.json for the videos of format `caption`
    out/annotations/htm_align.json   ground truth {id: [[alignable 1|0, start_s, end_s, text], ...]}
    out/annotations/steps.json       what each step shows: {id: [{concept, start, end}, ...]}

Planning (`plan.plan_video`) is separate from rendering, so noise statistics can be checked on
many planned videos without encoding any.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aligner.errors import AlignerError
from aligner.synthetic.plan import VideoPlan, plan_video
from aligner.synthetic.subs import FORMATS, raw_caption, write_subtitles

__all__ = ["DEFAULT_FORMATS", "DatasetSummary", "generate_dataset", "plan_dataset", "plan_video"]

# Formats of videos 0, 1, 2, ... (cycled): every format, two videos only in caption.json, one
# without subtitles.
DEFAULT_FORMATS = ("vtt", "youtube", "srt", "json", "caption", "youtube", "caption", "none")
LONG_VIDEO_S = 600  # videos longer than this get their own progress bar, in seconds of video
MANAGED = ("videos", "subtitles", "annotations", "caption.json")  # what a re-run replaces


@dataclass(frozen=True)
class DatasetSummary:
    out: Path
    plans: tuple[VideoPlan, ...]
    speech: bool  # False when the narration track is silent

    def __str__(self) -> str:
        n = sum(len(p.sentences) for p in self.plans)
        n_al = sum(s.alignable for p in self.plans for s in p.sentences)
        seconds = sum(p.duration for p in self.plans)
        size = sum(f.stat().st_size for f in self.out.rglob("*") if f.is_file()) / 1e6
        voice = "espeak-ng narration" if self.speech else "silent audio"
        return (f"{self.out}: {len(self.plans)} videos, {seconds:.0f} s, {n} sentences "
                f"({n_al} alignable), {voice}, {size:.1f} MB")  # fmt: skip


def plan_dataset(
    *,
    n_videos: int,
    seed: int,
    duration_s: float | tuple[float, float] = (60.0, 120.0),
    formats: Sequence[str] | None = None,
) -> list[VideoPlan]:
    """The plans of a dataset (no files): video i gets format formats[i % len(formats)]."""
    formats = tuple(formats or DEFAULT_FORMATS)
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise AlignerError(f"unknown subtitle format(s) {unknown}; known: {', '.join(FORMATS)}")
    plans = []
    for i in range(n_videos):
        if isinstance(duration_s, (int, float)):
            duration = float(duration_s)
        else:
            duration = float(np.random.default_rng([seed, i, 1]).uniform(*duration_s))
        plans.append(
            plan_video(seed, i, duration=round(duration), subtitle_format=formats[i % len(formats)])
        )
    return plans


def generate_dataset(
    out: str | Path,
    *,
    n_videos: int = 8,
    seed: int = 0,
    duration_s: float | tuple[float, float] = (60.0, 120.0),
    width: int = 384,
    height: int = 216,
    fps: float = 12.0,
    audio: bool = True,
    formats: Sequence[str] | None = None,
    progress: bool = True,
) -> DatasetSummary:
    """Write a synthetic HowTo100M-style dataset to `out` (see the module docstring).

    `duration_s` is one length for every video or a (low, high) range, seconds. `audio=False`
    (or no espeak-ng on the machine) gives a silent narration track. Deterministic in `seed`.
    A re-run into the same folder replaces what an earlier run wrote.
    """
    from tqdm import tqdm

    from aligner.synthetic.audio import espeak_available
    from aligner.synthetic.encode import render_video

    out = _prepare(Path(out))
    plans = plan_dataset(n_videos=n_videos, seed=seed, duration_s=duration_s, formats=formats)
    speech = audio and espeak_available()
    if audio and not speech:
        print("espeak-ng not found: narration tracks are silent", file=sys.stderr)
    for plan in tqdm(plans, desc="videos", unit="video", disable=not progress):
        bar = None
        if progress and plan.duration > LONG_VIDEO_S:
            bar = tqdm(total=int(plan.duration), desc=plan.video_id, unit="s", leave=False)
        render_video(plan, out / "videos" / f"{plan.video_id}.mp4", width=width, height=height,
                     fps=fps, speech=speech, progress=bar)  # fmt: skip
        if bar is not None:
            bar.close()
        write_subtitles(plan, out / "subtitles")
    _write_json_files(out, plans)
    return DatasetSummary(out, tuple(plans), speech)


def _prepare(out: Path) -> Path:
    """Make the folders; refuse a non-empty folder that this generator did not write."""
    if (
        out.exists()
        and any(out.iterdir())
        and not (out / "annotations" / "htm_align.json").exists()
    ):
        raise AlignerError(
            f"{out}: folder is not empty and holds no generated dataset; pick another"
        )
    for name in MANAGED:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for name in ("videos", "subtitles", "annotations"):
        (out / name).mkdir(parents=True, exist_ok=True)
    return out


def _write_json_files(out: Path, plans: Sequence[VideoPlan]) -> None:
    captions = {p.video_id: raw_caption(p) for p in plans if p.subtitle_format == "caption"}
    if captions:  # compact, as HowTo100M's raw_caption.json
        (out / "caption.json").write_text(
            json.dumps(captions, ensure_ascii=False), encoding="utf-8"
        )
    _dump(out / "annotations" / "htm_align.json", {p.video_id: p.ground_truth() for p in plans})
    steps = {
        p.video_id: [{"concept": s.concept, "start": round(s.start, 3), "end": round(s.end, 3)}
                     for s in p.shots if s.kind == "step"]
        for p in plans
    }  # fmt: skip
    _dump(out / "annotations" / "steps.json", steps)


def _dump(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
