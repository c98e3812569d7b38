"""Classical denoisers: each improves a real noisy crop without tuning; known answers."""

from __future__ import annotations

import numpy as np
import pytest

from denoise_studio.core.method import run_to_end
from denoise_studio.core.metrics import psnr
from denoise_studio.core.noise import add_noise
from denoise_studio.core.params import ParamError
from denoise_studio.methods import REGISTRY, classical, create_method

CLASSICAL = [k for k, e in REGISTRY.items() if e.family == "Classical"]


@pytest.fixture(scope="module")
def crop96(astronaut: np.ndarray) -> np.ndarray:
    """A 96×96 RGB crop with face, hair and flat background."""
    return np.ascontiguousarray(astronaut[30:126, 170:266])


def test_the_seven_classical_methods_are_registered() -> None:
    assert CLASSICAL == ["gaussian", "median", "bilateral", "nlm", "bm3d", "tv", "wavelet"]


@pytest.mark.parametrize("method_id", CLASSICAL)
def test_defaults_raise_psnr_at_sigma_25(method_id: str, crop96: np.ndarray) -> None:
    """σ is not given: each method estimates it and its strength follows."""
    noisy = add_noise(crop96, "gaussian", 25, np.random.default_rng(5))
    before = psnr(noisy, crop96)
    final = run_to_end(create_method(method_id), noisy)
    assert final.info["sigma_estimated"] is True
    assert 15 < final.info["sigma"] < 30  # clipping at 0 and 1 lowers the estimate a little
    gain = psnr(final.image, crop96) - before
    assert gain > 2.0, f"{method_id}: {gain:.2f} dB"


@pytest.mark.parametrize("method_id", CLASSICAL)
def test_grayscale_defaults_raise_psnr(method_id: str, small_gray: np.ndarray) -> None:
    noisy = add_noise(small_gray, "gaussian", 25, np.random.default_rng(6))
    final = run_to_end(create_method(method_id), noisy)
    assert final.image.shape == small_gray.shape
    assert psnr(final.image, small_gray) > psnr(noisy, small_gray) + 1.5


def test_bm3d_beats_the_simple_filters(small_rgb: np.ndarray) -> None:
    noisy = add_noise(small_rgb, "gaussian", 25, np.random.default_rng(7), clip=False)
    scores = {m: psnr(run_to_end(create_method(m), noisy, create_method(m).Params(sigma=25.0)).image, small_rgb) for m in ("bm3d", "nlm", "gaussian", "median")}
    assert scores["bm3d"] > max(scores["nlm"], scores["gaussian"], scores["median"]) + 0.5, scores


def test_median_is_the_right_tool_for_salt_and_pepper(crop96: np.ndarray) -> None:
    noisy = add_noise(crop96, "salt-pepper", 13, np.random.default_rng(8))  # 5 % of the pixels
    median = run_to_end(create_method("median"), noisy, classical.MedianParams(size=3)).image
    blur = run_to_end(create_method("gaussian"), noisy, classical.GaussianBlurParams(radius=1.0)).image
    assert psnr(median, crop96) > psnr(blur, crop96) + 3


@pytest.mark.parametrize("method_id", CLASSICAL)
def test_a_flat_image_stays_flat(method_id: str) -> None:
    flat = np.full((40, 36, 3), 0.4, np.float32)
    method = create_method(method_id)
    out = run_to_end(method, flat, method.Params(sigma=10.0)).image
    assert np.allclose(out, 0.4, atol=1.5 / 255)


def test_strength_rules_grow_with_sigma() -> None:
    for rule in (classical.gaussian_radius_for_sigma, classical.bilateral_range_for_sigma, classical.tv_weight_for_sigma):
        assert rule(15) < rule(25) < rule(50)
    assert classical.bilateral_range_for_sigma(25, color=False) < classical.bilateral_range_for_sigma(25, color=True)
    assert classical.nlm_h_for_sigma(15, True) < classical.nlm_h_for_sigma(50, True)
    assert classical.nlm_h_for_sigma(15, False) < classical.nlm_h_for_sigma(50, False)
    assert classical.median_size_for_sigma(15) == 3 and classical.median_size_for_sigma(50) == 5


def test_explicit_strength_overrides_sigma(crop96: np.ndarray) -> None:
    noisy = add_noise(crop96, "gaussian", 25, np.random.default_rng(9))
    final = run_to_end(create_method("gaussian"), noisy, classical.GaussianBlurParams(sigma=25.0, radius=2.0))
    assert final.info["radius"] == 2.0 and final.info["sigma_estimated"] is False


def test_even_window_sides_are_refused() -> None:
    with pytest.raises(ParamError, match="odd"):
        classical.MedianParams(size=4)
    with pytest.raises(ParamError, match="odd"):
        classical.NLMParams(patch_size=6)


def test_unclipped_input_gives_a_result_in_range(crop96: np.ndarray) -> None:
    noisy = add_noise(crop96, "gaussian", 50, np.random.default_rng(10), clip=False)
    assert noisy.min() < 0 and noisy.max() > 1
    for method_id in ("bilateral", "tv", "wavelet", "gaussian"):
        out = run_to_end(create_method(method_id), noisy).image
        assert out.min() >= 0.0 and out.max() <= 1.0


def test_bm3d_on_a_gray_image_stored_as_rgb(small_gray: np.ndarray) -> None:
    """The reference code divides by the range of each colour channel: constant chroma must not give NaN."""
    gray = small_gray[:40, :40]
    rgb = np.repeat(add_noise(gray, "gaussian", 20, np.random.default_rng(11)), 3, axis=2)
    final = run_to_end(create_method("bm3d"), rgb, classical.BM3DParams(sigma=20.0))
    assert final.info["mode"] == "per-channel"
    assert np.all(np.isfinite(final.image))
    assert psnr(final.image[:, :, :1], gray) > psnr(rgb[:, :, :1], gray) + 3


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 3, 3), (5, 7, 1), (1, 40, 3), (3, 60, 1)])
@pytest.mark.parametrize("method_id", CLASSICAL)
def test_tiny_and_thin_images(method_id: str, shape: tuple[int, int, int]) -> None:
    """Smaller than BM3D's blocks or the wavelet support: a result, no error, no warning."""
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    out = run_to_end(create_method(method_id), x).image
    assert out.shape == shape and np.all(np.isfinite(out))


def test_wavelet_levels_are_capped() -> None:
    x = np.random.default_rng(1).random((40, 40, 3)).astype(np.float32)
    final = run_to_end(create_method("wavelet"), x, classical.WaveletParams(levels=8, sigma=20.0))
    assert 1 <= final.info["levels"] < 8


def test_defaults_depend_on_colour(small_rgb: np.ndarray, small_gray: np.ndarray) -> None:
    """Rules measured separately on colour (CBSD68) and grayscale (Set12) crops."""
    colour = run_to_end(create_method("wavelet"), small_rgb, classical.WaveletParams(sigma=20.0)).info
    gray = run_to_end(create_method("wavelet"), small_gray, classical.WaveletParams(sigma=20.0)).info
    assert (colour["wavelet"], gray["wavelet"]) == ("db1", "db2")
    colour = run_to_end(create_method("bilateral"), small_rgb, classical.BilateralParams(sigma=20.0)).info
    gray = run_to_end(create_method("bilateral"), small_gray, classical.BilateralParams(sigma=20.0)).info
    assert (colour["sigma_color"], colour["sigma_space"]) == (80.0, 3.0)
    assert (gray["sigma_color"], gray["sigma_space"]) == (50.0, 2.0)
