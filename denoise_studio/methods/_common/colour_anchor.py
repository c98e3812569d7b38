"""Keeping the input's local colour: a network's result takes its low frequencies from its input.

Zero-mean noise has almost no energy at low spatial frequencies, so the local mean of a noisy
image over a few pixels is already the clean image's, to a fraction of a level. A denoiser that
shifts it (the colour casts of the blind-spot networks, several 8-bit levels on flat colour and
on real photographs, issue 15) gets it back here:

    result' = result + G_s * (noisy − result)

with G_s a Gaussian of standard deviation s pixels: what varies faster than s stays the
network's, what varies slower is the input's. The noise it lets back through is that of the
input low-passed by G_s: for white noise of deviation σ, σ / (2 s √π), 0.7 levels at σ 10 and
s = 4 (more for a demosaicked camera's noise, which is correlated over about two pixels).

The scale is a trade: a smaller s gives back more of the input (better on mild noise, where the
networks lose detail), a larger one less of its noise (better on strong noise). s = 4 was the
best compromise of 2, 3, 4, 6, 8, 16 and 32 on AP-BSN and LG-BPN (CBSD68 and McMaster camera
σ 10 / 25, the mild-noise crop); a scale read from the image's noise level was tried and
dropped: the blind-spot estimate of the level follows texture as much as noise
(``docs/BENCHMARKS.md``, "Keeping the input's colour").

Not in the AP-BSN or LG-BPN papers. It is wrong for noise whose local mean is not the image's
(salt-and-pepper, clipped noise near black and white), which is why only the methods sold for
zero-mean camera noise use it. Clipping is what the ``clip_guard`` answers: noise clipped at 0
and 1 has a local mean above the image's near black and below it near white, and McMaster's
saturated colours are full of such channels. With ``clip_guard`` g the anchor leaves alone the
pixels whose result is within g of 0 or 1. On InvDN (camera weights; CBSD68 and McMaster[:4],
camera σ 10 / 25) the plain anchor cost McMaster 2.1–2.7 dB, and anchoring in linear light
(gamma undone) 3.8–4.6; with a guard of 0.2 it costs nothing (±0.1 dB) and still removes the
flat casts (1.6 levels → 0.0). The blind-spot networks keep the plain anchor: their own errors
near black and white are what it corrects there (a guard of 0.2 cost AP-BSN 0.4–1.0 dB on
McMaster; ``tools/bench_colour_anchor.py --guard``).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from denoise_studio.core.params import param

# The Gaussian's standard deviation, pixels (see the module docstring).
ANCHOR_SIGMA = 4.0
# How near black or white a result's channel may be and still be anchored, for the methods that
# guard against clipped noise (see the module docstring).
CLIP_GUARD = 0.2


def keep_colour_param(sigma: float, robust: bool) -> Any:
    """The ``keep_colour`` parameter of a method that ends with the anchor (on by default)."""
    how = "through block medians, so impulse noise barely moves it" if robust else "for zero-mean noise only, not salt-and-pepper"
    return param(True, title="Keep colour",
                 description=f"take what varies slower than about {sigma:g} px from the input ({how}), so the network cannot "
                             "shift colours or brightness; off: the network's own output")


def low_pass(image: np.ndarray, sigma: float) -> np.ndarray:
    """Each channel of an H×W×C image blurred by a Gaussian of ``sigma`` pixels (mirrored borders)."""
    blurred = cv2.GaussianBlur(np.ascontiguousarray(image, dtype=np.float32), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return blurred.reshape(image.shape)


def robust_low_pass(image: np.ndarray, sigma: float) -> np.ndarray:
    """:func:`low_pass` of the medians of blocks of 2·``sigma`` pixels, interpolated between block
    centres: outliers on fewer than half of a block's pixels (impulse noise) barely move it."""
    image = np.atleast_3d(image)
    h, w, c = image.shape
    block = max(2, int(round(2 * sigma)))
    padded = np.pad(image, ((0, -h % block), (0, -w % block), (0, 0)), mode="reflect")
    rows, cols = padded.shape[0] // block, padded.shape[1] // block
    medians = np.median(padded.reshape(rows, block, cols, block, c), axis=(1, 3)).astype(np.float32)
    spread = cv2.resize(medians, (cols * block, rows * block), interpolation=cv2.INTER_LINEAR)
    return low_pass(spread.reshape(rows * block, cols * block, c)[:h, :w], sigma)


def anchor_low_frequencies(noisy: np.ndarray, result: np.ndarray, sigma: float = ANCHOR_SIGMA, robust: bool = False,
                           clip_guard: float = 0.0) -> np.ndarray:
    """``result`` with the frequencies slower than ``sigma`` pixels replaced by those of ``noisy``;
    ``robust`` reads them through block medians (:func:`robust_low_pass`); channels of ``result``
    within ``clip_guard`` of 0 or 1 are not anchored (see the module docstring)."""
    noisy = np.atleast_3d(np.asarray(noisy, dtype=np.float32))
    result = np.atleast_3d(np.asarray(result, dtype=np.float32))
    if noisy.shape != result.shape:
        raise ValueError(f"shapes differ: {noisy.shape}, {result.shape}")
    if sigma <= 0:
        raise ValueError(f"the anchor's scale must be positive, got {sigma}")
    difference = noisy - result
    if clip_guard > 0:
        difference *= (result > clip_guard) & (result < 1.0 - clip_guard)
    return result + (robust_low_pass if robust else low_pass)(difference, sigma)
