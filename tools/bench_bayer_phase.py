"""The Bayer phase of camera noise against a network trained on it: the "InvDN" section of docs/BENCHMARKS.md.

``core.noise.camera`` mosaics an image on an RGGB pattern that starts at its top-left pixel; a
network trained on such patches expects that phase. One image with camera noise (seeded), the
network run four ways, PSNR against the clean image on the same pixels:

* the crop of even sides at (0, 0): no padding, the phase of training;
* the same crop at (1, 1): no padding, the mosaic shifted by one pixel;
* the whole image as inference pads it now (every tile starts on an even row and column);
* the whole image padded the old way (half the padding before, here one row and one column on
  top and left of a 481×321 image), then cropped back. ::

    taskset -c 0 python3 tools/bench_bayer_phase.py --image ../shared/data/testsets/CBSD68/101085.png
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--image", default="../shared/data/testsets/CBSD68/101085.png")
    parser.add_argument("--sigma", type=float, default=10.0, help="camera noise σ (0-255)")
    parser.add_argument("--method", default="invdn")
    parser.add_argument("--weights", default="invdn-lite-camera")
    parser.add_argument("--multiple", type=int, default=4, help="the side multiple the old padding was for")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    from denoise_studio.core.image import load_image
    from denoise_studio.core.method import RunContext
    from denoise_studio.core.metrics import psnr
    from denoise_studio.core.noise import add_noise
    from denoise_studio.methods import create_method

    torch.set_num_threads(1)
    clean = load_image(args.image).pixels
    noisy = add_noise(clean, "camera", args.sigma, np.random.default_rng(args.seed))
    method = create_method(args.method)
    params = method.default_params(noisy).replace(weights=args.weights)

    def denoise(x: np.ndarray) -> np.ndarray:
        final = [s for s in method.run(np.ascontiguousarray(x), params, RunContext(seed=args.seed)) if s.final][-1]
        assert final.image is not None
        return np.clip(final.image, 0.0, 1.0)

    m = args.multiple
    h, w = clean.shape[0] // m * m, clean.shape[1] // m * m
    ph, pw = -clean.shape[0] % m, -clean.shape[1] % m
    old = np.pad(noisy, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), mode="reflect")
    old_result = denoise(old)[ph // 2: ph // 2 + clean.shape[0], pw // 2: pw // 2 + clean.shape[1]]
    rows = [
        ("noisy input, crop at (0, 0)", noisy[:h, :w], clean[:h, :w]),
        (f"crop of {w}×{h} at (0, 0): the phase of training", denoise(noisy[:h, :w]), clean[:h, :w]),
        ("noisy input, crop at (1, 1)", noisy[1:h + 1, 1:w + 1], clean[1:h + 1, 1:w + 1]),
        (f"crop of {w}×{h} at (1, 1): shifted by one pixel", denoise(noisy[1:h + 1, 1:w + 1]), clean[1:h + 1, 1:w + 1]),
        ("whole image, padded as inference pads now", denoise(noisy)[:h, :w], clean[:h, :w]),
        ("whole image, the old padding (half before)", old_result[:h, :w], clean[:h, :w]),
    ]
    for label, result, reference in rows:
        print(f"{label:48s} {psnr(result, reference):6.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
