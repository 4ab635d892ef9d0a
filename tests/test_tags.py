"""Entity vocabulary, calibrated per-second tags and their filters, and the two auxiliary losses
(prompt-entity modeling, tag-alignment prediction)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aligner import cli, search, tags, vocabulary
from aligner.errors import AlignerError, InputError
from aligner.tan import aux_losses
from aligner.tan.batching import VideoItem, collate, make_window
from aligner.tan.config import TrainConfig
from aligner.workspace import open_workspace


def test_noun_phrases_follow_determiners_and_stop_at_function_words():
    said = "Now crack the eggs into the yellow bowl."
    assert vocabulary.noun_phrases(said) == ["eggs", "yellow bowl"]
    assert vocabulary.candidates(said) == {"eggs", "yellow bowl", "bowl"}
    assert vocabulary.noun_phrases("Thanks for watching and see you next time.") == []


def test_mined_entities_are_said_in_two_videos_and_user_entities_come_first(tmp_path):
    transcripts = [("v1", "Knead the dough with your hands."), ("v2", "Now knead the dough."),
                   ("v3", "Light the candle.")]  # fmt: skip
    assert vocabulary.mine_entities(transcripts) == ["dough"]
    listed = tmp_path / "entities.txt"
    listed.write_text("# things to find\nCandle\n\nrolling pin  # a tool\n", encoding="utf-8")
    user = vocabulary.read_entity_list(listed)
    assert user == ["candle", "rolling pin"]
    assert vocabulary.build_vocabulary(transcripts, user) == ["candle", "rolling pin", "dough"]
    assert vocabulary.mentions("Knead the dough, then the rolling pin.", ["dough", "pin"]) == [0, 1]
    assert vocabulary.prompt("dough") == "a video of dough"
    with pytest.raises(InputError, match="missing.txt: entity list not found"):
        vocabulary.read_entity_list(tmp_path / "missing.txt")


# -- stored tags ---------------------------------------------------------------------------------
@pytest.fixture
def planted_tags(tmp_path):
    """An index of 3 videos of random seconds; video b's seconds 20-24 point at prompt 0."""
    dim, rng = 16, np.random.default_rng(2)
    ws = open_workspace(tmp_path)
    prompts = np.eye(dim, dtype=np.float32)[:2]  # entities "dough", "candle"
    vectors = {v: rng.normal(size=(40, dim)) for v in ("a", "b", "c")}
    vectors["b"][20:25] = prompts[0] * 5 + 0.3 * rng.normal(size=(5, dim))
    vectors = {v: (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
               for v, x in vectors.items()}  # fmt: skip
    root = search.index_dir(ws, "k")
    manifest = search.empty_manifest("k", tmp_path / "x.pt", dim)
    search.append_shard(root, manifest, {"a": vectors["a"]}, {"a": "1"})
    search.append_shard(
        root, manifest, {"b": vectors["b"], "c": vectors["c"]}, {"b": "1", "c": "1"}
    )
    tags._write_scores(tags.tags_dir(ws), search.open_index(root), ["dough", "candle"], prompts)
    return ws


def test_tags_are_calibrated_per_entity_and_found_where_planted(planted_tags):
    ws = planted_tags
    entities, scores = tags.tags_for_video(ws, "b")
    assert entities == ["dough", "candle"] and scores.shape == (40, 2)
    tagged = np.flatnonzero(scores[:, 0] >= tags.TAG_Z)
    assert set(range(20, 25)) <= set(tagged) and len(tagged) <= 7
    all_scores = np.concatenate([tags.tags_for_video(ws, v)[1] for v in "abc"])
    assert np.allclose(all_scores.mean(0), 0, atol=0.02) and np.allclose(
        all_scores.std(0), 1, atol=0.02
    )
    assert tags.top_tags(entities, scores[21:22])[0][0][0] == "dough"
    with pytest.raises(AlignerError, match="'flour': not a tag entity"):
        tags.window_filter(ws, "flour")


def test_the_timeline_lane_names_the_best_tag_of_each_tagged_second(planted_tags):
    lane = tags.best_tag_per_second(planted_tags, "b")
    assert len(lane) == 40 and lane[20:25] == ["dough"] * 5
    assert sum(name is not None for name in lane) <= 7  # random seconds are rarely tagged


def test_window_filter_keeps_windows_that_show_the_entity(planted_tags):
    keep = tags.window_filter(planted_tags, "Dough")
    assert keep("b", 18.0, 21.5) and keep("b", 24.2, 30.0)
    assert not keep("b", 0.0, 15.0) and not keep("a", 18.0, 26.0)
    assert not keep("zzz", 0, 40) and not keep("b", None, None)


def test_tags_command_and_export_tag_filter(tmp_path, monkeypatch, capsys):
    """`aligner tags` on a store with a checkpoint, then `export --tag` keeps only the
    sentences whose final window shows the tag."""
    ws, items = _toy_store_with_model(tmp_path, monkeypatch)
    (ws.dataset / "annotations" / "entities.txt").write_text("red thing\nblue thing\n")
    assert cli.main(["tags", str(ws.dataset), "--no-mine"]) == 0
    assert "2 entities" in capsys.readouterr().out
    assert cli.main(["tags", str(ws.dataset), "--no-mine"]) == 0
    assert "tags up to date" in capsys.readouterr().out
    entities, scores = tags.tags_for_video(ws, sorted(items)[0])
    assert entities == ["red thing", "blue thing"]
    assert scores.shape == (items[sorted(items)[0]].duration, 2)
    out = tmp_path / "all.jsonl"
    assert cli.main(["export", str(ws.dataset), "--format", "jsonl", "--out", str(out)]) == 0
    tagged = tmp_path / "tagged.jsonl"
    assert cli.main(["export", str(ws.dataset), "--format", "jsonl", "--out", str(tagged),
                     "--tag", "red thing"]) == 0  # fmt: skip
    every = [json.loads(line) for line in out.read_text().splitlines()]
    kept = [json.loads(line) for line in tagged.read_text().splitlines()]
    keep = tags.window_filter(ws, "red thing")
    assert kept == [r for r in every if keep(r["video_id"], r["start"], r["end"])]
    assert 0 < len(kept) < len(every)


def _toy_store_with_model(tmp_path, monkeypatch):
    from aligner import features
    from aligner.store import Store
    from aligner.tan.checkpoints import default_checkpoint, save_checkpoint
    from aligner.tan.config import FeatureSpec, TANConfig
    from aligner.tan.model import build_model
    from tests.toy_data import store_toy_items, toy_items

    items, truth = toy_items(6, seed=4, duration=(30, 60))
    by_id = {it.video_id: it for it in items}
    (tmp_path / "ds" / "annotations").mkdir(parents=True)
    ws = open_workspace(tmp_path / "ds")
    with Store(ws.db_path) as store:
        store_toy_items(store, items, truth)
    rng = np.random.default_rng(9)
    prompt_vectors = {
        vocabulary.prompt(e): rng.normal(size=32) for e in ("red thing", "blue thing")
    }
    monkeypatch.setattr(features, "load_video_features", lambda w, vid, v=None: by_id[vid].video)
    monkeypatch.setattr(features, "load_text_features",
                        lambda w, texts, t=None: np.stack([prompt_vectors[x] for x in texts]))  # fmt: skip
    torch.manual_seed(0)
    model = build_model(TANConfig(width=32, joint_layers=1, dual_layers=1, heads=2, members=1),
                        FeatureSpec(("builtin",), (48,), "minilm", 32))  # fmt: skip
    save_checkpoint(model.eval(), default_checkpoint(ws))
    return ws, by_id


# -- auxiliary losses ----------------------------------------------------------------------------
def _batch(n_windows: int = 2, t: int = 10):
    """Windows whose one sentence names entity i (of 3) and targets seconds 2..5."""
    windows = []
    for i in range(n_windows):
        item = VideoItem(f"v{i}", [np.zeros((t, 4), np.float32)],
                         np.full((1, 6), i + 1, np.float32), np.array([2.0]), np.array([6.0]))  # fmt: skip
        windows.append(make_window(item, 0, t, TrainConfig(pos_margin_s=0.0), None))
    batch = collate(windows)
    named = torch.zeros(n_windows, 1, 3, dtype=torch.bool)
    for i in range(n_windows):
        named[i, 0, i] = True
    return batch, named


def test_prompt_entity_loss_is_lowest_when_seconds_show_the_named_entity():
    batch, named = _batch()
    prompt = torch.eye(3, 8)
    shown = torch.zeros(2, 10, 8)
    shown[0, :, 0], shown[1, :, 1] = 1, 1  # each video shows the entity its sentence names
    swapped = shown.flip(0)
    args = (prompt, named, batch.target, batch, 0.07)
    assert aux_losses.pem_loss(shown, *args) < aux_losses.pem_loss(swapped, *args)
    video = shown.clone().requires_grad_(True)
    aux_losses.pem_loss(video, *args).backward()
    assert video.grad[:, 2:6].abs().sum() > 0 and video.grad[:, 6:].abs().sum() == 0  # targets only
    assert aux_losses.pem_loss(shown, prompt, named & False, batch.target, batch, 0.07) == 0


def test_tag_alignment_loss_prefers_each_video_with_its_own_tag_set():
    batch, named = _batch(3)
    prompt = torch.eye(3, 8)
    matched = torch.zeros(3, 10, 8)
    for i in range(3):
        matched[i, :, i] = 1
    args = (prompt, named, batch.target, batch, 0.07)
    assert aux_losses.tap_loss(matched, *args) < aux_losses.tap_loss(matched.roll(1, 0), *args)


def test_auxiliary_losses_are_off_by_default_and_train_when_switched_on():
    from aligner.tan.config import FeatureSpec, TANConfig
    from aligner.tan.train import train_items
    from tests.toy_data import toy_items

    assert TrainConfig().pem_weight == 0 and TrainConfig().tap_weight == 0
    items, _ = toy_items(4, seed=2, duration=(40, 50))
    rng = np.random.default_rng(0)
    names = ["e0", "e1", "e2"]
    mentions = {}
    for it in items:
        for vec in it.text:
            row = np.zeros(3, bool)
            row[rng.integers(3)] = True
            mentions[vec.tobytes()] = row
    prompts = aux_losses.EntityPrompts(names, torch.randn(3, 32), mentions)
    spec = FeatureSpec(("builtin",), (48,), "minilm", 32)
    cfg = TANConfig(width=32, joint_layers=1, dual_layers=1, heads=2, members=1)
    tcfg = TrainConfig(stage1_epochs=1, stage2_epochs=1, min_batches=1, pem_weight=1.0,
                       tap_weight=1.0)  # fmt: skip
    result = train_items(items, spec, config=cfg, train_config=tcfg, progress=False,
                         entity_prompts=prompts)  # fmt: skip
    assert all(np.isfinite(h["loss"]) for h in result.history)
    batch = collate([make_window(items[i], 0, 30, tcfg, None) for i in range(3)])
    model = result.model
    out = model(batch.video, batch.text, batch.video_pad, batch.text_pad)
    on = aux_losses.aux_loss(model, out, batch, batch.target, tcfg)
    off = aux_losses.aux_loss(model, out, batch, batch.target, TrainConfig())
    assert on > 0 and off == 0
    assert F.normalize(model.encode_text(prompts.vectors), dim=-1).shape == (3, 32)
