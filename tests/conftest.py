"""Shared fixtures. Nothing in the tests may reach the network."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.media import ffmpeg_video

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "htm_sample"


@pytest.fixture
def sample_dataset(tmp_path: Path) -> Path:
    """A private copy of the committed sample (so its workspace never lands in the repo)."""
    if not SAMPLE.is_dir():
        pytest.skip(f"committed sample missing at {SAMPLE} (run sample_data/generate.py)")
    target = tmp_path / "htm_sample"
    shutil.copytree(SAMPLE, target, ignore=shutil.ignore_patterns(".aligner"))
    return target


@pytest.fixture(scope="session")
def mp4(tmp_path_factory) -> Path:
    """A 5 s 160x120 H.264 testsrc clip, shared by the tests that only need some real video."""
    return ffmpeg_video(tmp_path_factory.mktemp("media") / "clip.mp4")
