"""The estimated PSNR that ``denoise IN --json`` reports: Monte-Carlo SURE (``core/quality.py``).

The input is a real photo as far as the command knows: white Gaussian noise of the σ given with
``--noise-sigma``, else of the σ estimated from it; a JPEG file, an iterative method or a method
that rounds its 8-bit input get ``value: null`` and the reason. The estimate reruns the method
twice (the probes, same seed and parameters); ``--no-estimate`` skips them.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np


def estimated_psnr(args: argparse.Namespace, method: Any, params: Any, pixels: np.ndarray, result: np.ndarray) -> dict[str, Any]:
    """``{"value", "spread", "sigma", "sigma_source", "reason", ...}`` for the JSON report."""
    from denoise_studio.core import quality
    from denoise_studio.core.method import RunContext, run_to_end

    if getattr(args, "no_estimate", False):
        return quality.not_valid("not asked for (--no-estimate)").to_dict()

    def denoiser(probed: np.ndarray) -> np.ndarray:
        final = run_to_end(method, probed, params, RunContext(seed=args.seed, device=args.device))
        assert final.image is not None
        return final.image

    try:
        estimate = quality.estimate_psnr(pixels, result, denoiser, sigma=getattr(args, "noise_sigma", None),
                                         iterative=bool(method.iterative), source=str(args.input), seed=args.seed)
    except MemoryError:  # the sums hold several float64 copies of the image: a huge photo may not fit
        return quality.not_valid("not enough memory for the estimate on an image this large").to_dict()
    return estimate.to_dict()
