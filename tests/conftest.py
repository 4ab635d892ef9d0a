"""Shared fixtures. Nothing in the tests may reach the network."""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from tests.media import ffmpeg_video

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "htm_sample"
UNDER_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> None:
    """Skip for `reason` on a developer machine; under CI (CI=true) a missing requirement is a
    failure, so a test that silently stopped running cannot pass CI."""
    if UNDER_CI:
        pytest.fail(f"CI must run this test: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require(module: str, install: str | None = None) -> ModuleType:
    """Import a required optional package (like `pytest.importorskip`, but failing under CI)."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        missing(f"{module} is not importable ({err}); pip install {install or module}")
        raise  # unreachable: missing() always raises


def require_tools(*tools: str) -> None:
    """Skip (fail under CI) unless every command-line tool is on PATH."""
    absent = [t for t in tools if shutil.which(t) is None]
    if absent:
        missing(f"needs {', '.join(absent)} on PATH")


@pytest.fixture
def sample_dataset(tmp_path: Path) -> Path:
    """A private copy of the committed sample (so its workspace never lands in the repo)."""
    if not SAMPLE.is_dir():
        missing(f"committed sample missing at {SAMPLE} (run sample_data/generate.py)")
    target = tmp_path / "htm_sample"
    shutil.copytree(SAMPLE, target, ignore=shutil.ignore_patterns(".aligner"))
    return target


@pytest.fixture(scope="session")
def mp4(tmp_path_factory) -> Path:
    """A 5 s 160x120 H.264 testsrc clip, shared by the tests that only need some real video."""
    return ffmpeg_video(tmp_path_factory.mktemp("media") / "clip.mp4")
