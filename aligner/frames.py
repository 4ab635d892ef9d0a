"""Decode frames at N per second from long videos with memory that does not grow with length.

`iter_frames(path, fps=1)` is a generator: it streams the file once, front to back, and yields
one RGB frame per sample time, so a one-hour video costs what a one-minute video costs.

Sample rule (what feature `i` describes): the video is cut into intervals of `1/fps` seconds and
interval `i` is sampled at its centre, `(i + 0.5) / fps`, taking the first decoded frame at or
after that time. The number of samples is `num_samples(duration, fps)` =
`ceil(duration * fps)`, ignoring a last partial interval shorter than `END_TOLERANCE_S`, so at
1 fps a 10.0 s or 10.04 s video gives 10 features and a 10.5 s video gives 11. Samples past the
last decoded frame (audio longer than video) repeat the last frame.

Decoding paths, fastest first; a path that fails hands over to the next one, which resumes at
the first sample not yet yielded:
1. PyAV with `skip_frame = "BIDIR"` and frame threads: B-frames are never decoded. This moves
   a sample by at most one I/P-frame spacing (< ~100 ms), well inside the interval because we
   sample its centre; pixels are those of a full decode.
2. PyAV full decode (codecs or files where skipping misbehaves).
3. OpenCV (its own FFmpeg build, different demuxers and error tolerance).
Frames are resized while decoding (nearly free in swscale) and turned upright from the display
matrix (phone videos), as a player would show them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aligner.errors import InputError

DEFAULT_FPS = 1.0  # samples (features) per second of video
END_TOLERANCE_S = 0.05  # a last partial interval shorter than this gets no sample
SAMPLE_OFFSET = 0.5  # sample each interval at its centre (fraction of the interval)
FALLBACK_FPS = 25.0  # frames per second assumed when a file declares no frame rate (PAL)

Size = tuple[int, int] | int | None  # (width, height), a short side in pixels, or native


@dataclass(frozen=True)
class VideoInfo:
    """What a player would show: display size after rotation, duration in seconds."""

    duration: float  # seconds
    width: int  # displayed width (after rotation), pixels
    height: int
    rotation: int  # counter-clockwise degrees to turn decoded frames upright: 0, 90, 180, 270
    fps: float | None  # average frame rate, frames per second
    codec: str


def num_samples(duration: float, fps: float = DEFAULT_FPS) -> int:
    """Number of samples (features) for a video of `duration` seconds; at least 1."""
    return max(1, math.ceil(duration * fps - END_TOLERANCE_S * fps))


def sample_times(duration: float, fps: float = DEFAULT_FPS) -> np.ndarray:
    """Sample times in seconds, shape (T,): the centre of each `1/fps` interval (of its part
    inside the video, for a last partial interval)."""
    starts = np.arange(num_samples(duration, fps)) / fps
    ends = np.minimum(starts + 1.0 / fps, max(duration, starts[-1] + END_TOLERANCE_S))
    return starts + SAMPLE_OFFSET * (ends - starts)


def probe(path: str | Path) -> VideoInfo:
    """Duration, display size and rotation of the first video stream (reads headers only)."""
    import av

    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(path, "no video stream in the file")
            stream = container.streams.video[0]
            duration = _duration(container, stream)
            rotation = _first_frame_rotation(container, stream)
            width, height = stream.codec_context.width, stream.codec_context.height
            rate = stream.average_rate or stream.guessed_rate
            codec = stream.codec_context.name
    except av.FFmpegError as err:
        raise InputError(path, f"not a readable video ({err.strerror or err})") from None
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(duration, width, height, rotation, float(rate) if rate else None, codec)


def _duration(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1e6  # AV_TIME_BASE is microseconds
    return 0.0


def _first_frame_rotation(container, stream) -> int:
    # the display matrix reaches PyAV on decoded frames; one keyframe is cheap to decode
    try:
        for frame in container.decode(stream):
            return _rotation(frame)
    except Exception:  # noqa: BLE001 - a broken first frame: decoding proper will report it
        return 0
    return 0


def _rotation(frame) -> int:
    return int(round((getattr(frame, "rotation", 0) or 0) / 90.0)) % 4 * 90


def output_size(info: VideoInfo, size: Size) -> tuple[int, int]:
    """(width, height) of yielded frames: fixed, short side kept with aspect ratio, or native."""
    if size is None:
        return info.width, info.height
    if isinstance(size, int):
        scale = size / max(1, min(info.width, info.height))
        return max(2, round(info.width * scale / 2) * 2), max(2, round(info.height * scale / 2) * 2)
    return int(size[0]), int(size[1])


def iter_frames(
    path: str | Path,
    *,
    fps: float = DEFAULT_FPS,
    size: Size = None,
    duration: float | None = None,
) -> Iterator[np.ndarray]:
    """Yield `num_samples(duration, fps)` RGB frames, uint8 (height, width, 3), upright.

    `duration` (seconds) defaults to the container's; pass the stored one so that the count
    matches what the rest of the pipeline expects. Raises `InputError` naming the file when no
    path can decode a single frame.
    """
    path = Path(path)
    info = probe(path)
    times = sample_times(duration if duration is not None else info.duration, fps)
    width, height = output_size(info, size)
    errors: list[str] = []
    done, last = 0, None
    for decode in (_decode_pyav_fast, _decode_pyav_full, _decode_opencv):
        try:
            for idx, frame in decode(path, times, done, (width, height), info):
                done, last = idx + 1, frame
                yield frame
        except Exception as err:  # noqa: BLE001 - any decoder failure: try the next path
            errors.append(f"{decode.__name__.removeprefix('_decode_')}: {err}")
            continue
        if done >= len(times):
            break
        # the fast path ran out of (non-B) frames before the last sample: the full decode
        # resumes there and pads with the stream's true last frame
    if last is None:
        raise InputError(path, "cannot decode any video frame (" + "; ".join(errors) + ")")
    for _ in range(done, len(times)):
        yield last  # stream shorter than the stated duration


def _decode_pyav_fast(path, times, start, size, info):
    yield from _decode_pyav(path, times, start, size, info, skip_bidir=True)


def _decode_pyav_full(path, times, start, size, info):
    yield from _decode_pyav(path, times, start, size, info, skip_bidir=False)


def _decode_pyav(path, times, start, size, info, *, skip_bidir):
    """(sample index, frame) for samples `start..`, decoding the stream front to back.

    A full decode that reaches the end of the stream early (audio longer than video) repeats
    the last frame for the samples left; the fast path leaves them to the full decode, since
    its last frame may be an I/P-frame a GOP before the true last one.
    """
    import av

    if start >= len(times):
        return
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if skip_bidir:
            stream.codec_context.skip_frame = "BIDIR"
        origin = (container.start_time or 0) / 1e6  # players count time from the container start
        if start > 0:
            target = origin + times[start] - 1.0  # the keyframe before the resume point
            container.seek(max(0, int(target / stream.time_base)), stream=stream, backward=True)
        idx, rate, last = start, float(info.fps or FALLBACK_FPS), None
        for count, frame in enumerate(container.decode(stream)):
            t = (frame.time - origin) if frame.time is not None else count / rate
            if t < times[idx]:
                last = frame
                continue
            image = _to_rgb(frame, size)
            while idx < len(times) and t >= times[idx]:
                yield idx, image
                idx += 1
            if idx >= len(times):
                return
        if last is not None and not skip_bidir:
            image = _to_rgb(last, size)
            for i in range(idx, len(times)):
                yield i, image


def _to_rgb(frame, size: tuple[int, int]) -> np.ndarray:
    rotation = _rotation(frame)
    width, height = size if rotation in (0, 180) else size[::-1]
    image = frame.to_ndarray(width=width, height=height, format="rgb24")
    if rotation:
        image = np.ascontiguousarray(np.rot90(image, k=rotation // 90))
    return image


def _decode_opencv(path, times, start, size, info):
    """(sample index, frame) through OpenCV, which applies the rotation itself."""
    import cv2

    if start >= len(times):
        return
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise OSError("OpenCV cannot open the file")
        if start > 0:
            cap.set(cv2.CAP_PROP_POS_MSEC, max(0.0, times[start] - 1.0) * 1000.0)
        idx = start
        while idx < len(times) and cap.grab():
            t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if t < times[idx]:
                continue
            image = _retrieve(cap, size, t)
            while idx < len(times) and t >= times[idx]:
                yield idx, image
                idx += 1
    finally:
        cap.release()


def _retrieve(cap, size: tuple[int, int], t: float) -> np.ndarray:
    import cv2

    ok, bgr = cap.retrieve()
    if not ok:
        raise OSError(f"OpenCV cannot decode the frame at {t:.2f} s")
    return cv2.cvtColor(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
