"""The orthonormal Haar transform: known answers, orthogonality, energy, exact inverse."""

from __future__ import annotations

import pytest
import torch

from denoise_studio.methods._common.haar import (
    HaarDownsampling,
    haar_forward,
    haar_inverse,
    haar_matrix,
    low_band_as_image,
)


def test_matrix_is_orthogonal_and_symmetric() -> None:
    m = haar_matrix()
    torch.testing.assert_close(m @ m.T, torch.eye(4, dtype=m.dtype))
    torch.testing.assert_close(m, m.T)


def test_transform_matrix_is_orthogonal() -> None:
    # The full linear map on a 2-channel 4×6 image, column by column from the basis images.
    shape = (1, 2, 4, 6)
    n = 2 * 4 * 6
    basis = torch.eye(n, dtype=torch.float64).reshape(n, *shape[1:])
    w = haar_forward(basis).reshape(n, n).T  # column j = transform of basis image j
    torch.testing.assert_close(w.T @ w, torch.eye(n, dtype=torch.float64))
    assert abs(abs(torch.linalg.det(w).item()) - 1.0) < 1e-12


def test_energy_preserved_and_exact_inverse(rng) -> None:
    x = torch.from_numpy(rng.normal(size=(3, 3, 10, 14)))
    y = haar_forward(x)
    assert y.shape == (3, 12, 5, 7)
    assert torch.allclose(y.square().sum(), x.square().sum(), rtol=1e-12)
    torch.testing.assert_close(haar_inverse(y), x, rtol=0, atol=1e-12)
    x32 = x.float()
    assert (haar_inverse(haar_forward(x32)) - x32).abs().max() < 1e-6


def test_known_answers() -> None:
    const = torch.full((1, 1, 2, 2), 0.3, dtype=torch.float64)
    torch.testing.assert_close(haar_forward(const).flatten(), torch.tensor([0.6, 0, 0, 0], dtype=torch.float64))
    # Columns alternate: only the horizontal-detail band (LH) responds.
    cols = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]], dtype=torch.float64)
    torch.testing.assert_close(haar_forward(cols).flatten(), torch.tensor([1.0, 1.0, 0, 0], dtype=torch.float64))
    # Rows alternate: only the vertical-detail band (HL).
    rows = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]], dtype=torch.float64)
    torch.testing.assert_close(haar_forward(rows).flatten(), torch.tensor([1.0, 0, 1.0, 0], dtype=torch.float64))
    checker = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]], dtype=torch.float64)
    torch.testing.assert_close(haar_forward(checker).flatten(), torch.tensor([1.0, 0, 0, 1.0], dtype=torch.float64))


def test_band_major_channel_order(rng) -> None:
    # Channel k of the output is band k // C of input channel k % C.
    x = torch.from_numpy(rng.normal(size=(1, 3, 4, 4)))
    y = haar_forward(x)
    for ch in range(3):
        torch.testing.assert_close(y[:, [ch, 3 + ch, 6 + ch, 9 + ch]], haar_forward(x[:, ch : ch + 1]))


def test_two_levels_low_band_is_block_mean(rng) -> None:
    x = torch.from_numpy(rng.uniform(size=(2, 3, 8, 12)))
    y = haar_forward(haar_forward(x))
    means = torch.nn.functional.avg_pool2d(x, 4)
    torch.testing.assert_close(low_band_as_image(y, 3, 2), means)


def test_white_noise_stays_white_with_same_sigma() -> None:
    g = torch.Generator().manual_seed(0)
    x = 0.1 * torch.randn(1, 1, 256, 256, generator=g, dtype=torch.float64)
    y = haar_forward(x)
    for band in range(4):
        assert abs(y[0, band].std().item() - 0.1) < 0.004


def test_module_round_trip_and_odd_sizes_refused() -> None:
    haar = HaarDownsampling()
    x = torch.rand(1, 3, 6, 8)
    torch.testing.assert_close(haar(haar(x), reverse=True), x)
    torch.testing.assert_close(haar.inverse(haar(x)), x)
    assert not list(haar.parameters())
    with pytest.raises(ValueError, match="even"):
        haar(torch.rand(1, 3, 5, 8))
