"""Video files for the review app: safe paths, frame thumbnails and short clips.

Nothing outside the dataset folder is ever opened: every path from the store is resolved and
checked against `ws.dataset`. Thumbnails and clips are cached under the workspace, so a page
render after the first only reads small files.
"""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
from pathlib import Path

from aligner.errors import AlignerError, InputError

THUMB_WIDTH_PX = 192  # frame strip thumbnails; height follows the aspect ratio
THUMB_QUALITY = 70  # JPEG quality of a thumbnail
MAX_PREROLL_S = 20.0  # beyond this distance to the previous keyframe, re-encode the clip
WAVE_BINS_PER_S = 10  # waveform resolution: one peak per 0.1 s (the timeline's snap)
WAVE_RATE_HZ = 8000  # audio is decoded at this rate, mono, for the waveform only


def safe_video_path(dataset: Path, relative: str) -> Path:
    """`dataset / relative`, refused unless it resolves to an existing file inside `dataset`."""
    root = Path(dataset).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise AlignerError(f"{relative}: refused, the video path leads outside {root}")
    if not path.is_file():
        raise InputError(path, "video file not found")
    return path


def _cache_key(*parts) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


def thumbnails(path: Path, times: list[float], cache_dir: Path) -> list[bytes]:
    """JPEG thumbnails (`THUMB_WIDTH_PX` wide) of the frames at `times` (seconds, ascending).

    Decodes forward once from the keyframe before the first time (B-frames skipped: the frame
    moves by at most ~0.1 s), caching each thumbnail as a file keyed by video, mtime and time.
    """
    stat = path.stat()
    files = [
        cache_dir / f"{_cache_key(str(path), stat.st_mtime, round(t, 2), THUMB_WIDTH_PX)}.jpg"
        for t in times
    ]
    missing = [(t, f) for t, f in zip(times, files, strict=True) if not f.exists()]
    if missing:
        cache_dir.mkdir(parents=True, exist_ok=True)
        _decode_thumbs(path, missing)
    return [f.read_bytes() if f.exists() else b"" for f in files]


def _decode_thumbs(path: Path, wanted: list[tuple[float, Path]]) -> None:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "BIDIR"
        stream.thread_type = "AUTO"
        base = stream.time_base
        container.seek(int(max(0.0, wanted[0][0]) / base), stream=stream, backward=True)
        pending = list(wanted)
        for frame in container.decode(stream):
            t = float(frame.pts * base) if frame.pts is not None else 0.0
            while pending and t + 0.05 >= pending[0][0]:
                _save_thumb(frame, pending.pop(0)[1])
            if not pending:
                break
        for _, target in pending:  # past the end of the video: remember there is no frame
            target.write_bytes(b"")


def _save_thumb(frame, target: Path) -> None:
    height = max(2, round(THUMB_WIDTH_PX * frame.height / max(frame.width, 1)))
    image = frame.to_image(width=THUMB_WIDTH_PX, height=height)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=THUMB_QUALITY)
    target.write_bytes(buf.getvalue())


def keyframe_before(path: Path, t: float) -> float:
    """Time (s) of the last keyframe at or before `t`: a stream copy can only start there."""
    return _first_video_time(path, seek=t)


def clip(path: Path, start: float, end: float, cache_dir: Path) -> tuple[bytes, float]:
    """An mp4 of [start, end] (s) and the time in the source where the clip's t=0 lies.

    Cut by stream copy from the keyframe before `start` (fast, exact timestamps); re-encoded
    when that keyframe is more than `MAX_PREROLL_S` earlier (long GOPs).
    """
    stat = path.stat()
    target = cache_dir / _cache_key(
        "clip-v2", str(path), stat.st_mtime, round(start, 1), round(end, 1)
    )
    mp4, meta = target.with_suffix(".mp4"), target.with_suffix(".offset")
    if mp4.exists() and meta.exists():
        return mp4.read_bytes(), float(meta.read_text())
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = keyframe_before(path, start)
    if start - key <= MAX_PREROLL_S:
        offset, codec = key, ["-c", "copy"]
    else:
        offset = start
        codec = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "26", "-c:a", "aac"]
    cmd = ["ffmpeg", "-v", "error", "-y", "-ss", f"{offset:.3f}", "-i", str(path),
           "-t", f"{end - offset:.3f}", *codec, "-movflags", "+faststart",
           "-avoid_negative_ts", "make_zero", str(mp4)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InputError(path, f"cannot cut a clip ({done.stderr.strip()[:200]})")
    offset -= _first_video_time(mp4)  # audio priming can put the first frame a bit after 0
    meta.write_text(f"{offset:.6f}")
    return mp4.read_bytes(), offset


def _first_video_time(path: Path, *, seek: float | None = None) -> float:
    """Time (s) of the first video packet, after seeking back to the keyframe before `seek`."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if seek is not None:
            container.seek(int(max(0.0, seek) / stream.time_base), stream=stream, backward=True)
        for packet in container.demux(stream):
            if packet.pts is not None:
                return float(packet.pts * stream.time_base)
    return 0.0


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def vtt_for(cues: list[tuple[float, float, str]], offset: float) -> str:
    """WebVTT text of `(start, end, text)` cues shifted by `-offset` s (negative ones dropped).

    Cue text is escaped (`&`, `<`, `>`) so subtitle text is never read as markup.
    """
    lines = ["WEBVTT", ""]
    for start, end, text in cues:
        s, e = start - offset, end - offset
        if e <= 0:
            continue
        safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        safe = safe.replace("\n", " ")  # "-->" is already "--&gt;" and cannot end a cue
        lines += [f"{_vtt_time(max(s, 0.0))} --> {_vtt_time(e)}", safe, ""]
    return "\n".join(lines)


def _vtt_time(t: float) -> str:
    ms = round(t * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def waveform(path: Path, cache_dir: Path):
    """Peak amplitude (0..1, float16) per 1 / `WAVE_BINS_PER_S` s of the video's audio track.

    Decoded once with ffmpeg and cached as `.npy` beside the store (keyed by video and mtime);
    None when the video has no audio track or it cannot be decoded.
    """
    import numpy as np

    from aligner.atomic import atomic_save_npy

    stat = path.stat()
    target = cache_dir / f"{_cache_key('wave-v1', str(path), stat.st_mtime, WAVE_BINS_PER_S)}.npy"
    if target.exists():
        return np.load(target)
    cmd = ["ffmpeg", "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(WAVE_RATE_HZ),
           "-f", "s16le", "-"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, check=False)
    if done.returncode != 0 or not done.stdout:
        return None
    samples = np.abs(np.frombuffer(done.stdout, dtype=np.int16).astype(np.float32)) / 32768.0
    per_bin = WAVE_RATE_HZ // WAVE_BINS_PER_S
    n = len(samples) // per_bin
    peaks = samples[: n * per_bin].reshape(n, per_bin).max(axis=1)  # (n_bins,)
    peaks = (peaks / max(float(peaks.max()), 1e-6)).astype(np.float16)
    atomic_save_npy(target, peaks)
    return peaks
