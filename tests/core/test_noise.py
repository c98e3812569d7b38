"""Noise models: measured statistics, not just shapes."""

from __future__ import annotations

import numpy as np
import pytest

from denoise_studio.core.noise import NOISE_MODELS, add_noise, jpeg_quality_for


def flat(value: float, size: int = 256, channels: int = 3) -> np.ndarray:
    return np.full((size, size, channels), value, np.float32)


def neighbour_correlation(residual: np.ndarray) -> float:
    """Correlation of horizontally adjacent residual values (averaged over channels)."""
    values = []
    for c in range(residual.shape[2]):
        r = residual[:, :, c] - residual[:, :, c].mean()
        a, b = r[:, :-1].ravel(), r[:, 1:].ravel()
        values.append(float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b))))
    return float(np.mean(values))


def test_gaussian_sigma_25_is_measured_within_2_percent() -> None:
    clean = flat(0.5)
    noisy = add_noise(clean, "gaussian", 25, np.random.default_rng(0), clip=False)
    measured = float((noisy - clean).std()) * 255
    assert measured == pytest.approx(25, rel=0.02)
    assert abs(float((noisy - clean).mean()) * 255) < 0.3  # zero mean
    assert noisy.dtype == np.float32


def test_gaussian_is_white() -> None:
    clean = flat(0.5)
    residual = add_noise(clean, "gaussian", 25, np.random.default_rng(1), clip=False) - clean
    assert abs(neighbour_correlation(residual)) < 0.02


def test_gaussian_clipping() -> None:
    dark = flat(0.02)
    clipped = add_noise(dark, "gaussian", 25, np.random.default_rng(2))
    unclipped = add_noise(dark, "gaussian", 25, np.random.default_rng(2), clip=False)
    assert clipped.min() >= 0 and unclipped.min() < 0
    np.testing.assert_array_equal(clipped, np.clip(unclipped, 0, 1))


@pytest.mark.parametrize("level", [0.2, 0.5, 0.8])
def test_poisson_gaussian_variance_law(level: float) -> None:
    """Variance a·x + b with a·0.5 = b = (σ/255)²/2: total σ at mid-grey, more in the light."""
    sigma = 10.0
    s2 = (sigma / 255) ** 2
    a, b = s2, s2 / 2
    clean = flat(level)
    residual = add_noise(clean, "poisson-gaussian", sigma, np.random.default_rng(3)) - clean
    assert float(residual.var()) == pytest.approx(a * level + b, rel=0.05)
    assert abs(float(residual.mean())) < 2e-4


def test_poisson_gaussian_total_sigma_at_mid_grey() -> None:
    clean = flat(0.5)
    residual = add_noise(clean, "poisson-gaussian", 25, np.random.default_rng(4)) - clean
    assert float(residual.std()) * 255 == pytest.approx(25, rel=0.03)


@pytest.mark.parametrize("level", [0.25, 0.5])
def test_speckle_is_multiplicative(level: float) -> None:
    clean = flat(level)
    residual = add_noise(clean, "speckle", 20, np.random.default_rng(5)) - clean
    assert float(residual.std()) == pytest.approx(level * 20 / 255, rel=0.03)


def test_salt_and_pepper_fraction() -> None:
    clean = flat(0.5)
    noisy = add_noise(clean, "salt-pepper", 25, np.random.default_rng(6))
    hit = np.any(noisy != 0.5, axis=2)
    expected = 25 / 255
    assert float(hit.mean()) == pytest.approx(expected, rel=0.04)
    salt = np.all(noisy == 1.0, axis=2)
    pepper = np.all(noisy == 0.0, axis=2)
    assert np.array_equal(hit, salt | pepper)  # all channels of a pixel together
    assert float(salt.mean()) == pytest.approx(expected / 2, rel=0.08)


def test_jpeg_quality_and_determinism(small_rgb: np.ndarray) -> None:
    assert jpeg_quality_for(25) == 50 and jpeg_quality_for(0) == 100 and jpeg_quality_for(80) == 1
    a = add_noise(small_rgb, "jpeg", 25, 0)
    b = add_noise(small_rgb, "jpeg", 25, 99)
    np.testing.assert_array_equal(a, b)
    stronger = add_noise(small_rgb, "jpeg", 45, 0)
    assert np.abs(stronger - small_rgb).mean() > np.abs(a - small_rgb).mean()


def test_camera_noise_is_spatially_correlated() -> None:
    """Demosaicking spreads each raw sample's noise over its neighbours."""
    clean = flat(0.5)
    camera = add_noise(clean, "camera", 20, np.random.default_rng(7)) - clean
    gaussian = add_noise(clean, "gaussian", 20, np.random.default_rng(7)) - clean
    assert neighbour_correlation(camera) > 0.3
    assert abs(neighbour_correlation(gaussian)) < 0.02
    # Strength follows σ.
    weak = add_noise(clean, "camera", 5, np.random.default_rng(7)) - clean
    assert weak.std() < camera.std() / 2


def test_camera_noise_on_grayscale_and_with_jpeg(small_gray: np.ndarray) -> None:
    noisy = add_noise(small_gray, "camera", 15, np.random.default_rng(8), jpeg_quality=80)
    assert noisy.shape == small_gray.shape and noisy.dtype == np.float32
    assert 0 <= noisy.min() and noisy.max() <= 1
    assert not np.array_equal(noisy, small_gray)


@pytest.mark.parametrize("model", list(NOISE_MODELS))
def test_seeds_reproduce(model: str, odd_rgb: np.ndarray) -> None:
    a = add_noise(odd_rgb, model, 20, 11)
    b = add_noise(odd_rgb, model, 20, np.random.default_rng(11))
    np.testing.assert_array_equal(a, b)
    assert a.shape == odd_rgb.shape and a.dtype == np.float32
    if model != "jpeg":  # JPEG is deterministic by nature
        assert not np.array_equal(a, add_noise(odd_rgb, model, 20, 12))


@pytest.mark.parametrize("model", list(NOISE_MODELS))
def test_the_clean_image_is_not_modified(model: str, odd_rgb: np.ndarray) -> None:
    before = odd_rgb.copy()
    add_noise(odd_rgb, model, 30, 0)
    np.testing.assert_array_equal(odd_rgb, before)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown noise model"):
        add_noise(flat(0.5, 8), "pink", 10, 0)
    with pytest.raises(ValueError, match="non-negative"):
        add_noise(flat(0.5, 8), "gaussian", -1, 0)
