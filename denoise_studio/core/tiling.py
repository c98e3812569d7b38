"""Size requirements of networks, satisfied by padding and cropping back.

A network declares what input sizes it accepts (:class:`SizeRequirements`); the code that calls
it pads the image by reflection with :func:`pad_to_requirements` and crops the result back with
:func:`crop_padding`. Methods never check ``% 8`` themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SizeRequirements:
    """Input sizes a network accepts: each side a multiple of ``multiple_of``, at least ``minimum``."""

    multiple_of: int = 1
    minimum: int = 1

    def __post_init__(self) -> None:
        if self.multiple_of < 1 or self.minimum < 1:
            raise ValueError("multiple_of and minimum must be positive")

    def padded_size(self, size: int) -> int:
        """The smallest accepted side length that is at least ``size``."""
        size = max(size, self.minimum)
        return -(-size // self.multiple_of) * self.multiple_of


@dataclass(frozen=True)
class Padding:
    """How much was added on each side, so that :func:`crop_padding` can take it off."""

    top: int
    bottom: int
    left: int
    right: int


def pad_to_requirements(image: np.ndarray, req: SizeRequirements, mode: str = "reflect") -> tuple[np.ndarray, Padding]:
    """Pad an H×W[×C] image so both sides meet ``req``; padding is split between both sides.

    Reflection padding is used where the image is large enough for it, else edge replication
    (numpy's reflect needs the pad to be smaller than the side).
    """
    h, w = image.shape[:2]
    ph, pw = req.padded_size(h) - h, req.padded_size(w) - w
    pad = Padding(ph // 2, ph - ph // 2, pw // 2, pw - pw // 2)
    if ph == 0 and pw == 0:
        return image, pad
    widths = [(pad.top, pad.bottom), (pad.left, pad.right)] + [(0, 0)] * (image.ndim - 2)
    use = mode if (mode != "reflect" or (max(pad.top, pad.bottom) < h and max(pad.left, pad.right) < w)) else "edge"
    return np.pad(image, widths, mode=use), pad  # type: ignore[call-overload]


def crop_padding(image: np.ndarray, pad: Padding) -> np.ndarray:
    """Undo :func:`pad_to_requirements` on an H×W[×C] array (or the last two axes of a tensor-like)."""
    h, w = image.shape[:2]
    return image[pad.top : h - pad.bottom, pad.left : w - pad.right]
