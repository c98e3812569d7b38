"""Synthetic noise models.

Every model takes a clean H×W×C image in [0, 1], a strength ``sigma`` on the 0–255 scale and an
explicit :class:`numpy.random.Generator`, and returns a new float32 image clipped to [0, 1]
(except ``gaussian`` with ``clip=False``). What ``sigma`` means for each model:

=================  ==========================================================================
``gaussian``       standard deviation of additive white Gaussian noise (σ/255 in [0, 1] units)
``poisson-gaussian`` total noise standard deviation at mid-grey (x = 0.5); half of that
                   variance is signal-dependent (Poisson, variance ∝ x), half constant (read noise)
``speckle``        standard deviation of multiplicative Gaussian noise: x·(1 + n), n ~ N(0, (σ/255)²)
``salt-pepper``    fraction of pixels replaced by 0 or 1 is σ/255 (σ = 25 → 9.8 %), half each
``jpeg``           JPEG compression at quality max(1, 100 − 2σ) (σ = 25 → quality 50)
``camera``         camera-like, spatially correlated noise: the image is taken to linear light,
                   mosaicked on an RGGB Bayer pattern, given Poisson–Gaussian noise whose total
                   standard deviation at mid-grey is σ/255 in the raw domain, demosaicked
                   (bilinear), gamma-encoded again, and optionally JPEG-compressed
=================  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

NoiseModel = Callable[..., np.ndarray]


def gaussian(clean: np.ndarray, sigma: float, rng: np.random.Generator, clip: bool = True) -> np.ndarray:
    """Additive white Gaussian noise, σ on the 0–255 scale.

    Benchmarks of Gaussian denoisers add unclipped noise (the published BM3D, DnCNN and SwinIR
    tables do); ``clip=False`` reproduces that, ``clip=True`` gives a displayable image.
    """
    noisy = clean + rng.standard_normal(clean.shape, dtype=np.float32) * np.float32(sigma / 255.0)
    return _finish(noisy, clip)


def poisson_gaussian(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Heteroscedastic noise, variance a·x + b, with a·0.5 = b = (σ/255)²/2 (Foi et al. 2008)."""
    a, b = _poisson_gaussian_coefficients(sigma)
    return np.clip(_poisson_gaussian_raw(clean, a, b, rng), 0.0, 1.0).astype(np.float32)


def _poisson_gaussian_coefficients(sigma: float) -> tuple[float, float]:
    variance = (sigma / 255.0) ** 2
    return variance, variance / 2.0  # a·0.5 = variance/2 = b


def _poisson_gaussian_raw(x: np.ndarray, a: float, b: float, rng: np.random.Generator) -> np.ndarray:
    if a > 0:
        signal = rng.poisson(np.clip(x, 0.0, None) / a).astype(np.float32) * np.float32(a)
    else:
        signal = x.astype(np.float32)
    return signal + rng.standard_normal(x.shape, dtype=np.float32) * np.float32(np.sqrt(b))


def speckle(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative noise x·(1 + n), n ~ N(0, (σ/255)²)."""
    n = rng.standard_normal(clean.shape, dtype=np.float32) * np.float32(sigma / 255.0)
    return _finish(clean * (1.0 + n), True)


def salt_pepper(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Impulse noise: a fraction σ/255 of the pixels (all channels) set to 0 or 1."""
    amount = min(sigma / 255.0, 1.0)
    noisy = clean.astype(np.float32, copy=True)
    h, w = clean.shape[:2]
    hit = rng.random((h, w)) < amount
    salt = rng.random((h, w)) < 0.5
    noisy[hit & salt] = 1.0
    noisy[hit & ~salt] = 0.0
    return noisy


def jpeg_quality_for(sigma: float) -> int:
    """The JPEG quality the ``jpeg`` model uses for a strength σ."""
    return int(np.clip(round(100 - 2 * sigma), 1, 100))


def jpeg(clean: np.ndarray, sigma: float, rng: np.random.Generator | None = None, quality: int | None = None) -> np.ndarray:
    """JPEG compression artefacts at quality max(1, 100 − 2σ) (``rng`` unused: deterministic)."""
    return _jpeg_roundtrip(clean, quality if quality is not None else jpeg_quality_for(sigma))


def _jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    eight = np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)
    bgr = eight[:, :, ::-1] if eight.shape[2] == 3 else eight[:, :, 0]
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(bgr), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise RuntimeError("JPEG decoding failed")
    if decoded.ndim == 2:
        decoded = decoded[:, :, None]
    else:
        decoded = decoded[:, :, ::-1]
    return np.ascontiguousarray(decoded, dtype=np.float32) / np.float32(255.0)


GAMMA = 2.2


def camera(clean: np.ndarray, sigma: float, rng: np.random.Generator, jpeg_quality: int | None = None) -> np.ndarray:
    """Camera-like, spatially correlated noise (what AP-BSN and LG-BPN are made for).

    1. sRGB-like gamma 2.2 is undone to get linear light;
    2. the image is mosaicked on an RGGB Bayer pattern (one colour sample per pixel);
    3. Poisson–Gaussian noise, total σ/255 at mid-grey, is added to the raw samples;
    4. the mosaic is demosaicked bilinearly, which spreads each sample's noise over its
       neighbours (the correlation), gamma is applied again, and
    5. optionally, JPEG compression at ``jpeg_quality``.

    A grayscale image goes through the same pipeline as an RGB image of three equal channels
    and is averaged back to one channel.
    """
    rgb = np.repeat(clean, 3, axis=2) if clean.shape[2] == 1 else clean
    linear = np.power(np.clip(rgb, 0.0, 1.0), GAMMA).astype(np.float32)
    h, w = linear.shape[:2]
    # Demosaicking needs even sides; pad by one row/column and crop back.
    he, we = h + (h % 2), w + (w % 2)
    padded = cv2.copyMakeBorder(linear, 0, he - h, 0, we - w, cv2.BORDER_REFLECT_101)
    mosaic = np.empty((he, we), np.float32)
    mosaic[0::2, 0::2] = padded[0::2, 0::2, 0]  # R
    mosaic[0::2, 1::2] = padded[0::2, 1::2, 1]  # G
    mosaic[1::2, 0::2] = padded[1::2, 0::2, 1]  # G
    mosaic[1::2, 1::2] = padded[1::2, 1::2, 2]  # B
    a, b = _poisson_gaussian_coefficients(sigma)
    raw = np.clip(_poisson_gaussian_raw(mosaic, a, b, rng), 0.0, 1.0)
    raw16 = np.rint(raw * 65535).astype(np.uint16)
    # OpenCV's Bayer names count from the second row/column: an RGGB sensor is "BayerBG" → RGB.
    demosaicked = cv2.cvtColor(raw16, cv2.COLOR_BayerBG2RGB).astype(np.float32) / 65535.0
    demosaicked = demosaicked[:h, :w]
    noisy = np.power(np.clip(demosaicked, 0.0, 1.0), 1.0 / GAMMA).astype(np.float32)
    if clean.shape[2] == 1:
        noisy = noisy.mean(axis=2, keepdims=True)
    if jpeg_quality is not None:
        noisy = _jpeg_roundtrip(noisy, jpeg_quality)
    return noisy


def _finish(noisy: np.ndarray, clip: bool) -> np.ndarray:
    noisy = noisy.astype(np.float32, copy=False)
    return np.clip(noisy, 0.0, 1.0) if clip else noisy


NOISE_MODELS: dict[str, NoiseModel] = {
    "gaussian": gaussian,
    "poisson-gaussian": poisson_gaussian,
    "speckle": speckle,
    "salt-pepper": salt_pepper,
    "jpeg": jpeg,
    "camera": camera,
}

NOISE_DESCRIPTIONS: dict[str, str] = {
    "gaussian": "additive white Gaussian noise; σ is its standard deviation (0–255)",
    "poisson-gaussian": "signal-dependent Poisson plus Gaussian read noise; σ is the total std at mid-grey",
    "speckle": "multiplicative Gaussian noise x·(1+n); σ is the std of n (0–255 scale)",
    "salt-pepper": "impulse noise; a fraction σ/255 of the pixels becomes black or white",
    "jpeg": "JPEG compression at quality 100 − 2σ",
    "camera": "camera-like correlated noise: Poisson–Gaussian on a Bayer mosaic, demosaicked, gamma",
}


def add_noise(clean: np.ndarray, model: str, sigma: float, rng: np.random.Generator | int, **options: object) -> np.ndarray:
    """Apply the named noise model; ``rng`` may be a seed."""
    if model not in NOISE_MODELS:
        raise ValueError(f"unknown noise model {model!r}; models: {', '.join(NOISE_MODELS)}")
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"noise strength must be a non-negative number, not {sigma}")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return NOISE_MODELS[model](clean.astype(np.float32, copy=False), sigma, generator, **options)
