"""Training: windows and padding, MIL-NCE, co-training pseudo-labels, curated labels, determinism."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from aligner.tan.batching import Batch, VideoItem, collate, epoch_batches, make_window
from aligner.tan.config import FeatureSpec, TANConfig, TrainConfig
from aligner.tan.cotraining import best_windows, pseudo_labels, two_way_prob
from aligner.tan.infer import predict_video, sentence_rows
from aligner.tan.losses import mil_nce
from aligner.tan.train import train_items
from tests.toy_data import toy_items

SPEC = FeatureSpec(("toy",), (48,), "toy-text", 32)
TINY = TANConfig(width=32, joint_layers=1, dual_layers=1, heads=2, members=1)


def _item(t: int, spans: list[tuple[float, float]], label=None) -> VideoItem:
    k = len(spans)
    return VideoItem(
        "v",
        [np.zeros((t, 4), np.float32)],
        np.ones((k, 3), np.float32),
        np.array([a for a, _ in spans]),
        np.array([b for _, b in spans]),
        label_alignable=label,
    )


def test_window_targets_follow_the_asr_span_plus_margin():
    item = _item(100, [(10.0, 12.5), (70.0, 72.0), (90.0, 95.0)])
    w = make_window(item, 0, 64, TrainConfig(pos_margin_s=2), None)
    assert len(w["text"]) == 1  # only the first sentence touches seconds 0-63
    assert np.flatnonzero(w["target"][0]).tolist() == list(range(8, 15))  # [8, 14.5)
    assert w["span"].tolist() == [2]
    late = make_window(item, 40, 60, TrainConfig(pos_margin_s=0), None)
    assert np.flatnonzero(late["target"][0]).tolist() == [30, 31]  # seconds 70, 71


def test_curated_windows_replace_asr_targets():
    item = _item(100, [(10.0, 12.0), (20.0, 22.0)], label=np.array([1.0, 0.0]))
    item.label_start[0], item.label_end[0] = 40.0, 45.0
    w = make_window(item, 0, 64, TrainConfig(pos_margin_s=5), None)
    assert np.flatnonzero(w["target"][0]).tolist() == list(range(40, 45))
    assert not w["target"][1].any()  # "not alignable": no positive second at all
    assert w["human"].tolist() == [True, True] and w["align_label"].tolist() == [1.0, 0.0]


def test_collate_pads_and_masks_different_lengths():
    a = make_window(_item(30, [(1, 3), (5, 6)]), 0, 30, TrainConfig(), None)
    b = make_window(_item(12, [(2, 4)]), 0, 12, TrainConfig(), None)
    batch = collate([a, b])
    assert batch.video[0].shape == (2, 30, 4) and batch.text.shape == (2, 2, 3)
    assert batch.video_pad[1].tolist() == [False] * 12 + [True] * 18
    assert batch.text_pad.tolist() == [[False, False], [False, True]]
    assert not batch.target[1, :, 12:].any() and not batch.target[1, 1].any()


def test_batches_never_hold_two_windows_of_one_video():
    items, _ = toy_items(10, seed=3)
    for batch in epoch_batches(items, TrainConfig(batch_videos=4), np.random.default_rng(0)):
        assert batch.text.shape[0] <= 4
    # every batch row is a different video: the features differ row to row
    first = epoch_batches(items, TrainConfig(batch_videos=10), np.random.default_rng(0))[0]
    rows = first.video[0][:, 0]
    assert torch.cdist(rows, rows).fill_diagonal_(1).min() > 0


def _batch_for(pos: torch.Tensor) -> Batch:
    b, k, t = pos.shape
    return Batch([torch.zeros(b, t, 1)], torch.zeros(b, k, 1),
                 torch.zeros(b, t, dtype=torch.bool), torch.zeros(b, k, dtype=torch.bool),
                 pos, torch.ones(b, k, dtype=torch.long), torch.zeros(b, k, dtype=torch.bool),
                 torch.full((b, k), float("nan")), torch.full((b, k), t / 2))  # fmt: skip


def test_mil_nce_prefers_aligned_embeddings_and_uses_cross_video_negatives():
    torch.manual_seed(0)
    pos = torch.zeros(2, 3, 6, dtype=torch.bool)
    for k in range(3):
        pos[:, k, 2 * k : 2 * k + 2] = True
    text = torch.nn.functional.normalize(torch.randn(2, 3, 16), dim=-1)
    aligned = text.repeat_interleave(2, dim=1)  # second t shows sentence t // 2
    shuffled = aligned[:, torch.randperm(6)]
    batch = _batch_for(pos)
    good = mil_nce(aligned, text, pos, batch, 0.07)
    bad = mil_nce(shuffled, text, pos, batch, 0.07)
    assert good < bad
    # video 1 identical to video 0: its seconds are perfect matches for video 0's sentences,
    # so the cross-video negatives must raise the loss
    same = torch.cat([aligned[:1], aligned[:1]]), torch.cat([text[:1], text[:1]])
    assert mil_nce(*same, pos, batch, 0.07) > good


def test_best_windows_and_agreement_make_the_union_target():
    t = 20
    sim = torch.full((1, 2, t), -5.0)
    sim[0, 0, 10:13] = 5.0  # sentence 0 clearly at 10-12
    sim[0, 1, 2:5] = 5.0
    batch = _batch_for(torch.zeros(1, 2, t, dtype=torch.bool))
    batch.span[:] = 3
    start, _ = best_windows(two_way_prob(sim, batch), batch.span, batch)
    assert start[0].tolist() == [10, 2]
    dual = sim.clone()
    dual[0, 0] = -5.0
    dual[0, 0, 11:14] = 5.0  # agrees with joint (IoU 0.5)
    dual[0, 1] = -5.0
    dual[0, 1, 15:18] = 5.0  # disagrees
    batch.target[0, 1, 0:3] = True  # sentence 1's ASR target stays
    labels = pseudo_labels(sim, dual, batch, TrainConfig())
    assert labels.target[0, 0].nonzero().flatten().tolist() == [10, 11, 12, 13]
    assert labels.target[0, 1].nonzero().flatten().tolist() == [0, 1, 2]


def test_alignability_pseudo_labels_rank_the_best_similarity():
    t = 20
    sim = torch.full((1, 4, t), -5.0)
    sim[0, 0, 3] = 9.0  # matches one second very well
    sim[0, 1, 10:14] = 6.0
    sim[0, 2] = -4.0  # matches nothing
    sim[0, 3, 10:14] = 9.0  # matches well, but a curator said "not alignable"
    batch = _batch_for(torch.zeros(1, 4, t, dtype=torch.bool))
    batch.human[0, 3], batch.align_label[0, 3] = True, 0.0
    labels = pseudo_labels(sim, sim, batch, TrainConfig())
    assert labels.align[0, 0] == 1.0 and labels.align[0, 2] == 0.0
    assert labels.align[0, 3] == 0.0  # the curator wins over the rank
    assert labels.selected[0, 3]  # curated sentences are always trained on


def test_alignability_pseudo_labels_need_the_branches_to_agree():
    t = 20
    joint = torch.full((1, 4, t), -5.0)
    joint[0, 0, 3] = 9.0  # the best match of the window ...
    joint[0, 1, 10:14] = 6.0
    joint[0, 2, 12] = 7.0
    dual = joint.clone()
    dual[0, 0, 15] = 9.5  # ... but the dual branch places it elsewhere
    batch = _batch_for(torch.zeros(1, 4, t, dtype=torch.bool))
    labels = pseudo_labels(joint, dual, batch, TrainConfig())
    assert torch.isnan(labels.align[0, 0])  # ranked first, yet not a confident "shown"
    assert labels.align[0, 2] == 1.0  # ranked high and placed alike by both branches
    assert labels.align[0, 3] == 0.0  # matches nothing


def test_alignability_pseudo_labels_rank_each_sentence_against_its_own_window():
    t = 20
    sim = torch.full((2, 4, t), -5.0)
    for k, value in enumerate((8.0, 7.9, 7.8, 7.0)):  # a window whose features match all well
        sim[0, k, 2 + k] = value
    for k, value in enumerate((6.0, 1.0, 0.5, 0.0)):  # one that stands out in a duller window
        sim[1, k, 2 + k] = value
    labels = pseudo_labels(sim, sim, _batch_for(torch.zeros(2, 4, t, dtype=torch.bool)),
                           TrainConfig())  # fmt: skip
    assert labels.align[1, 0] == 1.0  # below every sentence of window 0, first in its own
    assert labels.align[0, 3] == 0.0  # above every sentence of window 1, last in its own


def test_loss_decreases_on_a_tiny_set():
    items, _ = toy_items(6, seed=0)
    cfg = TrainConfig(stage1_epochs=6, stage2_epochs=1, batch_videos=3)
    result = train_items(items, SPEC, config=TINY, train_config=cfg, progress=False)
    stage1 = [h["loss"] for h in result.history if h["stage"] == 1]
    assert stage1[-1] < 0.85 * stage1[0]
    assert result.val_videos and not set(result.val_videos) & set(result.train_videos)


def test_training_is_deterministic_with_a_seed():
    items, _ = toy_items(5, seed=1)
    cfg = TrainConfig(stage1_epochs=1, stage2_epochs=1, batch_videos=3)
    a = train_items(items, SPEC, config=TINY, train_config=cfg, seed=7, progress=False)
    b = train_items(items, SPEC, config=TINY, train_config=cfg, seed=7, progress=False)
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), key
    c = train_items(items, SPEC, config=TINY, train_config=cfg, seed=8, progress=False)
    assert not torch.equal(a.model.pos_embed, c.model.pos_embed)


def _label(items, truth, chosen):
    """Curators label the chosen (video, sentence) pairs with the ground truth."""
    for v, k in chosen:
        alignable, start, end, _ = truth[items[v].video_id][k]
        items[v].label_alignable[k] = alignable
        if alignable:
            items[v].label_start[k], items[v].label_end[k] = start, end


@pytest.mark.slow
def test_curated_labels_move_those_sentences_toward_the_labels():
    items, truth = toy_items(12, seed=5, far_share=0.6)
    cfg = TrainConfig(stage1_epochs=6, stage2_epochs=2, val_fraction=0)
    before = train_items(items, SPEC, config=TINY, train_config=cfg, progress=False).model
    # label the alignable sentences said far from what they describe, and some chatter
    far = [(v, k) for v, it in enumerate(items) for k, row in enumerate(truth[it.video_id])
           if row[0] and abs(it.start[k] - row[1]) > 14][:8]  # fmt: skip
    chatter = [(v, k) for v, it in enumerate(items) for k, row in enumerate(truth[it.video_id])
               if not row[0]][:8]  # fmt: skip
    assert len(far) == 8 and len(chatter) == 8
    _label(items, truth, far + chatter)
    after = train_items(items, SPEC, config=TINY, train_config=cfg, progress=False).model

    def rows(model, v):
        it = items[v]
        return sentence_rows(predict_video(model, it.video, it.text, it.start, it.end))

    def distance(model):
        out = []
        for v, k in far:
            peak = rows(model, v)[k]["peak"]
            _, start, end, _ = truth[items[v].video_id][k]
            out.append(max(0.0, start - peak, peak - end))
        return float(np.mean(out))

    def chatter_score(model):
        return float(np.mean([rows(model, v)[k]["alignability"] for v, k in chatter]))

    assert distance(after) < 0.5 * distance(before)
    assert chatter_score(after) < chatter_score(before) - 0.03


def test_ema_moves_the_teacher_a_momentum_step_toward_the_student():
    from aligner.tan.cotraining import ema_update
    from aligner.tan.model import build_model

    torch.manual_seed(0)
    teacher, student = build_model(TINY, SPEC), build_model(TINY, SPEC)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    ema_update(teacher, student, 0.9)
    for (name, t), s in zip(teacher.named_parameters(), student.parameters(), strict=True):
        assert torch.allclose(t, 0.9 * before[name] + 0.1 * s, atol=1e-6), name
    assert not torch.equal(teacher.pos_embed, before["pos_embed"])


def test_a_stage_stops_when_the_held_out_error_stops_improving():
    items, _ = toy_items(8, seed=2)
    # lr = 0: the model never changes, so the held-out error never improves after epoch 0
    cfg = TrainConfig(stage1_epochs=10, stage2_epochs=10, lr=0.0, patience=2, min_batches=2,
                      min_epoch_share=0.0, val_fraction=0.25)  # fmt: skip
    result = train_items(items, SPEC, config=TINY, train_config=cfg, progress=False)
    for stage in (1, 2):
        epochs = [h for h in result.history if h["stage"] == stage]
        assert len(epochs) == 1 + cfg.patience < 10
    no_val = train_items(items, SPEC, config=TINY, progress=False,
                         train_config=TrainConfig(stage1_epochs=3, stage2_epochs=1, lr=0.0,
                                                  min_batches=2, val_fraction=0))  # fmt: skip
    assert len(no_val.history) == 4  # nothing held out: every epoch runs


def _r_at_1(model, items, truth) -> float:
    hits = []
    for it in items:
        rows = sentence_rows(predict_video(model, it.video, it.text, it.start, it.end))
        for row, (alignable, start, end, _) in zip(rows, truth[it.video_id], strict=True):
            if alignable:
                hits.append(np.floor(start) <= row["peak"] <= np.ceil(end))
    return float(np.mean(hits))


@pytest.mark.slow
def test_co_training_improves_on_stage_1_where_asr_is_far_off():
    """Half the sentences said 15-40 s away from what they name: the teacher's agreeing
    windows should move those targets, so the co-trained model aligns better than stage 1."""
    items, truth = toy_items(16, seed=11, far_share=0.5)
    cfg = TrainConfig(stage1_epochs=4, stage2_epochs=8, val_fraction=0)  # the defaults' split
    result = train_items(items, SPEC, config=TINY, train_config=cfg, progress=False)
    stage1 = copy.deepcopy(result.model)
    stage1.load_state_dict(result.stage1_state)
    before, after = _r_at_1(stage1.eval(), items, truth), _r_at_1(result.model, items, truth)
    assert after >= before + 0.02, (before, after)


def test_members_trained_in_parallel_processes_equal_those_trained_one_after_the_other(
    monkeypatch,
):
    from dataclasses import replace

    import aligner.tan.train as train_module
    from aligner.pipeline import torch_threads
    from aligner.tan.model import members_of

    items, _ = toy_items(6, seed=2)
    cfg = TrainConfig(stage1_epochs=1, stage2_epochs=1, batch_videos=3)
    two = replace(TINY, members=2)
    with torch_threads(1):  # as the workers train: one thread, so the sums add up alike
        serial = train_items(items, SPEC, config=two, train_config=cfg, seed=3, progress=False)

    def not_here(*args, **kwargs):
        raise AssertionError("a member was trained in the parent process")

    monkeypatch.setattr(train_module, "_train_one", not_here)  # spawned workers import afresh
    parallel = train_items(items, SPEC, config=two, train_config=cfg, seed=3, progress=False,
                           workers=2)  # fmt: skip
    for a, b in zip(members_of(serial.model), members_of(parallel.model), strict=True):
        assert a.state_dict().keys() == b.state_dict().keys()
        assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert all(torch.equal(v, parallel.stage1_state[k]) for k, v in serial.stage1_state.items())
    assert serial.history == parallel.history and serial.val_videos == parallel.val_videos


def test_ensemble_members_are_the_models_trained_alone_from_successive_seeds():
    from dataclasses import replace

    from aligner.tan.model import members_of

    items, _ = toy_items(6, seed=2)
    cfg = TrainConfig(stage1_epochs=1, stage2_epochs=1, batch_videos=3)
    ensemble = train_items(items, SPEC, config=replace(TINY, members=2), train_config=cfg,
                           seed=7, progress=False)  # fmt: skip
    alone = [train_items(items, SPEC, config=TINY, train_config=cfg, seed=s, progress=False)
             for s in (7, 8)]  # fmt: skip
    for member, single in zip(members_of(ensemble.model), alone, strict=True):
        for (name, a), b in zip(member.state_dict().items(), single.model.state_dict().values(),
                                strict=True):  # fmt: skip
            assert torch.equal(a, b), name
    assert {h["member"] for h in ensemble.history} == {0, 1}
    # both carry the sentence bank: every video's sentence vectors, held-out ones too
    every = np.concatenate([it.text for it in items]).astype(np.float16)
    np.testing.assert_array_equal(ensemble.model.sentence_bank, every)
    np.testing.assert_array_equal(alone[0].model.sentence_bank, every)
    _assert_look_bank_is_the_confident_peaks(ensemble.model, items)
    # the stage-1 snapshot is the members' stage-1 weights, loadable into the ensemble
    stage1 = copy.deepcopy(ensemble.model)
    stage1.load_state_dict(ensemble.stage1_state)
    first = members_of(stage1)[0].state_dict()
    assert all(torch.equal(first[k], v) for k, v in alone[0].stage1_state.items())


def _assert_look_bank_is_the_confident_peaks(model, items):
    """The look bank: per sentence at or above the median alignability of a bank-less
    prediction, its dual text embedding and the dual video embedding of its peak second."""
    from aligner.tan.infer import predict_video, sentence_rows
    from aligner.tan.look_bank import video_key

    bank, model.look_bank = model.look_bank, None
    model.eval()
    preds = [predict_video(model, it.video, it.text, it.start, it.end) for it in items]
    rows = [sentence_rows(p) for p in preds]
    median = np.median([r["alignability"] for rs in rows for r in rs])
    expected = {(video_key(it.video_id), k): (p.dual_text_emb[k], p.dual_video_emb[int(r["peak"])])
                for it, p, rs in zip(items, preds, rows, strict=True)
                for k, r in enumerate(rs) if r["alignability"] >= median}  # fmt: skip
    assert 0 < len(bank) == len(expected) < sum(len(rs) for rs in rows)
    for key, text, look in zip(bank.video, bank.text, bank.look, strict=True):
        same = [
            e for (v, _), e in expected.items() if v == key and np.allclose(e[0], text, atol=1e-3)
        ]
        np.testing.assert_allclose(look, same[0][1], atol=1e-3)
    model.look_bank = bank
