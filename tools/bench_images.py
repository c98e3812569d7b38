"""The test images of the tools' tables with the noise ``denoise-studio bench`` draws for them.

Image ``i`` (sorted by name) at σ gets the noise of ``numpy.random.default_rng([seed,
round(1000·σ), i])``, Gaussian noise unclipped, as in ``commands/bench``; so a tool's table and
the bench's tables see the same noisy images.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np


def noisy_test_images(folder: str, count: int, noise: str, sigma: float, seed: int = 0) -> Iterator[tuple[Path, np.ndarray, np.ndarray]]:
    """(path, clean, noisy) for the first ``count`` PNG images of ``folder``; SystemExit when there is none."""
    from denoise_studio.core.image import load_image
    from denoise_studio.core.noise import add_noise

    paths = sorted(Path(folder).glob("*.png"))[:count]
    if not paths:
        raise SystemExit(f"no PNG images in {folder}")
    for index, path in enumerate(paths):
        clean = load_image(str(path)).pixels
        rng = np.random.default_rng([seed, int(round(1000 * sigma)), index])
        options = {"clip": False} if noise == "gaussian" else {}
        yield path, clean, add_noise(clean, noise, sigma, rng, **options)
