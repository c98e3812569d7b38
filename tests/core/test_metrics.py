"""Metrics against scikit-image's reference implementations, on real images."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from denoise_studio.core.image import load_image
from denoise_studio.core.metrics import abs_difference, difference, estimate_noise_sigma, mse, psnr, ssim
from denoise_studio.core.noise import add_noise


def real_pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, estimate, reference) pairs from three samples, noisy and blurred, RGB and gray."""
    import cv2

    out = []
    for name in ("astronaut", "chelsea", "coffee", "camera"):
        clean = load_image(f"sample:{name}").pixels[:160, :200]
        clean = np.ascontiguousarray(clean)
        rng = np.random.default_rng(len(name))
        out.append((f"{name}-noisy", add_noise(clean, "gaussian", 20, rng), clean))
        blurred = cv2.GaussianBlur(clean, (5, 5), 1.2)
        out.append((f"{name}-blurred", blurred.reshape(clean.shape), clean))
    return out


PAIRS = real_pairs()


@pytest.mark.parametrize("name,estimate,reference", PAIRS, ids=[p[0] for p in PAIRS])
def test_psnr_matches_scikit_image(name: str, estimate: np.ndarray, reference: np.ndarray) -> None:
    expected = peak_signal_noise_ratio(reference.astype(np.float64), estimate.astype(np.float64), data_range=1.0)
    assert psnr(estimate, reference) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("name,estimate,reference", PAIRS, ids=[p[0] for p in PAIRS])
def test_ssim_matches_scikit_image(name: str, estimate: np.ndarray, reference: np.ndarray) -> None:
    expected = structural_similarity(
        reference.astype(np.float64), estimate.astype(np.float64), data_range=1.0, channel_axis=-1,
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    )
    assert ssim(estimate, reference) == pytest.approx(expected, abs=1e-9)


def test_psnr_known_answers() -> None:
    a = np.zeros((10, 10, 3), np.float32)
    assert psnr(a, a) == math.inf
    assert psnr(a + 0.1, a) == pytest.approx(20.0)  # MSE 0.01
    assert mse(a + 0.1, a) == pytest.approx(0.01)
    assert psnr(a + 0.1, a, data_range=255) == pytest.approx(20 + 20 * math.log10(255))


def test_ssim_known_answers(small_rgb: np.ndarray) -> None:
    assert ssim(small_rgb, small_rgb) == pytest.approx(1.0)
    noisy = add_noise(small_rgb, "gaussian", 30, np.random.default_rng(0))
    assert 0 < ssim(noisy, small_rgb) < 0.9
    assert ssim(noisy, small_rgb) == pytest.approx(ssim(small_rgb, noisy))  # symmetric
    with pytest.raises(ValueError, match="shape"):
        ssim(small_rgb, small_rgb[:10])
    with pytest.raises(ValueError, match="7×7"):
        ssim(small_rgb[:5, :5], small_rgb[:5, :5])


def test_difference_maps(odd_rgb: np.ndarray) -> None:
    brighter = odd_rgb + np.float32(0.1)
    signed = difference(brighter, odd_rgb)
    assert signed.shape == odd_rgb.shape[:2] and signed.dtype == np.float32
    np.testing.assert_allclose(signed, 0.1, atol=1e-6)
    np.testing.assert_allclose(difference(odd_rgb, brighter), -0.1, atol=1e-6)
    np.testing.assert_allclose(abs_difference(odd_rgb, brighter), 0.1, atol=1e-6)
    with pytest.raises(ValueError):
        difference(odd_rgb, odd_rgb[:, :5])


@pytest.mark.parametrize("sigma", [10, 25, 50])
def test_noise_estimate_on_real_images(sigma: float) -> None:
    clean = load_image("sample:chelsea").pixels
    noisy = add_noise(clean, "gaussian", sigma, np.random.default_rng(1), clip=False)
    assert estimate_noise_sigma(noisy) == pytest.approx(sigma, rel=0.08)
    assert estimate_noise_sigma(clean) < 3  # a clean photograph measures little noise


@pytest.mark.parametrize("name", ["astronaut", "camera", "coffee"])
def test_noise_estimate_equals_scikit_image(name: str) -> None:
    from skimage.restoration import estimate_sigma

    clean = load_image(f"sample:{name}").pixels
    noisy = add_noise(clean, "gaussian", 15, np.random.default_rng(2))
    expected = estimate_sigma(noisy.astype(np.float64), channel_axis=-1, average_sigmas=True) * 255
    assert estimate_noise_sigma(noisy) == pytest.approx(expected, rel=1e-9)


def test_noise_estimate_on_a_few_pixels() -> None:
    assert estimate_noise_sigma(np.zeros((1, 1, 3), np.float32)) == 0.0
    assert estimate_noise_sigma(np.full((8, 8, 1), 0.5, np.float32)) < 1e-12  # flat: no detail
    assert np.isfinite(estimate_noise_sigma(np.random.default_rng(0).random((2, 3, 3))))


def test_metrics_return_plain_floats(odd_rgb: np.ndarray) -> None:
    for value in (psnr(odd_rgb * 0.9, odd_rgb), ssim(odd_rgb * 0.9, odd_rgb), estimate_noise_sigma(odd_rgb)):
        assert type(value) is float
