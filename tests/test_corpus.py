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


# -- caption.json read through its byte-offset index --------------------------------------------
TRICKY = {
    "plain": {"start": [0.0], "end": [1.0], "text": ["hi"]},
    "quotes": {"start": [1], "end": [2], "text": ['he said ": {" and \\": {', "{ braces } [x]"]},
    "vidéo ☕": {"start": [2], "end": [3], "text": ["ünïcode"]},
    "back\\slash": {"start": [3], "end": [4], "text": ["a\\\\"]},
}


@pytest.mark.parametrize("style", ["default", "compact", "indent", "spaced"])
def test_caption_index_finds_every_entry_in_any_json_layout(tmp_path, style, monkeypatch):
    from aligner import caption_index
    from aligner.caption_index import build_caption_index

    monkeypatch.setattr(caption_index, "CHUNK_BYTES", 64)  # entries straddle chunk boundaries
    monkeypatch.setattr(caption_index, "OVERLAP_BYTES", 32)
    many = {
        **TRICKY,
        **{f"v{i:03d}": {"start": [i], "end": [i + 1], "text": [f"w{i}"]} for i in range(50)},
    }
    text = {
        "default": json.dumps(many),
        "compact": json.dumps(many, separators=(",", ":")),
        "indent": json.dumps(many, indent=2, ensure_ascii=False),
        "spaced": "{"
        + ",\n".join(f"{json.dumps(k)} :\n  {json.dumps(v)}" for k, v in many.items())
        + "}",
    }[style]
    path = tmp_path / "caption.json"
    path.write_text(text, encoding="utf-8")
    index = build_caption_index(path)
    assert len(index) == len(many)
    assert all(index.entry(k) == v for k, v in many.items())
    assert "missing" not in index


def test_caption_index_is_cached_and_rebuilt_when_the_file_changes(tmp_path):
    from aligner.caption_index import INDEX_FILE, open_caption_index

    path = tmp_path / "caption.json"
    path.write_text(json.dumps({"a": {"start": [0], "end": [1], "text": ["one"]}}))
    cache = tmp_path / "ws"
    assert open_caption_index(path, cache_dir=cache).entry("a")["text"] == ["one"]
    assert (cache / INDEX_FILE).is_file()
    path.write_text(
        json.dumps(
            {
                "b": {"start": [0], "end": [1], "text": ["two"]},
                "a": {"start": [0], "end": [1], "text": ["uno"]},
            }
        )
    )
    index = open_caption_index(path, cache_dir=cache)  # size and mtime differ: a new pass
    assert index.entry("a")["text"] == ["uno"] and index.entry("b")["text"] == ["two"]


def test_discover_reads_only_the_entries_of_the_folders_videos(mp4, tmp_path):
    (tmp_path / "videos").mkdir()
    shutil.copy(mp4, tmp_path / "videos/keep.mp4")
    entries = {f"other{i}": {"start": [0], "end": [1], "text": ["x"]} for i in range(100)}
    entries["keep"] = {"start": [0.5], "end": [2.0], "text": ["mine"]}
    entries["broken"] = {"start": [0], "end": [1], "text": ["y"]}
    text = json.dumps(entries).replace('"broken": {"start": [0]', '"broken": {"start": [0,,]')
    (tmp_path / "caption.json").write_text(text)
    warnings: list[str] = []
    sources = discover(tmp_path, warn=warnings.append)
    assert sources[0].caption_entry == {"start": [0.5], "end": [2.0], "text": ["mine"]}
    assert warnings == []  # the malformed entry belongs to no video here: never decoded
    shutil.copy(mp4, tmp_path / "videos/broken.mp4")
    sources = discover(tmp_path, warn=warnings.append)
    assert [s.caption_entry is None for s in sources] == [True, False]
    assert len(warnings) == 1 and "caption.json: cannot be read at entry 'broken'" in warnings[0]


def test_a_caption_json_that_is_a_list_is_one_line(mp4, tmp_path):
    (tmp_path / "videos").mkdir()
    shutil.copy(mp4, tmp_path / "videos/v.mp4")
    (tmp_path / "caption.json").write_text(json.dumps([{"start": [0], "end": [1], "text": ["x"]}]))
    warnings: list[str] = []
    assert discover(tmp_path, warn=warnings.append)[0].caption_entry is None
    assert len(warnings) == 1 and "caption.json: expected an object" in warnings[0]
    assert "got a list" in warnings[0]
