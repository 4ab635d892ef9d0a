"""The similarity files a predict run stores and the review app draws (`aligner.similarity`)."""

from __future__ import annotations

import numpy as np
import pytest

from aligner.errors import AlignerError
from aligner.similarity import load_similarity, save_similarity
from aligner.workspace import open_workspace


def test_similarity_files_round_trip_as_float16(tmp_path):
    ws = open_workspace(tmp_path)
    sim = np.random.default_rng(0).normal(size=(4, 30)).astype(np.float32) * 10
    path = save_similarity(ws, "predict-1", "vid", sim)
    assert path == ws.root / "similarity" / "predict-1" / "vid.npy"
    back = load_similarity(ws, "predict-1", "vid")
    assert back.dtype == np.float16 and back.shape == (4, 30)
    assert np.allclose(back, sim, atol=0.01)
    assert load_similarity(ws, "predict-1", "other") is None  # none stored: nothing to draw
    assert load_similarity(ws, "predict-2", "vid") is None
    assert not list(path.parent.glob(".*.tmp"))  # written atomically, nothing left beside it


def test_ids_that_lead_outside_the_workspace_are_refused(tmp_path):
    (tmp_path / "ds").mkdir()
    ws = open_workspace(tmp_path / "ds")
    (tmp_path / "secret.npy").write_bytes(b"")
    for run_id, video_id in [("..", "../secret"), ("predict-1", "../../../secret"), ("", "x")]:
        with pytest.raises(AlignerError, match="not a similarity file name"):
            load_similarity(ws, run_id, video_id)


def test_an_unreadable_file_is_one_clear_error(tmp_path):
    ws = open_workspace(tmp_path)
    path = save_similarity(ws, "predict-1", "vid", np.zeros((2, 3)))
    path.write_bytes(b"not numpy")
    with pytest.raises(AlignerError, match="vid.npy: unreadable similarity file"):
        load_similarity(ws, "predict-1", "vid")
