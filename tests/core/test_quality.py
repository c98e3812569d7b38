"""Monte-Carlo SURE (core/quality.py) against the true error, on a real image with synthetic noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from denoise_studio.core import metrics, quality
from denoise_studio.core.errors import UserError
from denoise_studio.core.noise import add_noise


@pytest.fixture
def crop(astronaut: np.ndarray) -> np.ndarray:
    """A 160×160 crop of the astronaut sample with faces, texture and flat parts."""
    return np.ascontiguousarray(astronaut[40:200, 160:320])


def noisy_of(clean: np.ndarray, sigma: float, seed: int = 3) -> np.ndarray:
    return add_noise(clean, "gaussian", sigma, seed, clip=False)


def blur(image: np.ndarray, width: float = 1.2) -> np.ndarray:
    """A Gaussian blur with periodic borders: a circulant filter, so its trace is N times its centre tap."""
    return ndimage.gaussian_filter(image.astype(np.float64), sigma=(width, width, 0), mode="wrap").astype(np.float32)


def centre_tap(width: float = 1.2) -> float:
    """The filter's weight of a pixel on itself (the diagonal of the filter matrix)."""
    impulse = np.zeros((41, 41, 1))
    impulse[20, 20, 0] = 1.0
    return float(ndimage.gaussian_filter(impulse, sigma=(width, width, 0), mode="wrap")[20, 20, 0])


def estimate(noisy: np.ndarray, denoiser: quality.Denoiser, sigma: float, probes: int = 2) -> quality.QualityEstimate:
    runs = quality.run_probes(noisy, denoiser, probes=probes)
    return quality.mc_sure(noisy, denoiser(noisy), runs, sigma)


def test_identity_estimates_the_noise_itself(astronaut: np.ndarray) -> None:
    noisy = noisy_of(astronaut, 25)
    found = estimate(noisy, lambda y: y.copy(), 25)
    true_mse = metrics.mse(noisy, astronaut)
    # f(y) = y: the residual is 0 and the divergence N (the probe estimates it to about 0.2%),
    # so SURE is σ²; the true error is ‖n‖²/N.
    assert found.mse == pytest.approx((25 / 255) ** 2, rel=0.01)
    assert found.mse == pytest.approx(true_mse, rel=0.01)
    assert found.kept == 1.0 and found.spread is not None and found.spread < 0.01


def test_divergence_of_a_linear_filter_is_its_trace(crop: np.ndarray) -> None:
    noisy = noisy_of(crop, 25)
    runs = quality.run_probes(noisy, blur, probes=2)
    f = blur(noisy).astype(np.float64)
    per_pixel = [float(np.mean(b * (out - f))) / runs.epsilon for b, out in zip(runs.directions(noisy.shape), runs.outputs)]
    assert np.mean(per_pixel) == pytest.approx(centre_tap(), rel=0.03)


@pytest.mark.parametrize("sigma", [15, 50])
def test_sure_of_a_blur_matches_its_true_error(astronaut: np.ndarray, sigma: float) -> None:
    # The whole 512×512 image: on a small crop ‖n‖²/N alone strays from σ² by a few per cent.
    noisy = noisy_of(astronaut, sigma)
    found = estimate(noisy, blur, sigma)
    true = metrics.psnr(blur(noisy), astronaut)
    assert found.valid and found.psnr == pytest.approx(true, abs=0.15)
    # the control: with a wrong σ the same estimate misses by far
    wrong = quality.mc_sure(noisy, blur(noisy), quality.run_probes(noisy, blur), sigma * 1.3)
    assert not wrong.valid or abs(wrong.psnr - true) > 0.5  # type: ignore[operator]


def test_sigma_is_estimated_from_the_patch_covariance(crop: np.ndarray) -> None:
    for sigma in (15, 25):
        assert quality.estimate_sigma(noisy_of(crop, sigma)) == pytest.approx(sigma, rel=0.05)
    noisy = noisy_of(crop, 25)
    found = quality.estimate_psnr(noisy, blur(noisy), blur)
    assert found.sigma_source == "estimated" and found.psnr == pytest.approx(metrics.psnr(blur(noisy), crop), abs=0.5)


def test_clipped_pixels_are_left_out(crop: np.ndarray) -> None:
    clean = crop * 0.5 + 0.25  # mid-tones, where nothing clips...
    clean[:50] = 0.0  # ...but a black band, where the noise is clipped
    noisy = np.clip(noisy_of(clean, 25), 0.0, 1.0)
    mask = quality.kept_pixels(noisy, blur(noisy), 25)
    assert mask is not None
    assert not mask[noisy <= 0].any() and not mask[noisy >= 1].any()
    assert not mask[5:45].any()  # the blurred black band lies within 2σ of black (the blur wraps at the top)
    assert quality.kept_pixels(noisy_of(crop, 25), crop, 25) is None  # unclipped noise: every pixel counts
    found = estimate(noisy, blur, 25)
    error = (blur(noisy).astype(np.float64) - clean) ** 2
    true_kept = 10 * math.log10(1 / float(error[mask].mean()))
    assert found.valid and found.kept is not None and found.kept < 0.75
    assert found.psnr == pytest.approx(true_kept, abs=0.5)


def test_no_estimate_where_sure_does_not_hold(crop: np.ndarray) -> None:
    noisy = noisy_of(crop, 25)
    calls: list[int] = []

    def counted(y: np.ndarray) -> np.ndarray:
        calls.append(1)
        return blur(y)

    for model in ("speckle", "salt-pepper", "jpeg", "camera"):
        answer = quality.estimate_psnr(noisy, blur(noisy), counted, sigma=25, noise_model=model)
        assert not answer.valid and answer.reason and answer.to_dict()["value"] is None
    assert "iterative" in quality.estimate_psnr(noisy, noisy, counted, iterative=True).reason
    assert "JPEG" in quality.estimate_psnr(noisy, noisy, counted, source="photo.JPG").reason
    assert "parameters" in quality.estimate_psnr(noisy, noisy, counted, noise_model="poisson-gaussian").reason  # σ not given
    assert calls == []  # no probe run was spent on any of them
    dark = np.clip(noisy_of(np.zeros_like(crop) + 0.05, 25), 0, 1)
    assert "clipped" in quality.estimate_psnr(dark, blur(dark), blur, sigma=25).reason
    assert math.isnan(quality.estimate_sigma(dark))  # nearly every patch holds a clipped value
    assert "cannot be estimated" in quality.estimate_psnr(dark, blur(dark), counted).reason


def test_a_method_that_rounds_its_8_bit_input_gets_no_number(crop: np.ndarray) -> None:
    eight = (np.rint(np.clip(noisy_of(crop * 0.6 + 0.2, 15), 0, 1) * 255) / 255).astype(np.float32)

    def rounding(y: np.ndarray) -> np.ndarray:  # as OpenCV's non-local means: 8 bits in, 8 bits out
        out = blur((np.rint(np.clip(y, 0, 1) * 255) / 255).astype(np.float32))
        return (np.rint(out * 255) / 255).astype(np.float32)

    assert quality.is_eight_bit(eight)
    answer = quality.estimate_psnr(eight, rounding(eight), rounding, sigma=15)
    assert not answer.valid and "rounds" in answer.reason
    assert quality.estimate_psnr(eight, blur(eight), blur, sigma=15).valid


def test_stop_before_the_probes_and_bad_input(crop: np.ndarray) -> None:
    noisy = noisy_of(crop, 25)
    answer = quality.estimate_psnr(noisy, noisy, blur, sigma=25, should_continue=lambda: False)
    assert not answer.valid and "stopped" in answer.reason
    with pytest.raises(UserError):
        quality.estimate_psnr(noisy, noisy, blur, sigma=-1)
    with pytest.raises(UserError):
        quality.mc_sure(noisy, noisy[:10], quality.run_probes(noisy, blur, probes=1), 25)
    round_trip = quality.QualityEstimate.from_dict(estimate(noisy, blur, 25).to_dict())
    assert round_trip.valid and "±" in round_trip.text()


def test_pg_ure_for_poisson_gaussian_noise(astronaut: np.ndarray) -> None:
    from denoise_studio.core.noise import _poisson_gaussian_coefficients, _poisson_gaussian_raw

    alpha, beta = _poisson_gaussian_coefficients(25)
    noisy = _poisson_gaussian_raw(astronaut, alpha, beta, np.random.default_rng(5)).astype(np.float32)  # unclipped
    runs = quality.run_probes(noisy, blur)
    true = metrics.psnr(blur(noisy), astronaut)
    found = quality.estimate_from_probes(noisy, blur(noisy), runs, 25, "poisson-gaussian")
    assert found.estimator == "pg-ure" and found.psnr == pytest.approx(true, abs=0.15)
    # the control: Gaussian SURE with the mid-grey σ misses, the noise depends on the signal
    assert abs(quality.mc_sure(noisy, blur(noisy), runs, 25).psnr - true) > 0.5  # type: ignore[operator]
