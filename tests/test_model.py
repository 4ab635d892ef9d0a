"""TAN model: shapes, padding masks, presets, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aligner.errors import AlignerError
from aligner.tan.checkpoints import load_checkpoint, read_stamp, save_checkpoint
from aligner.tan.config import FeatureSpec, TANConfig
from aligner.tan.model import build_model

SPEC = FeatureSpec(("toy",), (12,), "toy-text", 8)
TINY = TANConfig(width=32, joint_layers=1, dual_layers=1, heads=2, members=1)


def _inputs(lengths: list[int], counts: list[int], spec: FeatureSpec = SPEC, seed: int = 0):
    """A padded batch of random videos with `lengths` seconds and `counts` sentences."""
    g = torch.Generator().manual_seed(seed)
    b, t, k = len(lengths), max(lengths), max(counts)
    video = [torch.randn(b, t, d, generator=g) for d in spec.visual_dims]
    text = torch.randn(b, k, spec.text_dim, generator=g)
    video_pad = torch.arange(t)[None] >= torch.tensor(lengths)[:, None]
    text_pad = torch.arange(k)[None] >= torch.tensor(counts)[:, None]
    return video, text, video_pad, text_pad


def test_output_shapes_and_unit_norm():
    torch.manual_seed(0)
    model = build_model(TINY, SPEC).eval()
    video, text, vpad, tpad = _inputs([20, 13], [5, 3])
    out = model(video, text, vpad, tpad)
    assert out.joint_video.shape == (2, 20, 32) and out.dual_video.shape == (2, 20, 32)
    assert out.joint_text.shape == (2, 5, 32) and out.dual_text.shape == (2, 5, 32)
    assert out.align_logit.shape == (2, 5) and out.dual_align_logit.shape == (2, 5)
    sim = model.similarity(out.joint_video, out.joint_text)
    assert sim.shape == (2, 5, 20)
    assert torch.allclose(out.joint_video.norm(dim=-1), torch.ones(2, 20), atol=1e-5)
    assert sim.abs().max() <= 1 / TINY.temperature + 1e-4


def test_padding_does_not_change_real_tokens():
    """A short video with few sentences gives the same outputs alone and padded in a batch."""
    torch.manual_seed(0)
    model = build_model(TINY, SPEC).eval()
    video, text, vpad, tpad = _inputs([20, 13], [5, 3])
    batched = model(video, text, vpad, tpad)
    alone = model([v[1:, :13] for v in video], text[1:, :3], vpad[1:, :13], tpad[1:, :3])
    for name in ("joint_video", "dual_video"):
        assert torch.allclose(getattr(batched, name)[1, :13], getattr(alone, name)[0], atol=1e-5)
    assert torch.allclose(batched.joint_text[1, :3], alone.joint_text[0], atol=1e-5)
    assert torch.allclose(batched.align_logit[1, :3], alone.align_logit[0], atol=1e-5)


def test_joint_text_depends_on_the_video_but_dual_text_does_not():
    torch.manual_seed(0)
    model = build_model(TINY, SPEC).eval()
    video, text, vpad, tpad = _inputs([16], [4])
    other = [v.flip(1) for v in video]
    a, b = model(video, text, vpad, tpad), model(other, text, vpad, tpad)
    assert not torch.allclose(a.joint_text, b.joint_text, atol=1e-4)
    assert torch.allclose(a.dual_text, b.dual_text)


def test_global_positions_interpolate_beyond_the_window():
    torch.manual_seed(0)
    model = build_model(TINY, SPEC).eval()
    assert model.positions(300, interpolate_from=64).shape == (300, 32)
    with pytest.raises(AlignerError, match="positions"):
        model.positions(TINY.max_positions + 1)


def test_presets_are_data():
    paper = TANConfig.preset("paper")
    assert (paper.width, paper.joint_layers, paper.dual_layers) == (512, 6, 6)
    assert TANConfig.preset("small") == TANConfig()
    assert TANConfig.preset("paper", dropout=0.0).dropout == 0.0
    with pytest.raises(AlignerError, match="unknown model preset"):
        TANConfig.preset("huge")


def test_several_visual_backbones_are_fused_with_laff():
    spec = FeatureSpec(("a", "b"), (12, 7), "toy-text", 8)
    torch.manual_seed(0)
    model = build_model(TINY, spec).eval()
    video, text, vpad, tpad = _inputs([10, 6], [2, 2], spec)
    out = model(video, text, vpad, tpad)
    assert out.joint_video.shape == (2, 10, 32)
    assert type(model.video_in).__name__ == "LAFF"


def test_checkpoint_round_trips_exactly(tmp_path):
    torch.manual_seed(0)
    model = build_model(TINY, SPEC).eval()
    path = save_checkpoint(model, tmp_path / "ckpt" / "tan.pt", extra={"stage": 2})
    loaded, payload = load_checkpoint(path, expect=SPEC)
    assert payload["stage"] == 2 and loaded.cfg == TINY and loaded.spec == SPEC
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    inputs = _inputs([9], [3])
    assert torch.equal(model(*inputs).joint_video, loaded(*inputs).joint_video)
    raw = torch.load(path, weights_only=True)
    assert raw["features"] == {"visual": ["toy"], "visual_dims": [12], "text": "toy-text",
                               "text_dim": 8}  # fmt: skip
    assert raw["config"]["width"] == 32


def test_loading_with_other_features_is_a_clear_error(tmp_path):
    path = save_checkpoint(build_model(TINY, SPEC), tmp_path / "tan.pt")
    other = FeatureSpec(("clip",), (512,), "toy-text", 8)
    with pytest.raises(AlignerError, match=r"tan\.pt: trained on features visual=toy\(12\)"):
        load_checkpoint(path, expect=other)


def test_missing_or_corrupt_checkpoint_names_the_file(tmp_path):
    with pytest.raises(AlignerError, match="missing.pt: checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(AlignerError, match="bad.pt: not a TAN checkpoint"):
        load_checkpoint(bad)


def test_the_inputs_stamp_is_read_without_the_weights(tmp_path):
    path = save_checkpoint(build_model(TINY, SPEC), tmp_path / "tan.pt",
                           extra={"inputs_key": "abc123", "run_id": "train-1"})  # fmt: skip
    stamp = read_stamp(path)
    assert (stamp["inputs_key"], stamp["run_id"]) == ("abc123", "train-1")
    assert "state_dict" not in stamp and stamp["features"]["visual"] == ["toy"]
    assert read_stamp(tmp_path / "missing.pt") is None
    path.write_bytes(path.read_bytes()[:100])  # truncated: no stamp, so training runs again
    assert read_stamp(path) is None


def test_an_ensemble_answers_with_the_mean_of_its_members():
    from dataclasses import replace

    from aligner.tan.model import TANEnsemble, members_of

    torch.manual_seed(0)
    ensemble = build_model(replace(TINY, members=3), SPEC).eval()
    assert isinstance(ensemble, TANEnsemble) and len(members_of(ensemble)) == 3
    batch = _inputs([20, 13], [5, 3])
    with torch.no_grad():
        out = ensemble(*batch)
        singles = [m(*batch) for m in members_of(ensemble)]
        sims = [m.similarities(o) for m, o in zip(members_of(ensemble), singles, strict=True)]
        joint, dual = ensemble.similarities(out)
    assert out.joint_video.shape == (2, 20, 3 * 32)
    assert torch.allclose(out.joint_text.norm(dim=-1), torch.ones(2, 5), atol=1e-5)
    assert torch.allclose(joint, torch.stack([s[0] for s in sims]).mean(0), atol=1e-4)
    assert torch.allclose(dual, torch.stack([s[1] for s in sims]).mean(0), atol=1e-4)
    mean_logit = torch.stack([o.align_logit for o in singles]).mean(0)
    assert torch.allclose(out.align_logit, mean_logit, atol=1e-6)
    # members differ (each its own initialisation), so the mean is not any one of them
    assert not torch.allclose(sims[0][0], sims[1][0], atol=1e-3)


def test_an_ensemble_checkpoint_round_trips_and_old_single_checkpoints_still_load(tmp_path):
    from dataclasses import asdict, replace

    from aligner.tan.model import TAN, TANEnsemble

    torch.manual_seed(0)
    ensemble = build_model(replace(TINY, members=2), SPEC).eval()
    loaded, payload = load_checkpoint(save_checkpoint(ensemble, tmp_path / "ens.pt"))
    assert isinstance(loaded, TANEnsemble) and payload["config"]["members"] == 2
    batch = _inputs([9], [2])
    with torch.no_grad():
        assert torch.equal(ensemble.similarities(ensemble(*batch))[0],
                           loaded.similarities(loaded(*batch))[0])  # fmt: skip
    # a checkpoint written before ensembles existed has no "members" in its config
    single = build_model(TINY, SPEC).eval()
    path = save_checkpoint(single, tmp_path / "old.pt")
    old = torch.load(path, weights_only=True)
    old["config"] = {k: v for k, v in asdict(TINY).items() if k != "members"}
    torch.save(old, path)
    assert type(load_checkpoint(path)[0]) is TAN


def test_the_sentence_bank_travels_with_the_checkpoint_but_not_its_stamp(tmp_path):
    torch.manual_seed(0)
    model = build_model(TINY, SPEC).eval()
    assert load_checkpoint(save_checkpoint(model, tmp_path / "none.pt"))[0].sentence_bank is None
    model.sentence_bank = np.random.default_rng(0).normal(size=(7, 8)).astype(np.float16)
    path = save_checkpoint(model, tmp_path / "bank.pt")
    np.testing.assert_array_equal(load_checkpoint(path)[0].sentence_bank, model.sentence_bank)
    assert "sentence_bank" not in read_stamp(path)  # stamps are small and JSON-like


def test_the_look_bank_travels_with_the_checkpoint_and_other_weights_drop_it(tmp_path):
    from aligner.tan.look_bank import LookBank, video_key

    torch.manual_seed(0)
    model = build_model(TINY, SPEC).eval()
    assert load_checkpoint(save_checkpoint(model, tmp_path / "none.pt"))[0].look_bank is None
    rng = np.random.default_rng(0)
    model.look_bank = LookBank(rng.normal(size=(3, 8)).astype(np.float16),
                               rng.normal(size=(3, 8)).astype(np.float16),
                               np.array([video_key(v) for v in "abc"]))  # fmt: skip
    path = save_checkpoint(model, tmp_path / "look.pt")
    loaded = load_checkpoint(path)[0].look_bank
    for name, array in model.look_bank.to_arrays().items():
        np.testing.assert_array_equal(getattr(loaded, name), array)
    assert "look_bank" not in read_stamp(path)
    # the bank holds this model's own embeddings: loading other weights (a stage-1 twin) drops it
    model.load_state_dict(build_model(TINY, SPEC).state_dict())
    assert model.look_bank is None
