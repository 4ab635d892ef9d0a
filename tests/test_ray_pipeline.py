"""The Ray layer on the committed sample, on a real local Ray instance (`ray.init(num_cpus=2)`,
actors and train workers asking for half a CPU): Ray Train with DDP on 2 workers writes a
checkpoint local prediction reads; the Ray Data pipeline predicts exactly what local
`auto-align` predicts with that checkpoint; a re-run skips finished shards and retries a failed
one a bounded number of times. One Ray instance and one trained checkpoint serve every test."""

from __future__ import annotations

import os
import re
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import SAMPLE

try:
    import ray
except ImportError:  # a missing extra is a failure in CI, a skip on a light dev venv
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("ray is not installed (pip install 'aligner[scale]')", allow_module_level=True)

pytestmark = pytest.mark.slow
HALF_CPU = 0.5
TRAIN_STEPS = 3  # in all (1 + 2): DDP is what is tested, not skill


@pytest.fixture(scope="session")
def ray_local():
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """The sample, ingested, with local features and their feature shards."""
    from aligner import shards
    from aligner.features import compute_features
    from aligner.ingest import ingest_dataset
    from aligner.workspace import open_workspace

    root = tmp_path_factory.mktemp("ray") / "htm_sample"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns(".aligner"))
    ws = open_workspace(root)
    ingest_dataset(ws, asr=False, progress=False)
    compute_features(ws, workers=1, progress=False)
    shards.local_feature_shards(ws, ws.root / "train-shards", visual=["builtin"], text="minilm")
    return ws


@pytest.fixture(scope="module")
def ray_checkpoint(ray_local, ws):
    from aligner.pipelines.train import train_on_shards

    summary = train_on_shards(
        ws.root / "train-shards", ws.root / "checkpoints" / "ray.pt", workers=2,
        cpus_per_worker=HALF_CPU, steps=TRAIN_STEPS, storage=ws.root / "ray-train",
    )  # fmt: skip
    return summary


def test_ray_train_ddp_checkpoint_predicts(ws, ray_checkpoint):
    import torch

    from aligner import shards
    from aligner.store import Store
    from aligner.tan.checkpoints import load_checkpoint
    from aligner.tan.infer import predict_dataset
    from aligner.tan.look_bank import video_key
    from aligner.tan.model import build_model

    assert ray_checkpoint.workers == 2 and ray_checkpoint.videos == 7
    assert ray_checkpoint.steps == TRAIN_STEPS
    assert ray_checkpoint.replicas_agree  # DDP kept both workers' weights identical
    model, payload = load_checkpoint(ray_checkpoint.checkpoint)  # the local loader reads it
    assert {"config", "features", "state_dict", "stage"} <= set(payload)
    assert payload["features"]["visual"] == ["builtin"] and payload["features"]["text"] == "minilm"
    torch.manual_seed(0)
    untrained = build_model(model.cfg, model.spec).state_dict()
    moved = [not torch.equal(untrained[k], v) for k, v in model.state_dict().items()]
    assert sum(moved) > len(moved) // 2  # the optimiser steps changed the weights
    every = np.concatenate(list(shards.iter_sentence_vectors(shards.shard_files(
        ws.root / "train-shards", "features"))))  # fmt: skip
    assert len(every) == 52  # as local training: a bank of every video's sentences
    np.testing.assert_array_equal(model.sentence_bank, every.astype(np.float16))
    ids = {video_key(v["video_id"]) for v in shards.iter_feature_videos(shards.shard_files(
        ws.root / "train-shards", "features"))}  # fmt: skip
    assert 0 < len(model.look_bank) < 52 and set(model.look_bank.video) <= ids  # confident ones
    summary = predict_dataset(ws, checkpoint=ray_checkpoint.checkpoint, baselines=False,
                              progress=False)  # fmt: skip
    assert summary.n_videos == 7 and summary.n_sentences == 52 and not summary.failed
    with Store(ws.db_path, read_only=True) as store:
        rows = store.predictions(summary.run_id)
    assert all(0 <= r["alignability"] <= 1 and r["start"] < r["end"] for r in rows)


def _predictions(ws, run_id: str) -> dict[int, dict]:
    from aligner.store import Store

    with Store(ws.db_path, read_only=True) as store:
        return {r["sentence_id"]: r for r in store.predictions(run_id)}


@pytest.fixture(scope="module")
def broken_video(tmp_path_factory) -> dict:
    """A manifest entry whose file is not a video: its shard records the error."""
    path = tmp_path_factory.mktemp("bad") / "broken.mp4"
    path.write_bytes(b"\x00not a video" * 100)
    return {"video_id": "broken", "path": str(path), "duration": 30.0, "sentence_ids": None,
            "starts": [1.0], "ends": [3.0], "texts": ["Cut the board."]}  # fmt: skip


def _run(ws, ckpt, manifest, out):
    from aligner.pipelines.infer import Resources, run_pipeline

    return run_pipeline(manifest, out, checkpoint=ckpt, visual=["builtin"], text="minilm",
                        dataset=ws.dataset, resources=Resources(1, 1, 1, HALF_CPU),
                        videos_per_shard=4, max_attempts=2)  # fmt: skip


@pytest.fixture(scope="module")
def scaled(ws, ray_checkpoint, broken_video, ray_local):
    """One pipeline run over the store's 7 videos plus the broken one."""
    from aligner.manifest import store_manifest

    manifest = [*store_manifest(ws), broken_video]
    out = ws.root / "scale"
    return manifest, out, _run(ws, ray_checkpoint.checkpoint, manifest, out)


def test_ray_pipeline_equals_local_auto_align(ws, ray_checkpoint, scaled, capsys):
    from aligner.cli import main
    from aligner.pipeline import auto_align
    from aligner.similarity import load_similarity

    _, out, summary = scaled
    assert summary.videos == 8 and summary.run == summary.shards == 2
    assert len(summary.failed) == 1 and summary.failed[0].startswith("broken: decode: ")
    assert "broken.mp4" in summary.failed[0]  # the one-line reason names the file
    assert main(["import-predictions", str(ws.dataset), "--shards", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "imported 52 predictions from 2 shard(s)" in printed and "7 similarity" in printed
    assert "matched no stored sentence" not in printed
    run_id = re.search(r"into run (predict-[0-9a-f]+)", printed)[1]
    local = auto_align(ws, checkpoint=ray_checkpoint.checkpoint, asr=False, baselines=False,
                       progress=False)  # fmt: skip
    ours, theirs = _predictions(ws, run_id), _predictions(ws, local.predict_run_id)
    assert set(ours) == set(theirs) and len(ours) == 52
    for sid, row in ours.items():
        for name in ("start", "end", "peak", "dual_peak"):
            assert row[name] == theirs[sid][name], (sid, name)
        for name in ("alignability", "dual_alignability"):  # sentence vectors batch differently
            assert row[name] == pytest.approx(theirs[sid][name], abs=1e-5), (sid, name)
    for video_id in {row["video_id"] for row in ours.values()}:
        np.testing.assert_allclose(
            load_similarity(ws, run_id, video_id).astype(np.float32),
            load_similarity(ws, local.predict_run_id, video_id).astype(np.float32), atol=0.02,
        )  # fmt: skip


def test_rerun_skips_finished_shards_and_retries_failures_boundedly(ws, ray_checkpoint, scaled):
    from aligner import shards

    manifest, out, first = scaled
    bad = shards.shard_name("broken", first.shards)
    status = shards.shard_status(out, bad)
    assert status["videos"]["broken"]["status"] == "failed" and status["attempts"] == 1
    assert sum(v["status"] == "ok" for v in status["videos"].values()) >= 1
    written = sum(pq.read_table(p).num_rows for p in shards.shard_files(out, "predictions"))
    assert written == 52  # the rest of the batch, the broken video's shard-mates too, completed
    second = _run(ws, ray_checkpoint.checkpoint, manifest, out)  # only the failed shard again
    assert (second.run, second.skipped) == (1, first.shards - 1) and len(second.failed) == 1
    assert shards.shard_status(out, bad)["attempts"] == 2
    third = _run(ws, ray_checkpoint.checkpoint, manifest, out)  # attempts used up: nothing to do
    assert (third.run, third.skipped, third.videos) == (0, first.shards, 0)


def test_ray_training_splits_its_steps_as_local_training_splits_its_epochs():
    from aligner.pipelines.train import stage_steps

    from aligner.tan.config import TrainConfig

    assert stage_steps(300, TrainConfig()) == (100, 200)  # a third on the ASR targets
    assert stage_steps(3, TrainConfig()) == (1, 2)
    assert stage_steps(1, TrainConfig()) == (1, 1)  # each stage takes a step
