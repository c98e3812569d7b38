"""Giving a blind-spot result back the detail its blind spot could not see.

A blind-spot network predicts each pixel from its neighbours only: that is what lets it learn
from noisy images, and what makes it lose fine texture that weak noise leaves intact. Laine,
Karras, Lehtinen and Aila ("High-Quality Self-Supervised Deep Image Denoising", NeurIPS 2019,
Sec. 3) recover it with the posterior mean given the pixel's own noisy value ``y``: with the
blind-spot prediction ``f`` read as a Gaussian prior of variance τ² and noise of variance σ²,

    E[x | y, f] = f + τ² / (τ² + σ²) · (y − f).

Their networks predict τ² themselves; AP-BSN's and LG-BPN's do not, so here both variances are
estimated locally, with no parameter for the user to set:

* Because ``f`` never sees ``y`` at the same pixel, E[(y − f)²] = σ² + τ² (the noise and the
  blind-spot error are independent): a local mean of (y − f)² (Gaussian window) reads σ² + τ².
* σ² is read where the image is flat: the lower envelope of three such blind predictors, ``f``
  and the means of the eight pixels at distance 1 and at distance 2 (the stride AP-BSN infers
  with, beyond most of a demosaicked camera's noise correlation). Correlated noise makes the
  distance-1 ring read too little noise; its energy is divided by the ratio of the flattest
  readings of the two rings (about 0.4 for camera noise, 0.85 for white noise on a textured
  image), which the image itself gives. Camera noise depends on brightness (gamma and photon
  noise), so σ² is a noise-level function: a low quantile of that envelope in each of a dozen
  brightness bins, interpolated between them.
* τ² = max(σ² + τ² − σ², 0) and the weight of the noisy value is w = τ² / (τ² + σ²).

The weight is applied to the method's result (the PD pass refined by R3), which is better than
the bare PD pass ``f`` the variances are read from. Not in either paper; what it gains and
costs, with and without it, is measured in ``docs/BENCHMARKS.md`` ("Fusion with the noisy input").
"""

from __future__ import annotations

import cv2
import numpy as np

# Gaussian window of the local variances (pixels).
WINDOW_SIGMA = 2.0
# The noise-level function: brightness bins and the quantile of the flat-region envelope.
MAX_BINS = 12
PIXELS_PER_BIN = 1024
NOISE_QUANTILE = 0.3
# The ring predictors average 8 pixels, so their own noise adds σ²/8.
RING_NOISE_GAIN = 1.0 + 1.0 / 8.0
# The quantile of the two rings' energies whose ratio measures the noise correlation.
FLATTEST_QUANTILE = 0.05


def _blur(plane: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(plane, (0, 0), WINDOW_SIGMA, borderType=cv2.BORDER_REFLECT)


def _local_energy(noisy: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """The local mean of the squared difference, averaged over channels: an H×W map."""
    return _blur(np.square(noisy - prediction).mean(axis=2).astype(np.float32))


def ring_prediction(noisy: np.ndarray, distance: int) -> np.ndarray:
    """The mean of the eight pixels at ``distance`` (rows, columns and diagonals): a blind predictor."""
    kernel = np.zeros((2 * distance + 1, 2 * distance + 1), np.float32)
    for dy in (0, distance, 2 * distance):
        for dx in (0, distance, 2 * distance):
            kernel[dy, dx] = 1.0 / 8.0
    kernel[distance, distance] = 0.0
    return np.atleast_3d(cv2.filter2D(noisy, -1, kernel, borderType=cv2.BORDER_REFLECT))


def noise_level(noisy: np.ndarray, blind: np.ndarray) -> np.ndarray:
    """σ² at every pixel: a low quantile of the flat-region envelope per brightness bin."""
    near = _local_energy(noisy, ring_prediction(noisy, 1)) / RING_NOISE_GAIN
    far = _local_energy(noisy, ring_prediction(noisy, 2)) / RING_NOISE_GAIN
    flattest_far = float(np.quantile(far, FLATTEST_QUANTILE))
    correlation = min(1.0, float(np.quantile(near, FLATTEST_QUANTILE)) / flattest_far) if flattest_far > 0 else 1.0
    envelope = np.minimum(_local_energy(noisy, blind), far)
    if correlation > 0:
        envelope = np.minimum(envelope, near / correlation)
    brightness = _blur(blind.mean(axis=2).astype(np.float32))
    bins = int(np.clip(brightness.size // PIXELS_PER_BIN, 1, MAX_BINS))
    order = np.argsort(brightness, axis=None)
    centres, levels = [], []
    for chunk in np.array_split(order, bins):
        centres.append(float(brightness.flat[chunk].mean()))
        levels.append(float(np.quantile(envelope.flat[chunk], NOISE_QUANTILE)))
    return np.interp(brightness, centres, levels).astype(np.float32)


def fuse_with_input(noisy: np.ndarray, blind: np.ndarray, result: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(``result`` moved towards ``noisy`` by the posterior-mean weight, the H×W weight map).

    ``blind`` is the blind-spot pass (its value at a pixel must not depend on the noisy value
    there); all three are H×W×C float images on one scale.
    """
    noisy = np.atleast_3d(np.asarray(noisy, dtype=np.float32))
    blind = np.atleast_3d(np.asarray(blind, dtype=np.float32))
    result = np.atleast_3d(np.asarray(result, dtype=np.float32))
    if not noisy.shape == blind.shape == result.shape:
        raise ValueError(f"shapes differ: {noisy.shape}, {blind.shape}, {result.shape}")
    total = _local_energy(noisy, blind)
    noise = noise_level(noisy, blind)
    detail = np.maximum(total - noise, 0.0)
    weight = np.divide(detail, detail + noise, out=np.zeros_like(detail), where=(detail + noise) > 0)
    return result + weight[:, :, None] * (noisy - result), weight
