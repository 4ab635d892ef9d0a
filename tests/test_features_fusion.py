"""LAFF fusion: shapes, weights, multi-head similarity, and that it learns whom to listen to."""

from __future__ import annotations

import pytest
import torch

from aligner.features.fusion import LAFF, MultiHeadLAFF, multi_head_similarity, named_weights


def test_shapes_and_weights_per_second():
    laff = LAFF([594, 512, 1024], 64)
    video = [torch.randn(2, 30, d) for d in (594, 512, 1024)]  # (B, T, D_i)
    fused, weights = laff.fuse(video)
    assert fused.shape == (2, 30, 64) and weights.shape == (2, 30, 3)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 30))
    assert torch.allclose(laff(video), fused)
    with pytest.raises(ValueError, match="expected 3 feature sets"):
        laff(video[:2])


def test_single_feature_set_gets_all_the_weight():
    laff = LAFF([16], 8)
    assert torch.allclose(laff.weights([torch.randn(5, 16)]), torch.ones(5, 1))


def test_multi_head_similarity():
    video_side = MultiHeadLAFF([32, 48], 16, heads=4)
    text_side = MultiHeadLAFF([384, 16], 16, heads=4)
    v = video_side([torch.randn(7, 32), torch.randn(7, 48)])  # (T, h, d)
    t = text_side([torch.randn(3, 384), torch.randn(3, 16)])  # (K, h, d)
    assert v.shape == (7, 4, 16) and t.shape == (3, 4, 16)
    sim = multi_head_similarity(t, v)
    assert sim.shape == (3, 7) and sim.abs().max() <= 1 + 1e-5
    # the mean over heads of the per-head cosines
    cos = torch.nn.functional.cosine_similarity
    expected = torch.stack([cos(t[1, h], v[4, h], dim=0) for h in range(4)]).mean()
    assert torch.isclose(sim[1, 4], expected, atol=1e-6)
    weights = video_side.mean_weights([torch.randn(7, 32), torch.randn(7, 48)])
    assert weights.shape == (7, 2)
    shown = named_weights(video_side.weights([torch.randn(7, 32), torch.randn(7, 48)]),
                          ["builtin", "clip"])  # fmt: skip
    assert set(shown) == {"builtin", "clip"} and len(shown["clip"]) == 7


@pytest.fixture
def one_thread():
    """Tiny matrices: threads only add synchronisation (slow on a busy shared machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_learns_to_weight_the_informative_backbone(one_thread):
    """Set 0 carries the class, set 1 is noise: training moves the weight onto set 0."""
    torch.manual_seed(0)
    n, classes = 256, 4
    labels = torch.randint(0, classes, (n,))
    informative = torch.nn.functional.one_hot(labels, classes).float() + 0.1 * torch.randn(n, 4)
    noise = torch.randn(n, 32)
    laff = LAFF([4, 32], 16)
    head = torch.nn.Linear(16, classes)
    before = laff.weights([informative, noise]).mean(0)[0].item()
    opt = torch.optim.Adam([*laff.parameters(), *head.parameters()], lr=3e-2)
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(head(laff([informative, noise])), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = laff.weights([informative, noise]).mean(0)[0].item()
    assert after > max(0.7, before + 0.15), (before, after)
