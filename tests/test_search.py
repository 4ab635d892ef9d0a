"""Moment search: exact top-k over float16 shards, moments from adjacent seconds, the dual
branch's embeddings, an incremental index, the CLI, and retrieval recall in `evaluate`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aligner import cli, search
from aligner.retrieval import overlap_hit, peak_hit, recall_at_k
from aligner.search import Moment
from aligner.store import Store
from aligner.workspace import open_workspace


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _random_index(tmp_path, sizes: dict[str, int], dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    manifest = search.empty_manifest("k", tmp_path / "x.pt", dim)
    vectors = {vid: _unit(rng.normal(size=(n, dim))) for vid, n in sizes.items()}
    return manifest, vectors


def test_top_seconds_is_exact_over_shards_and_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "BLOCK_ROWS", 7)  # many blocks per shard
    manifest, vectors = _random_index(tmp_path, {"a": 30, "b": 25, "c": 41})
    search.append_shard(tmp_path, manifest, {k: vectors[k] for k in ("a", "b")},
                        {"a": "1", "b": "1"})  # fmt: skip
    search.append_shard(tmp_path, manifest, {"c": vectors["c"]}, {"c": "1"})
    index = search.open_index(tmp_path)
    queries = _unit(np.random.default_rng(5).normal(size=(3, 16)))
    rows, scores = search.top_seconds(index, queries, pool=9)
    stored = np.concatenate([vectors[v] for v in ("a", "b", "c")]).astype(np.float16)
    brute = stored.astype(np.float32) @ queries.T  # (N, 3)
    for q in range(3):
        assert rows[q].tolist() == np.argsort(-brute[:, q], kind="stable")[:9].tolist()
        assert np.all(np.diff(scores[q]) <= 0)


def test_changed_video_rows_are_replaced_and_never_returned(tmp_path):
    manifest, vectors = _random_index(tmp_path, {"a": 10, "b": 10})
    search.append_shard(tmp_path, manifest, vectors, {"a": "1", "b": "1"})
    query = vectors["a"][3]
    search.append_shard(tmp_path, manifest, {"a": -vectors["a"]}, {"a": "2"})  # a changed
    index = search.open_index(tmp_path)
    assert index.n_vectors == 20 and len(index.row_video) == 30
    best = search.search_vectors(index, query[None], top=3)[0]
    assert best[0].score < 0.99  # a's old row 3 (the exact match) is stale: never scored
    new_scores = -vectors["a"] @ query
    for m in best:
        if m.video_id == "a":
            assert m.score == pytest.approx(new_scores[int(m.peak)], abs=2e-3)
    np.testing.assert_allclose(index.vectors_of("a"), -vectors["a"], atol=2e-3)


def test_adjacent_hit_seconds_merge_into_one_moment(tmp_path):
    dim = 8
    rng = np.random.default_rng(1)
    target = _unit(rng.normal(size=dim))
    video = _unit(rng.normal(size=(40, dim)) * 0.2 - target)  # far from the target
    video[10:15] = _unit(target + 0.05 * rng.normal(size=(5, dim)))
    video[30] = target
    manifest = search.empty_manifest("k", tmp_path / "x.pt", dim)
    search.append_shard(tmp_path, manifest, {"v": video}, {"v": "1"})
    index = search.open_index(tmp_path)
    rows, scores = search.top_seconds(index, target[None], pool=6)
    moments = search.merge_moments(index, rows[0], scores[0], top=5)
    assert moments[0] == Moment("v", 30.0, 31.0, pytest.approx(1.0, abs=1e-3), 30.0)
    assert (moments[1].start, moments[1].end) == (10.0, 15.0)
    assert 10 <= moments[1].peak < 15 and len(moments) == 2


def test_hit_rules_use_the_htm_align_bounds():
    m = Moment("v", 10.0, 13.0, 0.9, 12.0)  # seconds 10, 11, 12
    assert overlap_hit(m, "v", 12.6, 20.0)  # floor(12.6) = 12 is in the moment
    assert not overlap_hit(m, "v", 13.2, 20.0)
    assert overlap_hit(m, "v", 2.0, 9.4)  # ceil(9.4) = 10
    assert not overlap_hit(m, "w", 10.0, 12.0)
    assert peak_hit(m, "v", 11.5, 11.9) and not peak_hit(m, "v", 13.0, 20.0)
    results = [[Moment("x", 0, 1, 1, 0), m], [Moment("x", 0, 1, 1, 0)]]
    recall = recall_at_k(results, [("v", 10, 11), ("v", 10, 11)], ks=(1, 2))
    assert recall == {"r@1": 0.0, "r@2": 0.5}


# -- with a model --------------------------------------------------------------------------------
@pytest.fixture(params=[0, 1], ids=["dual0", "dual1"])  # per-second (default) / temporal dual
def toy_search(tmp_path, monkeypatch, request):
    """8 toy videos (features served from memory) in a store, and a random small checkpoint."""
    from aligner import features
    from aligner.tan.checkpoints import default_checkpoint, save_checkpoint
    from aligner.tan.config import FeatureSpec, TANConfig
    from aligner.tan.model import build_model
    from tests.toy_data import store_toy_items, toy_items

    items, truth = toy_items(8, seed=3, duration=(30, 90))
    by_id = {it.video_id: it for it in items}
    ws = open_workspace(tmp_path)
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "htm_align.json").write_text(json.dumps(truth))
    with Store(ws.db_path) as store:
        store_toy_items(store, items, truth)
    by_text = {f"{it.video_id} sentence {j}": it.text[j] for it in items
               for j in range(len(it.text))}  # fmt: skip
    monkeypatch.setattr(features, "load_video_features", lambda w, vid, v=None: by_id[vid].video)
    monkeypatch.setattr(features, "load_text_features",
                        lambda w, texts, t=None: np.stack([by_text[x] for x in texts]))  # fmt: skip
    torch.manual_seed(0)
    model = build_model(TANConfig(width=32, joint_layers=1, dual_layers=request.param, heads=2, members=1),
                        FeatureSpec(("builtin",), (48,), "minilm", 32))  # fmt: skip
    save_checkpoint(model.eval(), default_checkpoint(ws))
    return ws, by_id, model


def test_index_holds_the_dual_branch_embeddings_and_is_incremental(toy_search):
    ws, items, model = toy_search
    first = search.build_index(ws, progress=False)
    assert first.added == 8 and first.n_vectors == sum(it.duration for it in items.values())
    again = search.build_index(ws, progress=False)
    assert again.added == 0 and again.root == first.root
    index = search.open_index(first.root)
    short = min(items.values(), key=lambda it: it.duration)  # <= 64 s: one window, as `forward`
    video = [torch.from_numpy(short.video[0])[None]]
    text = torch.from_numpy(short.text[:2])[None]
    with torch.no_grad():
        out = model(video, text, torch.zeros(1, short.duration, dtype=torch.bool),
                    torch.zeros(1, 2, dtype=torch.bool))  # fmt: skip
    np.testing.assert_allclose(index.vectors_of(short.video_id), out.dual_video[0].numpy(),
                               atol=2e-3)  # float16 storage  # fmt: skip
    np.testing.assert_allclose(search.text_embeddings(model, short.text[:2]),
                               out.dual_text[0].numpy(), atol=1e-5)  # fmt: skip
    short.video[0] = short.video[0] + 1.0  # its features change: only it is re-embedded
    assert search.build_index(ws, progress=False).added == 1


def test_search_ranks_the_query_own_second_first_and_cli_prints_it(toy_search, capsys):
    ws, items, model = toy_search
    search.build_index(ws, progress=False)
    index = search.open_index(
        search.index_dir(ws, search.checkpoint_key(search.model_checkpoint(ws)))
    )
    vid = sorted(items)[2]
    query = index.vectors_of(vid)[17]
    best = search.search_vectors(index, query[None], top=3)[0][0]
    assert best.video_id == vid and best.start <= 17 < best.end and best.peak == 17
    text = f"{vid} sentence 0"
    assert cli.main(["search", str(ws.dataset), text, "--top", "4"]) == 0
    out = capsys.readouterr().out
    assert f"query: {text!r}" in out and len(out.strip().splitlines()) == 2 + 4


def test_evaluate_reports_retrieval_recall_beside_r_at_1(toy_search, capsys):
    ws, items, _ = toy_search
    from aligner.tan.checkpoints import default_checkpoint

    with Store(ws.db_path) as store:
        run = store.start_run("predict", model="tan")
        store.save_predictions(run, [{"sentence_id": s.sentence_id, "alignability": 0.5,
                                      "start": s.start, "end": s.end, "peak": s.start,
                                      "dual_alignability": 0.5, "dual_peak": s.start}
                                     for s in store.sentences()])  # fmt: skip
        store.finish_run(run, checkpoint=str(default_checkpoint(ws)))
    assert cli.main(["evaluate", str(ws.dataset), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    retrieval = report["retrieval"]
    assert retrieval["n_queries"] == report["n_alignable"] > 0
    assert set(retrieval["recall"]) == {"r@1", "r@5", "r@10"}
    r = retrieval["recall"]
    assert 0 <= r["r@1"] <= r["r@5"] <= r["r@10"] <= 1
    assert all(retrieval["recall_peak"][k] <= r[k] for k in r)  # the peak rule is stricter
    assert cli.main(["evaluate", str(ws.dataset)]) == 0
    assert "retrieval over the whole dataset" in capsys.readouterr().out


# -- the Search page -----------------------------------------------------------------------------
@pytest.mark.slow
def test_search_page_lists_hits_with_thumbnails_and_opens_the_moment(tmp_path, monkeypatch):
    """AppTest on the real app: a demo store (real mp4s, builtin + minilm features) and a random
    small checkpoint; a query lists moments, each with a thumbnail; its button opens Review."""
    import sys

    pytest.importorskip("streamlit")
    sys.path.insert(0, str(search.Path(__file__).resolve().parents[1]))
    from streamlit.testing.v1 import AppTest

    from aligner.features import feature_dims
    from aligner.tan.checkpoints import default_checkpoint, save_checkpoint
    from aligner.tan.config import FeatureSpec, TANConfig
    from aligner.tan.model import build_model
    from aligner.users import add_user
    from tests.demo_data import make_demo_dataset

    ws = make_demo_dataset(tmp_path / "demo", n_videos=2, duration_s=12.0, sentences_per_video=3)
    dims, text_dim = feature_dims(["builtin"], "minilm")
    torch.manual_seed(0)
    model = build_model(TANConfig(width=32, joint_layers=1, dual_layers=1, heads=2, members=1),
                        FeatureSpec(("builtin",), tuple(dims), "minilm", text_dim))  # fmt: skip
    save_checkpoint(model.eval(), default_checkpoint(ws))
    add_user(ws.root / "users.json", "ana", "long-enough", role="curator")
    monkeypatch.setenv("ALIGNER_DATASET", str(ws.dataset))
    for name in ("ALIGNER_DB", "ALIGNER_USERS", "ALIGNER_REVIEW_SETTINGS"):
        monkeypatch.delenv(name, raising=False)
    app = search.Path(__file__).resolve().parents[1] / "ui" / "app.py"
    at = AppTest.from_file(str(app), default_timeout=60).run()
    at.text_input(key="sign_in_name").input("ana")
    at.text_input(key="sign_in_password").input("long-enough")
    at.button[0].click().run()
    at.session_state["page"] = "Search"
    at.run()
    at.text_input(key="search_query").input("cut the board").run()
    assert not at.exception, at.exception
    hits = [m.value for m in at.markdown if m.value.startswith("**")]
    assert 1 <= len(hits) <= 10 and hits[0].startswith("**1. demo")
    assert _count(at.main, "Image") == len(hits)  # one thumbnail per hit
    first_video = hits[0].split()[1].strip("*")
    at.button(key="search_open_1").click().run()
    assert not at.exception, at.exception
    assert at.session_state["page"] == "Review" and at.session_state["video_id"] == first_video


def _count(node, kind: str) -> int:
    """Elements of class `kind` below an AppTest node (images have no accessor of their own)."""
    own = int(type(node).__name__ == kind)
    return own + sum(_count(c, kind) for c in getattr(node, "children", {}).values())


def test_an_ensembles_search_scores_are_the_mean_of_its_members_cosines():
    from aligner.tan.config import FeatureSpec, TANConfig
    from aligner.tan.model import build_model, members_of

    torch.manual_seed(0)
    spec = FeatureSpec(("toy",), (12,), "toy-text", 8)
    model = build_model(TANConfig(width=16, joint_layers=1, dual_layers=0, heads=2, members=3),
                        spec).eval()  # fmt: skip
    rng = np.random.default_rng(0)
    video, text = [rng.normal(size=(30, 12)).astype(np.float32)], rng.normal(size=(4, 8))
    got = search.text_embeddings(model, text) @ search.video_embeddings(model, video).T
    assert search.video_embeddings(model, video).shape == (30, 48)
    each = [search.text_embeddings(m, text) @ search.video_embeddings(m, video).T
            for m in members_of(model)]  # fmt: skip
    np.testing.assert_allclose(got, np.mean(each, axis=0), atol=1e-5)
