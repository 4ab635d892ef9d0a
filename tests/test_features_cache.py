"""The feature cache: reuse, invalidation on a changed video or parameter, crash safety."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from aligner import atomic as atomic_module
from aligner.features import cache as cache_module
from aligner.features import load_video_features
from aligner.features.cache import FeatureCache
from aligner.features.compute import FEATURES_DIR
from aligner.features.visual import BuiltinBackbone
from aligner.store import Store
from aligner.workspace import open_workspace


def write_video(path: Path, seconds: int, colour=(200, 60, 30)) -> Path:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(seconds * 10):
            image = np.full((48, 64, 3), colour, np.uint8)
            image[:, (i * 3) % 64] = 255  # a moving line
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


@pytest.fixture
def ws(tmp_path):
    (tmp_path / "ds" / "videos").mkdir(parents=True)
    write_video(tmp_path / "ds" / "videos" / "v1.mp4", 3)
    ws = open_workspace(tmp_path / "ds")
    with Store(ws.db_path) as store:
        store.upsert_video("v1", path="videos/v1.mp4", duration=3.0, status="ok")
    return ws


@pytest.fixture
def calls(monkeypatch):
    """Counts how often the builtin backbone really decodes a video."""
    counter = {"n": 0}
    real = BuiltinBackbone.video_features

    def counting(self, video):
        counter["n"] += 1
        return real(self, video)

    monkeypatch.setattr(BuiltinBackbone, "video_features", counting)
    return counter


def test_second_load_reads_the_cache(ws, calls):
    first = load_video_features(ws, "v1")[0]
    second = load_video_features(ws, "v1")[0]
    assert calls["n"] == 1
    assert np.array_equal(first, second) and second.shape[0] == 3


def test_changed_video_is_recomputed(ws, calls):
    first = load_video_features(ws, "v1")[0]
    write_video(ws.dataset / "videos" / "v1.mp4", 3, colour=(20, 60, 220))  # re-encoded
    second = load_video_features(ws, "v1")[0]
    assert calls["n"] == 2 and not np.allclose(first, second)


def test_parameters_are_part_of_the_key():
    keys = {BuiltinBackbone().key, BuiltinBackbone(fps=2).key, BuiltinBackbone(size=(64, 48)).key}
    assert len(keys) == 3


def test_crash_while_writing_keeps_the_old_entry_valid(ws, monkeypatch):
    old = load_video_features(ws, "v1")[0]
    cache = FeatureCache(ws.subdir(FEATURES_DIR), BuiltinBackbone().key)
    video = ws.dataset / "videos" / "v1.mp4"

    def killed(src, dst):  # the temp file is complete, the process dies before the rename
        assert Path(src).stat().st_size > 0
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic_module.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        cache.save("v1", video, np.zeros((3, old.shape[1]), np.float32))
    monkeypatch.undo()
    assert np.array_equal(cache.load("v1", video), old)  # still the old, complete entry
    assert not [p for p in cache.folder.iterdir() if p.name.endswith(".tmp")]


def test_crash_between_array_and_sidecar_reads_as_a_miss(ws, monkeypatch, calls):
    load_video_features(ws, "v1")
    cache = FeatureCache(ws.subdir(FEATURES_DIR), BuiltinBackbone().key)
    video = ws.dataset / "videos" / "v1.mp4"

    def killed(path, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_module, "atomic_write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        cache.save("v1", video, np.zeros((3, 7), np.float32))  # new .npy, old sidecar
    monkeypatch.undo()
    assert cache.load("v1", video) is None  # the old sidecar does not vouch for the new array
    again = load_video_features(ws, "v1")[0]  # recomputed, and valid again
    assert again.shape[0] == 3 and again.shape[1] != 7


def test_killed_process_leaves_no_readable_half_file(tmp_path):
    """A real SIGKILL while a large entry is being written."""
    import signal
    import subprocess
    import sys
    import time

    folder, video = tmp_path / "cache", tmp_path / "video.bin"
    video.write_bytes(b"x")
    script = (
        "import numpy as np; from pathlib import Path\n"
        "from aligner.features.cache import FeatureCache\n"
        "a = np.ones((50000, 1024), np.float32)\n"  # 200 MB
        f"FeatureCache(Path({str(folder)!r}), 'k').save('v', Path({str(video)!r}), a)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 30
    while not any(p.stat().st_size > 0 for p in folder.glob("*/*.tmp")):  # mid-write
        assert proc.poll() is None and time.monotonic() < deadline, "writer ended too early"
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(folder.glob("*/*.tmp"))  # the half-written temp file is left behind...
    assert FeatureCache(folder, "k").load("v", video) is None  # ...and never read as an entry
    for leftover in folder.glob("*/*.tmp"):
        leftover.unlink()


def test_stray_temp_files_are_ignored(ws):
    load_video_features(ws, "v1")
    cache = FeatureCache(ws.subdir(FEATURES_DIR), BuiltinBackbone().key)
    (cache.folder / ".v1.npy.12345.tmp").write_bytes(b"half")
    assert cache.load("v1", ws.dataset / "videos" / "v1.mp4") is not None
    assert os.path.exists(cache.folder / "v1.npy")
