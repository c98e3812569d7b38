"""Image quality metrics: PSNR, SSIM, difference maps and a no-reference noise estimate.

All take H×W×C float images in [0, 1] (data range 1) and return plain Python floats or new
arrays. SSIM follows Wang et al. (2004) with an 11×11 Gaussian window of σ = 1.5, K1 = 0.01,
K2 = 0.03, population covariances, computed per channel and averaged over all channels, the
border of half a window excluded: the definition of ``skimage.metrics.structural_similarity``
with ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1``, which the
tests check against. It is computed with OpenCV's separable Gaussian filter, several times
faster, because the window evaluates SSIM live while a method runs.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} and {b.shape}")
    return a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error over all pixels and channels."""
    x, y = _pair(a, b)
    return float(np.mean((x - y) ** 2))


def psnr(estimate: np.ndarray, reference: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, 10·log10(range² / MSE); ``inf`` for identical images."""
    error = mse(estimate, reference)
    if error == 0:
        return math.inf
    return float(10.0 * math.log10(data_range**2 / error))


def ssim(estimate: np.ndarray, reference: np.ndarray, data_range: float = 1.0) -> float:
    """Mean structural similarity over all channels (Wang et al. 2004, Gaussian window σ = 1.5)."""
    x, y = _pair(estimate, reference)
    if x.ndim == 2:
        x, y = x[:, :, None], y[:, :, None]
    if min(x.shape[:2]) < 7:
        raise ValueError("SSIM needs images of at least 7×7 pixels")
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    pad = 5  # half of the 11×11 window that skimage uses for σ = 1.5 (truncate = 3.5)

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    values = []
    for c in range(x.shape[2]):
        xc, yc = np.ascontiguousarray(x[:, :, c]), np.ascontiguousarray(y[:, :, c])
        mx, my = blur(xc), blur(yc)
        sxx = blur(xc * xc) - mx * mx
        syy = blur(yc * yc) - my * my
        sxy = blur(xc * yc) - mx * my
        num = (2 * mx * my + c1) * (2 * sxy + c2)
        den = (mx * mx + my * my + c1) * (sxx + syy + c2)
        smap = num / den
        values.append(smap[pad:-pad, pad:-pad].mean())
    return float(np.mean(values))


def difference(result: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Signed difference result − reference, averaged over channels: an H×W float32 map."""
    if result.shape != reference.shape:
        raise ValueError(f"images differ in shape: {result.shape} and {reference.shape}")
    return (result.astype(np.float32) - reference.astype(np.float32)).mean(axis=2)


def abs_difference(result: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Absolute difference |result − reference|, averaged over channels: an H×W float32 map."""
    if result.shape != reference.shape:
        raise ValueError(f"images differ in shape: {result.shape} and {reference.shape}")
    return np.abs(result.astype(np.float32) - reference.astype(np.float32)).mean(axis=2)


def estimate_noise_sigma(image: np.ndarray) -> float:
    """No-reference estimate of the Gaussian noise σ on the 0–255 scale.

    Donoho & Johnstone's robust estimator (Biometrika 1994, Sec. 4.2): the median absolute value
    of the finest diagonal Daubechies-2 wavelet coefficients, divided by Φ⁻¹(0.75) ≈ 0.6745,
    per channel, then averaged over channels; exact zeros (flat or clipped regions) are left
    out. The same figures as ``skimage.restoration.estimate_sigma(average_sigmas=True)``, which
    the tests check, without its warnings on images of a few pixels (where it returns 0).
    """
    import pywt

    pixels = np.asarray(image, dtype=np.float64)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if min(pixels.shape[:2]) < 2:
        return 0.0
    sigmas = []
    for c in range(pixels.shape[2]):
        diagonal = pywt.dwtn(pixels[:, :, c], wavelet="db2")["dd"]
        diagonal = diagonal[np.nonzero(diagonal)]
        sigmas.append(float(np.median(np.abs(diagonal))) / _NORMAL_Q75 if diagonal.size else 0.0)
    return float(np.mean(sigmas)) * 255.0


# Φ⁻¹(0.75): the 75th percentile of the standard normal distribution.
_NORMAL_Q75 = 0.6744897501960817
