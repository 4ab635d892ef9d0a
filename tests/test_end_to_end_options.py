"""Options end to end through the CLI on real videos (three of the committed sample's):
two visual backbones fused by LAFF (builtin + a precomputed feature set), and
`predict --mode global` beside the default windowed prediction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aligner.cli import main
from aligner.store import Store
from tests.faults import small_dataset

VISUAL = ["builtin", "precomputed:s3d"]
S3D_DIM = 16  # width of the stand-in precomputed features (real S3D: 512)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """As auto-align trains: two threads spin-wait on each other on a shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def laff_dataset(tmp_path_factory):
    """Ingested, with a precomputed feature set that carries the builtin's signal plus noise,
    and features computed for both backbones."""
    dataset = small_dataset(tmp_path_factory.mktemp("laff") / "ds")
    assert main(["ingest", str(dataset)]) == 0
    assert main(["features", str(dataset)]) == 0
    from aligner.features import load_video_features
    from aligner.workspace import open_workspace

    ws = open_workspace(dataset)
    rng = np.random.default_rng(0)
    folder = dataset / "features" / "s3d"
    folder.mkdir(parents=True)
    with Store(ws.db_path, read_only=True) as store:
        ids = [v["video_id"] for v in store.videos()]
    for video_id in ids:
        (builtin,) = load_video_features(ws, video_id)
        mix = rng.normal(size=(builtin.shape[1], S3D_DIM)) / np.sqrt(builtin.shape[1])
        noisy = builtin @ mix + 0.1 * rng.normal(size=(len(builtin), S3D_DIM))
        np.save(folder / f"{video_id}.mp4.npy", noisy.astype(np.float32))
    assert main(["features", str(dataset), "--visual", *VISUAL]) == 0
    return ws


@pytest.mark.slow
def test_two_visual_backbones_train_and_predict_with_laff(laff_dataset, capsys):
    ws = laff_dataset
    out = ws.root / "checkpoints" / "laff.pt"
    args = ["train", str(ws.dataset), "--visual", *VISUAL, "--epochs", "1", "--out", str(out)]
    assert main(args) == 0
    import torch

    payload = torch.load(out, map_location="cpu", weights_only=True)
    assert list(payload["features"]["visual"]) == VISUAL
    assert list(payload["features"]["visual_dims"])[1] == S3D_DIM
    assert main(["predict", str(ws.dataset), "--checkpoint", str(out)]) == 0
    with Store(ws.db_path, read_only=True) as store:
        run = store.latest_run("tan")
        predicted = store.predictions(run["run_id"])
        n_sentences = store.sentence_count()
    assert len(predicted) == n_sentences > 10
    weights = json.loads(run["metrics"])["laff_weights_per_video"]
    assert len(weights) == 3
    for per_backbone in weights.values():
        assert set(per_backbone) == set(VISUAL)
        assert sum(per_backbone.values()) == pytest.approx(1.0, abs=1e-3)
        assert all(0 < w < 1 for w in per_backbone.values())


@pytest.mark.slow
def test_predict_global_mode_covers_every_sentence_inside_its_video(laff_dataset):
    ws = laff_dataset
    out = ws.root / "checkpoints" / "builtin.pt"
    assert main(["train", str(ws.dataset), "--epochs", "1", "--out", str(out)]) == 0
    runs = {}
    for mode in ("window", "global"):
        assert main(["predict", str(ws.dataset), "--checkpoint", str(out), "--mode", mode]) == 0
        with Store(ws.db_path, read_only=True) as store:
            run = store.latest_run("tan")
            runs[mode] = {(p["video_id"], p["idx"]): p for p in store.predictions(run["run_id"])}
            assert json.loads(run["params"])["mode"] == mode
            durations = {v["video_id"]: v["duration"] for v in store.videos()}
    assert runs["global"].keys() == runs["window"].keys()
    for (video_id, _), p in runs["global"].items():
        assert 0 <= p["start"] <= p["peak"] <= p["end"] <= durations[video_id] + 1
        assert 0 <= p["alignability"] <= 1
    # on videos of 60-110 s, one pass and 64 s windows see different context: not all equal
    assert any(runs["global"][k]["peak"] != runs["window"][k]["peak"] for k in runs["global"])
