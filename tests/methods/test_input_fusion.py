"""The fusion of a blind-spot result with the noisy input (methods/_common/input_fusion.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from denoise_studio.core.metrics import psnr
from denoise_studio.core.noise import add_noise
from denoise_studio.methods._common.input_fusion import fuse_with_input, noise_level, ring_prediction


@pytest.fixture(scope="module")
def photo(astronaut: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(astronaut[24:152, 160:288])


def _blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    return np.atleast_3d(cv2.GaussianBlur(image, (0, 0), sigma))


def test_ring_prediction_never_reads_the_centre_and_keeps_flat_colour() -> None:
    flat = np.full((9, 9, 3), 0.25, np.float32)
    spike = flat.copy()
    spike[4, 4] = 1.0
    np.testing.assert_allclose(ring_prediction(flat, 2), flat, atol=1e-6)
    assert ring_prediction(spike, 2)[4, 4] == pytest.approx(ring_prediction(flat, 2)[4, 4], abs=1e-6)
    assert ring_prediction(spike, 1)[4, 4] == pytest.approx(0.25, abs=1e-6)


def test_noise_level_reads_white_noise_where_the_blind_estimate_is_right(photo: np.ndarray) -> None:
    """With a perfect blind estimate the level is σ² (within the low quantile's bias)."""
    noisy = add_noise(photo, "gaussian", 10, np.random.default_rng(1), clip=False).astype(np.float32)
    level = noise_level(noisy, photo)
    assert np.sqrt(np.median(level)) * 255 == pytest.approx(10.0, rel=0.2)


def test_a_good_blind_estimate_is_kept(photo: np.ndarray) -> None:
    """Strong noise, blind estimate near the truth: the weight of the noisy value stays small."""
    noisy = add_noise(photo, "gaussian", 25, np.random.default_rng(2), clip=False).astype(np.float32)
    blind = _blurred(photo, 0.7)
    fused, weight = fuse_with_input(noisy, blind, blind)
    assert weight.mean() < 0.2
    assert psnr(np.clip(fused, 0, 1), photo) > psnr(blind, photo) - 0.3
    assert psnr(np.clip(fused, 0, 1), photo) > psnr(np.clip(noisy, 0, 1), photo) + 5


def test_detail_the_blind_estimate_lost_comes_back_from_mild_noise(photo: np.ndarray) -> None:
    """Mild noise, a blind estimate that lost the texture (22.8 dB against the input's 38.6): most
    of the way back (35.1 dB; flat regions keep the blurred value, whose error is below the noise)."""
    noisy = add_noise(photo, "gaussian", 3, np.random.default_rng(3), clip=False).astype(np.float32)
    blind = _blurred(photo, 3.0)
    fused, weight = fuse_with_input(noisy, blind, blind)
    assert weight.mean() > 0.6
    assert psnr(np.clip(fused, 0, 1), photo) > psnr(blind, photo) + 10
    assert psnr(np.clip(fused, 0, 1), photo) > psnr(np.clip(noisy, 0, 1), photo) - 4


def test_correlated_noise_is_not_read_as_detail(photo: np.ndarray) -> None:
    """Camera noise correlates neighbours: the distance-1 ring alone would read too little noise
    and let it back in; the fused result must stay well above the noisy input."""
    noisy = add_noise(photo, "camera", 15, np.random.default_rng(4)).astype(np.float32)
    blind = _blurred(photo, 1.0)
    fused, _ = fuse_with_input(noisy, blind, blind)
    assert psnr(np.clip(fused, 0, 1), photo) > psnr(noisy, photo) + 3


def test_no_noise_gives_the_input_back() -> None:
    """A clean flat patch has nothing to remove: a blind estimate with a cast is replaced by the input."""
    flat = np.full((48, 48, 3), (0.6, 0.4, 0.3), np.float32)
    cast = flat + np.float32(0.02)
    fused, weight = fuse_with_input(flat, cast, cast)
    np.testing.assert_allclose(fused, flat, atol=1e-4)
    assert weight.min() > 0.99


def test_grey_images_and_inputs_left_untouched(photo: np.ndarray) -> None:
    grey = np.ascontiguousarray(photo.mean(axis=2, keepdims=True))
    noisy = add_noise(grey, "gaussian", 10, np.random.default_rng(5), clip=False).astype(np.float32)
    blind = _blurred(grey, 1.5)
    kept = (noisy.copy(), blind.copy())
    fused, weight = fuse_with_input(noisy, blind, blind)
    assert fused.shape == grey.shape and weight.shape == grey.shape[:2]
    np.testing.assert_array_equal(noisy, kept[0])
    np.testing.assert_array_equal(blind, kept[1])
    with pytest.raises(ValueError, match="shapes differ"):
        fuse_with_input(noisy, blind[:-1], blind)
