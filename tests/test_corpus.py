"""Dataset discovery and video probing on a tiny real dataset folder."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from aligner.corpus import discover, probe_video
from aligner.errors import AlignerError, InputError
from tests.media import ffmpeg_video


def test_probe_reads_duration_fps_and_size(mp4):
    info = probe_video(mp4)
    assert info.duration == pytest.approx(5.0, abs=0.05)
    assert (info.fps, info.width, info.height, info.codec) == (10.0, 160, 120, "h264")


def test_probe_webm(tmp_path):
    info = probe_video(ffmpeg_video(tmp_path / "c.webm", seconds=2, codec="libvpx"))
    assert info.duration == pytest.approx(2.0, abs=0.05) and info.width == 160


def test_probe_rejects_a_truncated_video(mp4, tmp_path):
    data = mp4.read_bytes()
    # keep the header and index (faststart or not) but cut the media data short
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(InputError, match=r"cut\.mp4: (truncated|not a readable video)"):
        probe_video(bad)


def test_probe_rejects_a_truncated_faststart_video_whose_header_looks_complete(tmp_path):
    # with the index at the front, the header still declares 5 s: only the data is missing
    full = ffmpeg_video(tmp_path / "fs.mp4", 5, "160x120", "libx264", "-movflags", "+faststart")
    bad = tmp_path / "fs_cut.mp4"
    bad.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(InputError, match=r"fs_cut\.mp4: truncated: data stops at .* of the 5\.0 s"):
        probe_video(bad)


def test_discover_finds_everything(mp4, tmp_path):
    ds = tmp_path / "ds"
    for rel in ["videos/a.mp4", "videos/x/y/b b.mp4", "videos/c.MKV", "videos/x/a.webm"]:
        (ds / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(mp4, ds / rel)
    (ds / "videos/notes.txt").write_text("not a video")
    (ds / "subtitles").mkdir()
    (ds / "subtitles/a.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nx\n")
    (ds / "subtitles/a.vtt").write_text("WEBVTT\n")  # .vtt is preferred over .srt
    (ds / "subtitles/b b.en.vtt").write_text("WEBVTT\n")  # yt-dlp naming <id>.<lang>.vtt
    (ds / "caption.json").write_text(json.dumps({"c": {"start": [0], "end": [1], "text": ["hi"]}}))
    (ds / "features/s3d").mkdir(parents=True)
    np.save(ds / "features/s3d/a.mp4.npy", np.zeros((5, 4), np.float32))
    np.save(ds / "features/s3d/c.npy", np.zeros((5, 4), np.float32))

    sources = {s.rel_path: s for s in discover(ds)}
    assert sorted(sources) == [
        "videos/a.mp4",
        "videos/c.MKV",
        "videos/x/a.webm",
        "videos/x/y/b b.mp4",
    ]
    a, bb, c = sources["videos/a.mp4"], sources["videos/x/y/b b.mp4"], sources["videos/c.MKV"]
    assert a.subtitle_path == ds / "subtitles/a.vtt" and a.problem is None
    assert bb.video_id == "b b" and bb.subtitle_path == ds / "subtitles/b b.en.vtt"
    assert c.subtitle_path is None and c.caption_entry == {"start": [0], "end": [1], "text": ["hi"]}
    assert a.features == {"s3d": ds / "features/s3d/a.mp4.npy"}
    assert c.features == {"s3d": ds / "features/s3d/c.npy"}
    assert "duplicate video id 'a'" in sources["videos/x/a.webm"].problem


def test_discover_reports_a_malformed_caption_json_and_goes_on(mp4, tmp_path):
    (tmp_path / "videos").mkdir()
    shutil.copy(mp4, tmp_path / "videos/v.mp4")
    (tmp_path / "caption.json").write_text('{"v": {"start": [1,')
    warnings: list[str] = []
    sources = discover(tmp_path, warn=warnings.append)
    assert [s.video_id for s in sources] == ["v"] and sources[0].caption_entry is None
    assert len(warnings) == 1 and "caption.json" in warnings[0]


def test_discover_missing_folders(tmp_path):
    with pytest.raises(AlignerError, match="dataset folder does not exist"):
        discover(tmp_path / "nope")
    with pytest.raises(AlignerError, match="no videos folder"):
        discover(tmp_path)
