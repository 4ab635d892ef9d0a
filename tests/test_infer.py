"""Inference: the start/end rule, windows, predictions in the store."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aligner.errors import AlignerError
from aligner.tan.config import FeatureSpec, TANConfig
from aligner.tan.infer import (
    ALIGN_CENTRE,
    VideoPrediction,
    asr_prior,
    calibrated,
    peak_interval,
    predict_video,
    sentence_rows,
    window_plan,
)
from aligner.tan.model import build_model

SPEC = FeatureSpec(("toy",), (6,), "toy-text", 5)
TINY = TANConfig(width=16, joint_layers=1, dual_layers=1, heads=2, members=1)


def test_interval_is_the_contiguous_run_near_the_peak():
    row = np.array([0.0, 5.0, 9.6, 10.0, 9.4, 3.0, 9.9, 9.9])
    assert peak_interval(row) == (3, 2, 5)  # 9.6 and 9.4 are within ln 2 = 0.69; 6-7 are cut off
    assert peak_interval(np.array([1.0, 0.5, -3.0])) == (0, 0, 2)
    assert peak_interval(np.array([-9.0, -9.0, 4.0])) == (2, 2, 3)  # at least 1 s
    assert peak_interval(np.array([2.0, 2.0, 2.0])) == (0, 0, 3)


def test_window_plan_follows_tan_and_reaches_every_sentence():
    start = np.array([3.0, 150.0, 400.0])  # the last one is said after the video ends
    plan = window_plan(200, start, start + 4, window=64)
    assert [(t0, t1) for t0, t1, _ in plan][:3] == [(0, 64), (16, 80), (32, 96)]
    assert plan[-1][0] == 160 and plan[-1][1] == 200  # TAN: t0 < T - window / 2
    assert 0 in plan[0][2] and 1 not in plan[0][2]  # 150 s is more than 64 s away from 0-63
    assert set(np.concatenate([rows for *_, rows in plan]).tolist()) == {0, 1, 2}
    assert window_plan(20, start[:1], start[:1] + 2, window=64) == [(0, 20, plan[0][2][:1])]


def _model():
    torch.manual_seed(0)
    return build_model(TINY, SPEC).eval()


@pytest.mark.parametrize("mode", ["window", "global"])
def test_predict_video_shapes(mode):
    rng = np.random.default_rng(0)
    video = [rng.normal(size=(150, 6)).astype(np.float32)]
    text = rng.normal(size=(7, 5)).astype(np.float32)
    start = np.linspace(0, 140, 7)
    pred = predict_video(_model(), video, text, start, start + 3, mode=mode)
    assert pred.joint_sim.shape == pred.dual_sim.shape == (7, 150)
    assert (
        pred.alignability.shape == (7,)
        and ((pred.alignability > 0) & (pred.alignability < 1)).all()
    )
    rows = sentence_rows(pred)
    assert len(rows) == 7
    for row in rows:
        assert 0 <= row["start"] <= row["peak"] < row["end"] <= 150
        assert 0 <= row["dual_peak"] < 150


def test_windowed_cells_no_window_saw_are_marked_uncovered():
    rng = np.random.default_rng(1)
    video = [rng.normal(size=(300, 6)).astype(np.float32)]
    text = rng.normal(size=(2, 5)).astype(np.float32)
    start = np.array([5.0, 280.0])
    pred = predict_video(_model(), video, text, start, start + 2)
    assert np.all(pred.joint_sim[0, 200:] == -1 / TINY.temperature)  # 64 s margin + window
    assert np.all(pred.joint_sim[1, :100] == -1 / TINY.temperature)
    assert sentence_rows(pred)[0]["peak"] < 200 and sentence_rows(pred)[1]["peak"] > 100


def test_empty_inputs_and_bad_mode():
    video = [np.zeros((10, 6), np.float32)]
    pred = predict_video(_model(), video, np.zeros((0, 5), np.float32), np.zeros(0), np.zeros(0))
    assert pred.joint_sim.shape == (0, 10) and sentence_rows(pred) == []
    with pytest.raises(AlignerError, match="unknown inference mode"):
        predict_video(_model(), video, np.zeros((1, 5), np.float32), np.zeros(1), np.ones(1),
                      mode="fast")  # fmt: skip


def test_sentence_rows_use_the_fused_similarity_and_the_dual_branch():
    joint = np.array([[0.0, 1.0, 5.0, 0.0]], np.float32)
    dual = np.array([[6.0, 1.0, 2.0, 0.0]], np.float32)
    pred = VideoPrediction(joint, dual, np.array([0.9]), np.array([0.2]), np.array([1.5]))
    (row,) = sentence_rows(pred)
    assert row["peak"] == 2.0  # fused: (0+6)/2 = 3 < (5+2)/2 = 3.5
    assert row["dual_peak"] == 0.0
    assert 0 < row["alignability"] < 1 and 0 < row["dual_alignability"] < 1


def test_the_asr_prior_picks_the_occurrence_near_where_it_was_said():
    row = np.full(120, -3.0)
    row[18:23] = 8.0  # the thing is shown twice, looking the same both times
    row[78:83] = 8.0
    prior = asr_prior(120, np.array([75.0, 24.0]))
    assert peak_interval(row, prior=prior[0])[0] in range(78, 83)
    assert peak_interval(row, prior=prior[1])[0] in range(18, 23)
    # much better evidence far away still wins over a poor match near the ASR time
    row[100] = 14.0
    assert peak_interval(row, prior=prior[0])[0] == 100
    assert prior[0, 75] > prior[0, 50] > prior[0, 0]


def test_two_sentences_about_a_thing_shown_twice_take_one_showing_each(monkeypatch):
    from aligner.tan import infer

    row = np.full(90, -3.0)
    row[8:13] = 8.0  # shown twice, looking the same both times
    row[58:63] = 8.0
    sim = np.stack([row, row]).astype(np.float32)
    # said at 11 s (right at the first showing) and at 32 s: nearer the first (21 s) than the
    # second (28 s), so on its own the prior sends both to the first showing
    pred = VideoPrediction(
        sim, sim.copy(), np.full(2, 0.5), np.full(2, 0.5), np.array([11.0, 32.0])
    )
    peaks = [r["peak"] for r in sentence_rows(pred)]
    assert peaks[0] in range(8, 13) and peaks[1] in range(58, 63)
    assert [r["dual_peak"] for r in sentence_rows(pred)] == peaks
    monkeypatch.setattr(infer, "EXCLUSION_WEIGHT", 0.0)
    assert all(r["peak"] in range(8, 13) for r in sentence_rows(pred))
    # a single sentence has nothing to compete with: its own best second plus the prior
    one = VideoPrediction(sim[:1], sim[:1], np.full(1, 0.5), np.full(1, 0.5), np.array([32.0]))
    monkeypatch.setattr(infer, "EXCLUSION_WEIGHT", 1.0)
    assert sentence_rows(one)[0]["peak"] in range(8, 13)


def test_alignability_is_a_monotone_calibrated_probability():
    matches = np.full((3, 50), -2.0, np.float32)
    matches[0, 10] = 10.0  # a sentence with a clear match
    matches[1, 30] = 4.0
    pred = VideoPrediction(matches, matches.copy(), np.zeros(3), np.zeros(3), np.full(3, 25.0))
    p = pred.alignability
    assert p[0] > p[1] > p[2] and ((p > 0) & (p < 1)).all()
    assert calibrated(np.array([ALIGN_CENTRE]))[0] == pytest.approx(0.5)


def test_alignability_leaves_named_things_to_the_picture_and_ignores_where_they_were_said():
    tau = 0.07
    sim = np.full((3, 60), -0.2 / tau, np.float32)  # cosine units / tau, like the model's
    sim[0, 10], sim[1, 40], sim[2, 20] = 0.50 / tau, 0.55 / tau, 0.60 / tau
    # the sentence head is sure of the first, nearly sure of the second, sure the third (a
    # "subscribe") is never shown: a log probability lets a confident head pull the third down
    # but does not let 0.999 vs 0.95 outvote the picture between the first two
    head = np.array([0.999, 0.95, 0.01])
    pred = VideoPrediction(sim, sim.copy(), np.full(3, 0.5), head, np.array([10.0, 40.0, 20.0]))
    p = pred.alignability
    assert p[1] > p[0] > p[2]
    assert pred.dual_alignability[1] > pred.dual_alignability[0] > pred.dual_alignability[2]
    # where the narration was said moves the peak, never whether the thing is there
    moved = VideoPrediction(sim, sim.copy(), np.full(3, 0.5), head, np.array([50.0, 5.0, 55.0]))
    assert np.array_equal(moved.alignability, p)
    assert [r["peak"] for r in sentence_rows(moved)] == [10.0, 40.0, 20.0]


def test_laff_weights_name_each_backbone_and_sum_to_one():
    from aligner.tan.infer import laff_weights

    spec = FeatureSpec(("builtin", "clip"), (12, 6), "toy-text", 8)
    model = build_model(
        TANConfig(width=16, joint_layers=1, dual_layers=1, heads=2, members=1), spec
    ).eval()
    rng = np.random.default_rng(0)
    video = [
        rng.normal(size=(30, 12)).astype("float32"),
        rng.normal(size=(30, 6)).astype("float32"),
    ]
    weights = laff_weights(model, video)
    assert list(weights) == ["builtin", "clip"]
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-3)
    assert all(0.0 < w < 1.0 for w in weights.values())


def test_the_sentence_head_is_averaged_over_the_nearest_bank_sentences(monkeypatch):
    from aligner.tan import sentence_bank

    model, rng = _model(), np.random.default_rng(0)
    bank = rng.normal(size=(30, 5)).astype(np.float16).astype(np.float32)
    text = np.concatenate([bank[:2] + 0.05 * rng.normal(size=(2, 5)), rng.normal(size=(1, 5))])
    text = text.astype(np.float32)
    video, start = [rng.normal(size=(40, 6)).astype(np.float32)], np.array([2.0, 15.0, 30.0])
    plain = predict_video(model, video, text, start, start + 3)
    model.sentence_bank = bank.astype(np.float16)
    pooled = predict_video(model, video, text, start, start + 3)
    with torch.no_grad():  # by hand: the bank's logits, each sentence's 20 nearest by cosine
        logits = model.sentence_logit(torch.from_numpy(bank)).numpy()
    unit = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    cosine = text @ unit.T / np.linalg.norm(text, axis=1, keepdims=True)
    nearest = np.argsort(-cosine, axis=1)[:, : sentence_bank.NEIGHBOURS]
    np.testing.assert_allclose(pooled.dual_head, 1 / (1 + np.exp(-logits[nearest].mean(1))),
                               rtol=1e-5)  # fmt: skip
    assert not np.allclose(plain.dual_head, pooled.dual_head)
    np.testing.assert_array_equal(pooled.sim, plain.sim)  # only the sentence head changes
    np.testing.assert_array_equal(pooled.head, plain.head)
    # with one neighbour a bank sentence keeps the head's own answer (the forward pass's)
    monkeypatch.setattr(sentence_bank, "NEIGHBOURS", 1)
    own = predict_video(model, video, bank[:3], start, start + 3)
    model.sentence_bank = None
    np.testing.assert_allclose(own.dual_head, predict_video(model, video, bank[:3], start,
                                                            start + 3).dual_head, rtol=1e-5)  # fmt: skip


def test_a_bank_beyond_its_size_is_an_ordered_uniform_sample_of_the_stream(monkeypatch):
    from aligner.tan import sentence_bank

    monkeypatch.setattr(sentence_bank, "BANK_SIZE", 10)
    rng = np.random.default_rng(0)
    videos = [rng.normal(size=(int(k), 4)).astype(np.float16).astype(np.float32)
              for k in rng.integers(0, 7, size=12)]  # fmt: skip
    every = np.concatenate(videos)
    assert len(every) > 10
    small = sentence_bank.sample_bank(videos[:2], seed=1)  # fewer than the size: all, in order
    np.testing.assert_array_equal(small, np.concatenate(videos[:2]).astype(np.float16))
    bank = sentence_bank.sample_bank(iter(videos), seed=1)  # a stream, read once
    rows = [int(np.flatnonzero((every == b).all(1))[0]) for b in bank.astype(np.float32)]
    assert len(bank) == 10 and rows == sorted(set(rows))  # distinct rows, in stream order
    np.testing.assert_array_equal(sentence_bank.sample_bank(videos, seed=1), bank)
    picks = {tuple(sorted(map(tuple, sentence_bank.sample_bank(videos, seed=s).tolist())))
             for s in range(20)}  # fmt: skip
    assert len(picks) > 10  # the seed picks the sample; every row can be picked
    chosen = {tuple(r) for s in range(200) for r in sentence_bank.sample_bank(videos, s).tolist()}
    assert len(chosen) == len(every)


def test_the_look_bank_adds_what_other_videos_neighbours_were_seen_as(monkeypatch):
    from aligner.tan import look_bank
    from aligner.tan.look_bank import LookBank, video_key

    model, rng = _model(), np.random.default_rng(1)
    video = [rng.normal(size=(40, 6)).astype(np.float32)]
    text = rng.normal(size=(2, 5)).astype(np.float32)
    start = np.array([3.0, 20.0])
    plain = predict_video(model, video, text, start, start + 3, video_id="v")
    emb_t, emb_v = plain.dual_text_emb, plain.dual_video_emb
    assert emb_v.shape[0] == 40 and emb_t.shape[0] == 2 and plain.look is None
    # sentence 0's nearest row comes from this very video (a decoy that saw second 5); the
    # next nearest, from another video, saw second 30
    near = emb_t[0] + 0.05 * rng.normal(size=emb_t.shape[1])
    rows = np.stack([emb_t[0], near / np.linalg.norm(near)])
    bank = LookBank(rows.astype(np.float16), emb_v[[5, 30]].astype(np.float16),
                    np.array([video_key("v"), video_key("w")]))  # fmt: skip
    monkeypatch.setattr(look_bank, "NEIGHBOURS", 1)
    model.look_bank = bank
    moved = predict_video(model, video, text, start, start + 3, video_id="v")
    look = emb_v @ emb_v[30].astype(np.float16).astype(np.float32) / model.cfg.temperature
    expected = look_bank.WEIGHT * (look - look.mean())
    np.testing.assert_allclose(moved.look[0], expected, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(moved.sim, plain.sim + moved.look, rtol=1e-6)
    np.testing.assert_array_equal(moved.joint_sim, plain.joint_sim)  # the branches are as before
    assert int(np.argmax(moved.look[0])) == 30
    unknown = predict_video(model, video, text, start, start + 3)  # no id: the decoy counts
    assert int(np.argmax(unknown.look[0])) == 5
    # a strong enough look takes the peak there, against the ASR prior (said at 3-6 s)
    monkeypatch.setattr(look_bank, "WEIGHT", 50.0)
    strong = predict_video(model, video, text, start, start + 3, video_id="v")
    assert sentence_rows(strong)[0]["peak"] == 30 != sentence_rows(plain)[0]["peak"]
    model.look_bank = LookBank(rows[:1].astype(np.float16), emb_v[[5]].astype(np.float16),
                               np.array([video_key("v")]))  # only its own video's: nothing  # fmt: skip
    alone = predict_video(model, video, text, start, start + 3, video_id="v")
    np.testing.assert_allclose(alone.sim, plain.sim, rtol=1e-6)


def test_the_look_banks_kinship_and_presence_are_what_other_videos_confidently_showed(
    monkeypatch,
):
    from aligner.tan import infer, look_bank
    from aligner.tan.look_bank import LookBank, video_key

    monkeypatch.setattr(look_bank, "NEIGHBOURS", 2)
    unit = np.eye(4, dtype=np.float32)
    # bank rows (text = look here): two of video "w" like sentence 0 ("the whisk"), one of its
    # own video "v" that is exactly sentence 1 (left out: its own rows would only confirm it)
    rows = np.stack([unit[0], (unit[0] + unit[1]) / np.sqrt(2), unit[1]])
    bank = LookBank(rows.astype(np.float16), rows.astype(np.float16),
                    np.array([video_key("w"), video_key("w"), video_key("v")]))  # fmt: skip
    text = np.stack([unit[0], unit[1]])
    video = np.stack([unit[2], unit[0], unit[3]])  # the whisk's look is in view at second 1
    seen = look_bank.evidence(bank, text, video, video_key("v"), 0.07)
    np.testing.assert_allclose(seen.kinship, [(1 + 0.5**0.5) / 2, (0 + 0.5**0.5) / 2], atol=1e-3)
    # both sentences' neighbours are the two "w" rows: their mean look points between unit 0
    # and unit 1, and second 1 (unit 0) is that direction's best match in this video
    assert int(np.argmax(seen.look[0])) == 1
    as_w = look_bank.evidence(bank, text, video, video_key("w"), 0.07)
    assert as_w.kinship[1] == pytest.approx(1.0, abs=1e-3)  # now "v"'s row counts
    only_own = LookBank(rows[2:].astype(np.float16), rows[2:].astype(np.float16),
                        np.array([video_key("v")]))  # fmt: skip
    assert look_bank.evidence(only_own, text, video, video_key("v"), 0.07) is None
    # presence: other videos confidently showed whisks (unit 0) and bowls (unit 1); this video
    # shows bowls only, the last second something unlike either. "The whisk" is named but
    # never shown: the bowl sentences claim every second. Chit-chat (unit 3) has no kind.
    kinds = np.stack([unit[0], unit[0], unit[1], unit[1], unit[1]])
    folder = LookBank(kinds.astype(np.float16), kinds.astype(np.float16),
                      np.array([video_key(x) for x in "wwwxv"]))  # fmt: skip
    bowls = np.stack([unit[1], unit[1], (unit[1] + unit[2]) / np.sqrt(2)])
    said = np.stack([unit[0], unit[1], unit[3]])
    presence = look_bank.evidence(folder, said, bowls, video_key("v"), 0.07).presence
    np.testing.assert_allclose(presence, [0.0, 1.0, 0.0], atol=1e-3)
    monkeypatch.setattr(look_bank, "PRESENCE_CHUNK", 2)  # seconds taken a chunk at a time
    chunked = look_bank.evidence(folder, said, bowls, video_key("v"), 0.07).presence
    np.testing.assert_allclose(chunked, presence, rtol=1e-6)
    # where no confident kind matches a second better than another, it is shared among them
    blank = look_bank.evidence(folder, said, np.stack([unit[2]]), video_key("v"), 0.07)
    np.testing.assert_allclose(blank.presence, [0.5, 0.5, 0.0], atol=1e-3)
    # two sentences the picture and the head cannot tell apart: the one like what other videos
    # showed, whose look is in view, is the more alignable, by the weights x the differences
    sim = np.tile(np.linspace(-3, 6, 30, dtype=np.float32), (2, 1))
    pred = VideoPrediction(sim, sim.copy(), np.full(2, 0.5), np.full(2, 0.9), np.full(2, 9.0))
    pred.kinship, pred.presence = seen.kinship, np.array([0.8, 0.2])
    raw = pred.raw_alignability
    assert pred.alignability[0] > pred.alignability[1]
    kin = infer.KINSHIP_WEIGHT * (seen.kinship[0] - seen.kinship[1])
    assert raw[0] - raw[1] == pytest.approx(kin + infer.PRESENCE_WEIGHT * (0.8 - 0.2))


def test_predict_video_scores_the_look_banks_evidence(monkeypatch):
    from aligner.tan import infer, look_bank
    from aligner.tan.infer import alignability_score
    from aligner.tan.look_bank import LookBank, video_key

    monkeypatch.setattr(infer, "KINSHIP_WEIGHT", 0.5)
    monkeypatch.setattr(infer, "PRESENCE_WEIGHT", 0.25)
    monkeypatch.setattr(look_bank, "NEIGHBOURS", 1)
    model, rng = _model(), np.random.default_rng(2)
    video = [rng.normal(size=(30, 6)).astype(np.float32)]
    text, start = rng.normal(size=(3, 5)).astype(np.float32), np.array([2.0, 10.0, 20.0])
    plain = predict_video(model, video, text, start, start + 3, video_id="v")
    assert plain.kinship is None and plain.presence is None
    emb, seconds = plain.dual_text_emb, plain.dual_video_emb
    # each sentence's own text is a bank row (of another video) that saw second 1, 2 or 3
    model.look_bank = LookBank(emb.astype(np.float16), seconds[[1, 2, 3]].astype(np.float16),
                               np.full(3, video_key("w")))  # fmt: skip
    pred = predict_video(model, video, text, start, start + 3, video_id="v")
    np.testing.assert_allclose(pred.kinship, 1.0, atol=2e-3)  # each its own nearest row
    # a share of the softmax over the 3 rows; each sentence is of its own row's kind
    assert ((pred.presence > 0) & (pred.presence < 1 + 1e-6)).all()
    without = alignability_score(pred.sim, pred.temperature, pred.dual_head)
    np.testing.assert_allclose(pred.raw_alignability - without,
                               0.5 * pred.kinship + 0.25 * pred.presence, rtol=1e-6)  # fmt: skip
