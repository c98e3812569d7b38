"""Camera RAW files through rawpy (LibRaw), an optional extra: ``pip install "denoise-studio[raw]"``.

A RAW file opens as the camera would render it: demosaiced, white-balanced as shot, in sRGB with
the sRGB tone curve, at 16 bits per channel, and turned upright (LibRaw applies the orientation).
``linear=True`` keeps the same colours without the tone curve and without brightening: linear
sRGB, for methods and measurements that want values proportional to light.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from denoise_studio.core.errors import ImageError

RAW_FORMATS = (".dng", ".cr2", ".cr3", ".nef", ".arw", ".rw2", ".orf", ".raf", ".pef", ".srw")
INSTALL_HINT = 'pip install "denoise-studio[raw]"'
SRGB_TONE_CURVE = (2.4, 12.92)  # LibRaw's (power, toe slope) for the sRGB curve
LINEAR = (1.0, 1.0)


def read_raw(path: Path, display: str, *, linear: bool = False) -> np.ndarray:
    """H×W×3 uint16 RGB of a camera RAW file, rendered (or linear) sRGB.

    Raises :class:`ImageError` when rawpy is not installed or the file cannot be decoded.
    """
    try:
        import rawpy
    except ImportError:
        raise ImageError(f"{display}: opening camera RAW files needs rawpy; install it with: {INSTALL_HINT}") from None
    try:
        with rawpy.imread(os.fspath(path)) as raw:
            rgb = raw.postprocess(
                output_bps=16,
                use_camera_wb=True,
                output_color=rawpy.ColorSpace.sRGB,
                gamma=LINEAR if linear else SRGB_TONE_CURVE,
                no_auto_bright=linear,
            )
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise ImageError(f"{display}: cannot decode this RAW file ({type(exc).__name__}: {exc or 'corrupt or unsupported'})") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.size == 0:
        raise ImageError(f"{display}: the RAW decoder returned no RGB image")
    return np.ascontiguousarray(rgb, dtype=np.uint16)
