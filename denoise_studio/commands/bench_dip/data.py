"""The benchmark's crops: centre crops of the first images of a folder, with seeded noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from denoise_studio.core.errors import UserError


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    size = min(size, h, w)
    top, left = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(image[top : top + size, left : left + size])


def load_crops(folder: str, count: int, size: int, sigma: float, seed: int, offset: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, clean, noisy) for the first ``count`` images of ``folder`` (sorted by name).

    ``offset`` skips the first images; image ``i`` always gets noise seed ``seed + i``."""
    from denoise_studio.core.image import load_image
    from denoise_studio.core.noise import add_noise

    paths = sorted(p for p in Path(folder).glob("*.png"))[:count]
    if not paths:
        raise UserError(f"no PNG images in {folder}")
    out = []
    for i, path in enumerate(paths):
        if i < offset:
            continue
        clean = centre_crop(load_image(str(path)).pixels, size)
        noisy = add_noise(clean, "gaussian", sigma, np.random.default_rng(seed + i), clip=True)
        out.append((path.stem, clean, noisy))
    return out
