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


def estimated_psnr(args: argparse.Namespace, method: Any, params: Any, pixels: np.ndarray, result: np.ndarray,
                   origin: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    """``{"value", "spread", "sigma", "sigma_source", "reason", ...}`` for the JSON report."""
    from denoise_studio.core import quality

    if getattr(args, "no_estimate", False):
        return quality.not_valid("not asked for (--no-estimate)").to_dict()
    return quality.estimate_method_run(method, pixels, result, params, seed=args.seed, device=args.device,
                                       sigma=getattr(args, "noise_sigma", None), source=str(args.input), origin=origin).to_dict()
