"""The shard files the Ray pipeline writes, without Ray: layout, bounded retries, streaming reads,
and the Ray-free stage functions on a real video."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from aligner import shards, stages
from aligner.features.text import get_text_encoder
from aligner.features.visual import BuiltinBackbone


def _video(video_id: str, t: int = 5, k: int = 2, *, error: str | None = None) -> dict:
    rng = np.random.default_rng(len(video_id))
    return {
        "video_id": video_id, "duration": float(t), "sentence_ids": list(range(k)),
        "starts": [float(i) for i in range(k)], "ends": [i + 1.5 for i in range(k)],
        "texts": [f"step {i}" for i in range(k)], "error": error,
        "visual": [rng.random((t, 3), dtype=np.float32)],
        "text_features": rng.random((k, 4), dtype=np.float32),
        **{name: np.arange(k, dtype=float) for name in stages.PREDICTION_FIELDS},
        "sim": rng.random((k, t)).astype(np.float16),
    }  # fmt: skip


def test_layout_is_fixed_at_the_first_run_and_names_are_stable(tmp_path):
    assert shards.shard_count(tmp_path, 130, 64) == 3
    assert shards.shard_count(tmp_path, 10_000, 64) == 3  # later runs keep the folder's count
    assert shards.shard_name("abc", 3) == shards.shard_name("abc", 3)
    assert {shards.shard_name(f"v{i}", 3) for i in range(50)} == {
        "shard-00000", "shard-00001", "shard-00002"}  # fmt: skip


def test_failed_shard_reruns_until_attempts_are_used_up(tmp_path):
    assert shards.needs_run(tmp_path, "s")  # never written
    videos = [_video("a"), _video("b", error="decode: b.mp4: cannot decode")]
    result = shards.write_shard(tmp_path, "s", videos, attempts=1)
    assert result.ok == 1 and result.failed == {"b": "decode: b.mp4: cannot decode"}
    assert shards.needs_run(tmp_path, "s", max_attempts=2)
    shards.write_shard(tmp_path, "s", videos, attempts=2)
    assert not shards.needs_run(tmp_path, "s", max_attempts=2)
    shards.write_shard(tmp_path, "t", [_video("c")], attempts=1)
    assert not shards.needs_run(tmp_path, "t")  # all ok: finished at once
    rows = pq.read_table(shards.shard_path(tmp_path, "s", "predictions")).to_pylist()
    assert [(r["video_id"], r["idx"], r["text"]) for r in rows] == [("a", 0, "step 0"),
                                                                     ("a", 1, "step 1")]  # fmt: skip


def test_feature_stream_splits_videos_between_workers_and_round_trips(tmp_path):
    originals = {v: _video(v, t=4 + i) for i, v in enumerate("abcde")}
    shards.write_shard(tmp_path, "s", list(originals.values()), attempts=1)
    files = shards.shard_files(tmp_path, "features")
    got = [
        [v["video_id"] for v in shards.iter_feature_videos(files, rank=r, world=2)] for r in (0, 1)
    ]
    assert sorted(got[0] + got[1]) == list("abcde") and not set(got[0]) & set(got[1])
    streamed = next(shards.iter_feature_videos(files))
    original = originals[streamed["video_id"]]
    np.testing.assert_array_equal(streamed["visual"][0], original["visual"][0])
    np.testing.assert_array_equal(streamed["text"], original["text_features"])
    assert list(streamed["start"]) == original["starts"]
    sim_row = pq.read_table(shards.shard_path(tmp_path, "s", "similarity")).to_pylist()[0]
    np.testing.assert_array_equal(shards.read_similarity(sim_row), originals["a"]["sim"])


def test_stages_on_a_real_clip_match_the_backbone_and_record_errors(mp4, tmp_path):
    video = {"video_id": "clip", "path": str(mp4), "duration": 5.0, "texts": ["a test card"],
             "starts": [0.0], "ends": [2.0], "error": None}  # fmt: skip
    backbone, encoder = BuiltinBackbone(), get_text_encoder("minilm")
    out = stages.embed(stages.decode(dict(video), [backbone], None), [backbone], encoder, None)
    ref = stages.video_ref(video, None)
    np.testing.assert_allclose(out["visual"][0], backbone.video_features(ref), atol=1e-6)
    assert out["visual"][0].shape == (5, backbone.dim) and out["text_features"].shape[0] == 1
    missing = stages.decode({**video, "path": str(tmp_path / "gone.mp4")}, [backbone], None)
    assert missing["error"].startswith("decode: ") and "gone.mp4" in missing["error"]
    assert stages.embed(missing, [backbone], encoder, None) is missing  # passed through


def test_howto100m_list_manifest_uses_captions_and_precomputed_features(tmp_path):
    import json

    from aligner.features.visual import get_visual_backbone
    from aligner.manifest import howto100m_manifest

    (tmp_path / "features" / "s3d").mkdir(parents=True)
    np.save(tmp_path / "features" / "s3d" / "vidA.mp4.npy", np.ones((40, 8), np.float32))
    captions = {"vidA": {"start": [1.0, 5.0], "end": [4.0, 9.0],
                         "text": ["first cut the wood.", "then sand it."]},
                "vidB": {"start": [0.0], "end": [2.0], "text": ["no features here."]}}  # fmt: skip
    (tmp_path / "caption.json").write_text(json.dumps(captions))
    listing = tmp_path / "list.csv"
    listing.write_text("video_id,task\nvidA,1\nvidB,2\n")
    manifest = howto100m_manifest(listing, tmp_path, features="precomputed:s3d")
    assert [v["video_id"] for v in manifest] == ["vidA"]  # vidB has no features: left out
    video = {**manifest[0], "error": None}
    assert video["duration"] == 40.0 and len(video["texts"]) == 2 and video["path"] == ""
    backbone = get_visual_backbone("precomputed:s3d", dataset=tmp_path)
    out = stages.embed(stages.decode(video, [backbone], tmp_path), [backbone],
                       get_text_encoder("minilm"), tmp_path)  # fmt: skip
    assert out["error"] is None and out["visual"][0].shape == (40, 8)
