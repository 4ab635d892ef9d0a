"""Discover what a HowTo100M-style dataset folder holds, and probe its videos.

```
DATASET/videos/**/<video_id>.{mp4,webm,mkv,mov}   any depth
DATASET/subtitles/**/<video_id>[.<lang>].{vtt,srt,json}   (or beside the video)
DATASET/caption.json                              {video_id: {"start", "end", "text"}}
DATASET/features/<name>/<video_id>[.mp4].npy       T×D, 1 feature per second
DATASET/annotations/htm_align.json                ground truth (HTM-Align format)
```
`video_id` is the file stem. A video's subtitles are its own file first, then its
`caption.json` entry. caption.json is never loaded whole (HowTo100M's has ~1.2M entries and
several GB): `aligner.caption_index` finds each entry's bytes in one pass (cached beside the
store) and only the entries of the folder's videos are read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aligner.caption_index import open_caption_index
from aligner.errors import AlignerError, InputError
from aligner.frames import VideoInfo, probe
from aligner.subtitles import SUBTITLE_EXTENSIONS

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".mov")
VIDEOS_DIR = "videos"
SUBTITLES_DIR = "subtitles"
CAPTION_JSON = "caption.json"
PRECOMPUTED_DIR = "features"  # DATASET/features/<name>/: features shipped with the dataset
ANNOTATIONS = Path("annotations") / "htm_align.json"  # ground truth, HTM-Align format
TAIL_SEEK_S = 2.0  # seconds before the declared end where the probe starts demuxing
TAIL_TOLERANCE_S = 0.5  # seconds: the packets must reach this close to the declared end

Warn = Callable[[str], None]


@dataclass(frozen=True)
class VideoSource:
    """One video of the dataset and the inputs found for it (paths are absolute)."""

    video_id: str
    path: Path
    rel_path: str  # relative to the dataset folder, POSIX separators
    subtitle_path: Path | None = None  # its own subtitle file, if any
    caption_entry: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    caption_json: Path | None = None  # the caption.json holding `caption_entry`
    features: dict[str, Path] = field(default_factory=dict)  # name -> .npy
    problem: str | None = None  # set when the video cannot be used (e.g. a duplicate id)


def discover(
    dataset: str | Path, *, warn: Warn | None = None, cache_dir: str | Path | None = None
) -> list[VideoSource]:
    """Every video under `DATASET/videos/` (sorted by path) with its subtitles and features.

    Dataset-wide problems (a malformed caption.json) are reported through `warn` and the rest
    is still returned; a missing dataset or videos folder raises `AlignerError`. `cache_dir`:
    where caption.json's index is kept between runs (the workspace; None: not kept).
    """
    dataset = Path(dataset)
    warn = warn or logging.getLogger(__name__).warning
    if not dataset.is_dir():
        raise AlignerError(f"{dataset}: dataset folder does not exist")
    videos_dir = dataset / VIDEOS_DIR
    if not videos_dir.is_dir():
        raise AlignerError(f"{videos_dir}: no videos folder (expected DATASET/videos/<id>.mp4)")
    subtitles = _subtitle_files(dataset)
    videos = _video_files(videos_dir)
    wanted = {p.stem for p in videos if p.stem not in subtitles}  # own files win over entries
    captions = load_caption_json(dataset, wanted, warn=warn, cache_dir=cache_dir)
    features = _feature_files(dataset)
    sources: list[VideoSource] = []
    seen: dict[str, Path] = {}
    for path in videos:
        video_id = path.stem
        problem = None
        if video_id in seen:
            problem = f"duplicate video id {video_id!r} (also {seen[video_id]}); skipped"
        seen.setdefault(video_id, path)
        sources.append(
            VideoSource(
                video_id=video_id,
                path=path,
                rel_path=path.relative_to(dataset).as_posix(),
                subtitle_path=subtitles.get(video_id),
                caption_entry=captions.get(video_id),
                caption_json=dataset / CAPTION_JSON if video_id in captions else None,
                features=features.get(video_id, {}),
                problem=problem,
            )
        )
    return sources


def load_caption_json(
    dataset: str | Path,
    video_ids: set[str],
    *,
    warn: Warn,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """`{video_id: entry}` of caption.json for these videos only (the file is not loaded);
    {} when it is absent or not an object; an entry that cannot be decoded is one warning line
    and left out."""
    path = Path(dataset) / CAPTION_JSON
    if not path.is_file() or not video_ids:
        return {}
    try:
        index = open_caption_index(path, cache_dir=cache_dir)
    except InputError as err:
        warn(f"{err}; its captions are ignored")
        return {}
    except OSError as err:
        warn(str(InputError(path, f"cannot be read, its captions are ignored ({_reason(err)})")))
        return {}
    entries: dict[str, Any] = {}
    for video_id in sorted(v for v in video_ids if v in index):
        try:
            entries[video_id] = index.entry(video_id)
        except InputError as err:
            warn(str(err))
    return entries


def probe_video(path: str | Path) -> VideoInfo:
    """`frames.probe`'s `VideoInfo` (duration, display size, fps), checked: `InputError` when the
    file is not a readable video. Besides reading the header, one frame near the end is decoded,
    so a truncated file whose header still claims the full length is caught here rather than
    during feature extraction.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise InputError(path, "empty file (0 bytes), not a video")
    info = probe(path)
    if info.duration <= 0:
        raise InputError(path, "video has no duration (no frames?)")
    _check_tail(path, info.duration)
    return info


def _check_tail(path: Path, duration: float) -> None:
    """Demux from the last keyframe before the end: the packets must reach the end, and one
    frame must decode (a truncated file ends early; garbage fails to decode)."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            container.seek(int(max(0.0, duration - TAIL_SEEK_S) / stream.time_base), stream=stream)
            reached, decoded = _read_tail(container, stream)
    except av.FFmpegError as err:
        raise InputError(path, f"not a readable video ({_reason(err)})") from None
    if reached < duration - TAIL_TOLERANCE_S or not decoded:
        raise InputError(
            path, f"truncated: data stops at {reached:.1f} s of the {duration:.1f} s it declares"
        )


def _read_tail(container, stream) -> tuple[float, bool]:
    """(seconds the packets reach, whether a frame decoded) from the current position on."""
    reached, decoded = 0.0, False
    for packet in container.demux(stream):
        if packet.size == 0 or packet.pts is None:
            continue  # the demuxer's flush packet
        reached = max(reached, float((packet.pts + (packet.duration or 0)) * stream.time_base))
        if not decoded:
            decoded = bool(stream.codec_context.decode(packet))
    if not decoded:
        decoded = bool(stream.codec_context.decode(None))  # frames held back by the decoder
    return reached, decoded


def _video_files(videos_dir: Path) -> list[Path]:
    return sorted(
        p for p in videos_dir.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()
    )


def _subtitle_files(dataset: Path) -> dict[str, Path]:
    """`{video_id: path}`; `<id>.vtt` beats `<id>.en.vtt`, .vtt beats .srt beats .json."""
    found: dict[str, tuple[tuple[int, int, str], Path]] = {}
    for folder in (dataset / SUBTITLES_DIR, dataset / VIDEOS_DIR):
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            suffix = path.suffix.lower()
            if suffix not in SUBTITLE_EXTENSIONS or not path.is_file():
                continue
            stem = path.name[: -len(suffix)]
            keys = [(stem, 0)] + ([(stem.rsplit(".", 1)[0], 1)] if "." in stem else [])
            for video_id, lang_rank in keys:
                rank = (lang_rank, SUBTITLE_EXTENSIONS.index(suffix), str(path))
                if video_id not in found or rank < found[video_id][0]:
                    found[video_id] = (rank, path)
    return {video_id: path for video_id, (_rank, path) in found.items()}


def _feature_files(dataset: Path) -> dict[str, dict[str, Path]]:
    """`{video_id: {feature_name: path}}` from `features/<name>/<video_id>[.mp4].npy`."""
    out: dict[str, dict[str, Path]] = {}
    root = dataset / PRECOMPUTED_DIR
    if not root.is_dir():
        return out
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.npy")):
            video_id = path.name[: -len(".npy")]
            for ext in VIDEO_EXTENSIONS:
                if video_id.lower().endswith(ext):
                    video_id = video_id[: -len(ext)]
            out.setdefault(video_id, {})[folder.name] = path
    return out


def _reason(err: Exception) -> str:
    # PyAV errors carry FFmpeg's message in `strerror`; str() adds the errno and the path
    text = (getattr(err, "strerror", None) or str(err)).strip()
    return text.splitlines()[0] if text else type(err).__name__
