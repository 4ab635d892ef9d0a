"""LAFF fusion: shapes, weights, and that it learns whom to listen to."""

from __future__ import annotations

import pytest
import torch

from aligner.features.fusion import LAFF


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
