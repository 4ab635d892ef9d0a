"""Frame decoding: counts, sample timing, containers/codecs, rotation, fallbacks, bad files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from aligner import frames
from aligner.errors import InputError
from aligner.frames import iter_frames, num_samples, probe

# one colour per second of video, so a decoded sample tells which second it came from
PALETTE = np.array(
    [[230, 30, 30], [30, 200, 40], [40, 60, 230], [240, 220, 30], [200, 40, 200], [30, 210, 220],
     [250, 250, 250], [20, 20, 20]], dtype=np.uint8,
)  # fmt: skip


def write_video(path: Path, times, *, codec="libx264", size=(64, 48), rotation=0, rate=10):
    """A video with a frame at each of `times` (seconds), coloured by whole second."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        if codec == "libx264":
            stream.options = {"bf": "3", "g": "12"}  # B-frames: the fast path skips them
        if rotation:
            stream.set_display_rotation(rotation)
        for t in times:
            image = np.empty((size[1], size[0], 3), np.uint8)
            image[:] = PALETTE[int(t) % len(PALETTE)]
            image[:, : size[0] // 4] = 255  # a white strip on the left shows the orientation
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def second_of(frame: np.ndarray) -> int:
    """Which PALETTE colour the right-hand part of a frame shows."""
    colour = frame[:, frame.shape[1] // 2 :].reshape(-1, 3).mean(axis=0)
    return int(np.argmin(np.abs(PALETTE.astype(float) - colour).sum(axis=1)))


def regular(duration: float, rate: int = 10) -> list[float]:
    return [i / rate for i in range(round(duration * rate))]


@pytest.mark.parametrize(
    ("name", "codec", "duration"),
    [("a.mp4", "libx264", 6.0), ("b.mp4", "libx264", 5.5), ("c.webm", "libvpx-vp9", 6.0),
     ("d.mkv", "libx264", 4.0)],
)  # fmt: skip
def test_one_frame_per_second_from_the_right_second(tmp_path, name, codec, duration):
    path = write_video(tmp_path / name, regular(duration), codec=codec)
    out = list(iter_frames(path, size=(32, 24)))
    assert len(out) == num_samples(probe(path).duration) == int(np.ceil(duration))
    assert all(f.shape == (24, 32, 3) and f.dtype == np.uint8 for f in out)
    assert [second_of(f) for f in out] == [i % len(PALETTE) for i in range(len(out))]


def test_count_rule():
    assert num_samples(10.0) == 10
    assert num_samples(10.04) == 10  # container rounding: no feature for 40 ms
    assert num_samples(10.5) == 11
    assert num_samples(0.2) == 1
    assert num_samples(10.0, fps=2) == 20


def test_variable_frame_rate(tmp_path):
    # bursts and gaps: 30 fps in even seconds, 3 fps in odd ones
    times = [t for s in range(6) for t in np.arange(s, s + 1, 1 / 30 if s % 2 == 0 else 1 / 3)]
    path = write_video(tmp_path / "vfr.mp4", times)
    out = list(iter_frames(path, size=(32, 24)))
    assert [second_of(f) for f in out] == list(range(6))


def test_rotated_phone_video_is_turned_upright(tmp_path):
    path = write_video(tmp_path / "rot.mp4", regular(3), size=(64, 32), rotation=90)
    info = probe(path)
    assert (info.rotation, info.width, info.height) == (90, 32, 64)
    frame = next(iter_frames(path))
    assert frame.shape == (64, 32, 3)  # portrait, as a player shows it
    grey = frame.mean(axis=2)
    assert grey[-8:].mean() > 240 > grey[:8].mean()  # the left strip turned counter-clockwise


def test_resumes_on_the_next_path_when_the_fast_path_fails(tmp_path, monkeypatch):
    path = write_video(tmp_path / "a.mp4", regular(6))

    def flaky(path, times, start, size, info):
        for n, item in enumerate(frames._decode_pyav(path, times, start, size, info,
                                                      skip_bidir=True)):  # fmt: skip
            if n == 2:
                raise RuntimeError("decoder hiccup")
            yield item

    monkeypatch.setattr(frames, "_decode_pyav_fast", flaky)
    out = list(iter_frames(path, size=(32, 24)))
    assert [second_of(f) for f in out] == list(range(6))


def test_opencv_fallback(tmp_path, monkeypatch):
    path = write_video(tmp_path / "a.mp4", regular(5))

    def broken(*args, **kwargs):
        raise RuntimeError("no PyAV today")
        yield  # a generator, like the real ones

    monkeypatch.setattr(frames, "_decode_pyav_fast", broken)
    monkeypatch.setattr(frames, "_decode_pyav_full", broken)
    out = list(iter_frames(path, size=(32, 24)))
    assert [second_of(f) for f in out] == list(range(5))


def test_stated_duration_longer_than_the_stream_repeats_the_last_frame(tmp_path):
    path = write_video(tmp_path / "a.mp4", regular(3))
    out = list(iter_frames(path, size=(32, 24), duration=5.0))  # e.g. audio runs 2 s longer
    assert [second_of(f) for f in out] == [0, 1, 2, 2, 2]


def test_bad_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(InputError, match="broken.mp4"):
        list(iter_frames(bad))


def test_short_side_keeps_aspect(tmp_path):
    path = write_video(tmp_path / "a.mp4", regular(1), size=(96, 48))
    assert next(iter_frames(path, size=24)).shape == (24, 48, 3)
