"""The ×8 geometric self-ensemble and the stochastic-ensemble statistics."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from denoise_studio.core.ensemble import (
    TRANSFORMS,
    RunningMoments,
    apply_transform,
    invert_transform,
    self_ensemble_x8,
    stochastic_ensemble,
    uncertainty_map,
)


def test_eight_distinct_transforms_that_invert() -> None:
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    outs = set()
    for i in range(len(TRANSFORMS)):
        t = apply_transform(x, i)
        outs.add(tuple(t.flatten().tolist()) + tuple(t.shape))
        assert torch.equal(invert_transform(t, i), x)
    assert len(outs) == 8
    assert torch.equal(apply_transform(x, 0), x)


def _symmetric_conv(x: torch.Tensor) -> torch.Tensor:
    """A convolution whose kernel is invariant under the 8 transforms: equivariant to them."""
    k = torch.tensor([[1.0, 2.0, 1.0], [2.0, -3.0, 2.0], [1.0, 2.0, 1.0]]) / 9.0
    c = x.shape[1]
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), k.expand(c, 1, 3, 3).contiguous(), groups=c)


def test_x8_is_exact_for_an_equivariant_network() -> None:
    x = torch.rand(1, 3, 12, 17, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(self_ensemble_x8(_symmetric_conv, x), _symmetric_conv(x), rtol=0, atol=1e-6)


def test_x8_changes_a_non_equivariant_network() -> None:
    x = torch.rand(1, 1, 10, 10, generator=torch.Generator().manual_seed(1))

    def shift_right(t: torch.Tensor) -> torch.Tensor:
        return torch.roll(t, 1, dims=-1)

    averaged = self_ensemble_x8(shift_right, x)
    assert not torch.allclose(averaged, shift_right(x))
    # Shifts in the four directions average out to the mean of the 4 neighbours.
    expected = (torch.roll(x, 1, -1) + torch.roll(x, -1, -1) + torch.roll(x, 1, -2) + torch.roll(x, -1, -2)) / 4
    torch.testing.assert_close(averaged, expected)


def test_running_moments_match_numpy(rng: np.random.Generator) -> None:
    samples = rng.normal(size=(7, 2, 3)).astype(np.float32)
    m = RunningMoments()
    for s in samples:
        m.add(torch.from_numpy(s))
    np.testing.assert_allclose(m.mean.numpy(), samples.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.std().numpy(), samples.std(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(m.std(unbiased=True).numpy(), samples.std(0, ddof=1), rtol=1e-4, atol=1e-6)


def test_stochastic_ensemble_is_seeded_and_measures_spread() -> None:
    x = torch.zeros(1, 1, 32, 32)

    def noisy_pass(t: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        return t + 0.5 * torch.randn(t.shape, generator=g)

    mean1, std1 = stochastic_ensemble(noisy_pass, x, 64, torch.Generator().manual_seed(3))
    mean2, std2 = stochastic_ensemble(noisy_pass, x, 64, torch.Generator().manual_seed(3))
    assert torch.equal(mean1, mean2) and torch.equal(std1, std2)
    # The per-pixel spread estimates the pass noise (0.5); the mean shrinks it by √64.
    assert abs(float(std1.mean()) - 0.5) < 0.03
    assert abs(float(mean1.std()) - 0.5 / 8) < 0.01
    assert uncertainty_map(std1).shape == (32, 32)
