"""``denoise-studio noise IN -o OUT --model M --sigma S --seed N``: add seeded synthetic noise to an image."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from denoise_studio.commands.common import check_output_path
from denoise_studio.core.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from denoise_studio.core.noise import NOISE_DESCRIPTIONS, NOISE_MODELS

    models = "; ".join(f"{k}: {v}" for k, v in NOISE_DESCRIPTIONS.items())
    parser.add_argument("input", help="clean image file, or sample:NAME")
    parser.add_argument("-o", "--output", required=True, help="where to write the noisy image")
    parser.add_argument("--model", default="gaussian", choices=list(NOISE_MODELS), help=f"noise model ({models})")
    parser.add_argument("--sigma", type=float, default=25.0, help="strength on the 0–255 scale (default 25)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise generator (default 0)")
    parser.add_argument(
        "--jpeg-quality", type=int, default=None,
        help="camera model: JPEG-compress at this quality; jpeg model: override the quality 100−2σ",
    )

def run(args: argparse.Namespace) -> int:
    from denoise_studio.core.image import load_image, save_image
    from denoise_studio.core.noise import add_noise

    if not (0 <= args.sigma <= 255):
        raise UserError(f"--sigma must lie in [0, 255], not {args.sigma:g}")
    if args.jpeg_quality is not None:
        if not 1 <= args.jpeg_quality <= 100:
            raise UserError(f"--jpeg-quality must lie in [1, 100], not {args.jpeg_quality}")
        if args.model not in ("camera", "jpeg"):
            raise UserError("--jpeg-quality applies only to the camera and jpeg models")
    out = check_output_path(args.output, args.input)
    image = load_image(args.input)
    options: dict[str, Any] = {}
    if args.jpeg_quality is not None:
        options["jpeg_quality" if args.model == "camera" else "quality"] = args.jpeg_quality
    noisy = add_noise(image.pixels, args.model, args.sigma, args.seed, **options)
    save_image(out, noisy, bit_depth=image.bit_depth, alpha=image.alpha, protected=(image.source,))
    print(f"wrote {out} ({args.model} noise, σ {args.sigma:g}, seed {args.seed})", file=sys.stderr)
    return 0
