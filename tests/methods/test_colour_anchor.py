"""The low-frequency anchor: the input's local colour, the network's detail."""

from __future__ import annotations

import numpy as np
import pytest

from denoise_studio.methods._common.colour_anchor import ANCHOR_SIGMA, CLIP_GUARD, anchor_low_frequencies


def test_a_cast_goes_and_fine_detail_stays() -> None:
    rng = np.random.default_rng(0)
    clean = np.full((96, 96, 3), (0.6, 0.4, 0.3), np.float32)
    noisy = clean + rng.normal(0.0, 10 / 255, clean.shape).astype(np.float32)
    checker = (np.indices((96, 96)).sum(axis=0) % 2 * 2 - 1).astype(np.float32)[:, :, None] * 0.02
    cast = np.asarray((-5 / 255, 3 / 255, 2 / 255), np.float32)
    result = clean + cast + checker  # a denoiser that shifts the colour and adds a fine pattern
    anchored = anchor_low_frequencies(noisy, result)
    # The cast is gone: each channel's mean is the input's to a tenth of a level.
    np.testing.assert_allclose(anchored.mean(axis=(0, 1)), noisy.mean(axis=(0, 1)), atol=0.1 / 255)
    # What varies faster than the scale is the network's: the pattern is still there in full.
    centre = (slice(24, 72), slice(24, 72))
    kept = (anchored - clean)[centre]
    pattern = np.broadcast_to(checker[centre], kept.shape)
    assert float((kept * pattern).sum() / (pattern * pattern).sum()) == pytest.approx(1.0, abs=0.02)
    assert float((kept - pattern).std()) < 1.0 / 255  # what is left: the input's noise, low-passed


def test_the_noise_it_lets_back_is_the_low_passed_input_noise() -> None:
    rng = np.random.default_rng(1)
    sigma = 10 / 255
    noisy = 0.5 + rng.normal(0.0, sigma, (256, 256, 1)).astype(np.float32)
    anchored = anchor_low_frequencies(noisy, np.full_like(noisy, 0.5))
    expected = sigma / (2 * ANCHOR_SIGMA * np.sqrt(np.pi))  # white noise through a 2-D Gaussian
    assert float(anchored[32:-32, 32:-32].std()) == pytest.approx(expected, rel=0.2)


def test_grey_images_and_bad_arguments() -> None:
    grey = np.full((20, 30), 0.5, np.float32)
    assert anchor_low_frequencies(grey, grey + 0.1).shape == (20, 30, 1)
    np.testing.assert_allclose(anchor_low_frequencies(grey, grey + 0.1), 0.5, atol=1e-6)
    with pytest.raises(ValueError, match="shapes differ"):
        anchor_low_frequencies(grey, np.zeros((20, 31), np.float32))
    with pytest.raises(ValueError, match="positive"):
        anchor_low_frequencies(grey, grey, sigma=0.0)


def test_the_robust_anchor_ignores_impulse_noise() -> None:
    """Salt-and-pepper on 10 % of a dark patch raises its mean by about 0.03; the block medians
    do not see it, so the robust anchor removes the network's cast and adds nothing."""
    rng = np.random.default_rng(2)
    clean = np.full((64, 64, 3), 0.2, np.float32)
    noisy = clean.copy()
    hit = rng.random(clean.shape[:2]) < 0.1
    noisy[hit] = rng.integers(0, 2, (int(hit.sum()), 1)).astype(np.float32)
    result = clean + 0.03  # a cast of about 8 levels
    robust = anchor_low_frequencies(noisy, result, 8.0, robust=True)
    np.testing.assert_allclose(robust, clean, atol=1e-6)
    assert float((anchor_low_frequencies(noisy, result, 8.0) - clean).mean()) > 0.02  # the plain anchor follows the impulses


def test_the_clip_guard_leaves_black_and_white_alone() -> None:
    """Noise clipped at 0 raises a dark patch's mean: the plain anchor brings that bias into a
    perfect result; with the guard, channels near black or white are left as they are, and the
    rest of the image is anchored as before."""
    rng = np.random.default_rng(3)
    clean = np.full((64, 128, 3), 0.5, np.float32)
    clean[:, :64] = 0.02  # a near-black half
    noisy = np.clip(clean + rng.normal(0.0, 25 / 255, clean.shape).astype(np.float32), 0.0, 1.0)
    assert float(noisy[:, :64].mean()) > 0.02 + 5 / 255  # the clipped noise's bias
    plain = anchor_low_frequencies(noisy, clean)
    guarded = anchor_low_frequencies(noisy, clean, clip_guard=CLIP_GUARD)
    dark = (slice(None), slice(0, 48))
    assert float((plain - clean)[dark].mean()) > 4 / 255
    np.testing.assert_array_equal(guarded[dark], clean[dark])
    cast = anchor_low_frequencies(noisy, clean + 4 / 255, clip_guard=CLIP_GUARD)  # a cast on grey
    assert abs(float(cast[:, 80:].mean()) - float(noisy[:, 80:].mean())) < 0.3 / 255
