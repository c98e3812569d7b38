"""``denoise-studio generate-noise``: new noisy versions of a noisy image with InvDN.

InvDN (``methods/invdn.py``) encodes a noisy image into a clean low-resolution image and a latent
that carries the noise; redrawing the latent's fine-scale realisation and inverting gives the
same picture with new noise of the same character (Liu et al., CVPR 2021, noise generation). The command
writes ``--count`` such images and, unless ``--no-stats``, compares the generated noise with the
real one: the standard deviation and the neighbour correlations of ``image − denoised``, where
``denoised`` is InvDN's Monte Carlo restoration of the input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from denoise_studio.core.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="noisy image file, or sample:NAME")
    parser.add_argument("-o", "--output", required=True, help="where to write the result; with --count N > 1, NAME-1.png ... NAME-N.png")
    parser.add_argument("--count", type=int, default=1, help="how many noisy versions to write (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first version; version i uses seed + i (default 0)")
    parser.add_argument("--weights", default="auto", help="InvDN weights: a name from `denoise-studio methods` or a .safetensors file (default: auto)")
    parser.add_argument("--strength", type=float, default=1.0, help="0 keeps the input's noise, 1 draws a completely new realisation (default 1)")
    parser.add_argument("--samples", type=int, default=8, help="latent samples of the restoration the statistics are measured against (default 8)")
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps, auto (default cpu)")
    parser.add_argument("--no-stats", action="store_true", help="do not measure the noise (saves one restoration)")
    parser.add_argument("--json", action="store_true", help="print the outputs and statistics as one JSON object")


def output_paths(output: str | Path, count: int) -> list[Path]:
    """``OUT`` for one version, ``OUT-1`` ... ``OUT-N`` (same suffix) for several."""
    out = Path(output)
    if count == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(1, count + 1)]


def run(args: argparse.Namespace) -> int:
    from denoise_studio.core.image import load_image, save_image
    from denoise_studio.core.method import RunContext, run_to_end
    from denoise_studio.methods.invdn import DENOISE, GENERATE, InvDN, noise_statistics

    if args.count < 1:
        raise UserError("--count must be at least 1")
    if not 0.0 <= args.strength <= 1.0:
        raise UserError("--strength must lie in [0, 1]")
    if args.samples < 1:
        raise UserError("--samples must be at least 1")
    image = load_image(args.input)
    method = InvDN()
    params = method.Params.from_dict({"weights": args.weights, "mode": GENERATE, "strength": args.strength})
    # Resolve the weights now, so that a missing or wrong file is one clear line, not a traceback.
    entry = method.resolve_weights(params)
    paths = output_paths(args.output, args.count)
    noisy = image.pixels
    report: dict[str, Any] = {"weights": str(entry.path), "outputs": [], "strength": args.strength}
    generated = []
    for i, path in enumerate(paths):
        snap = run_to_end(method, noisy, params, RunContext(seed=args.seed + i, device=args.device))
        assert snap.image is not None
        written = save_image(path, snap.image, bit_depth=image.bit_depth, protected=(args.input,))
        report["outputs"].append(str(written))
        generated.append(snap.image)
        if not args.json:
            print(f"wrote {written}", file=sys.stderr)
    if not args.no_stats:
        restore = method.Params.from_dict({"weights": args.weights, "mode": DENOISE, "samples": args.samples})
        denoised = run_to_end(method, noisy, restore, RunContext(seed=args.seed, device=args.device)).image
        assert denoised is not None
        real = noise_statistics(noisy - denoised)
        fakes = [noise_statistics(g - denoised) for g in generated]
        report["real"] = real
        report["generated"] = fakes
        if not args.json:
            _print_table(real, fakes)
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


def _print_table(real: dict[str, float], fakes: list[dict[str, float]]) -> None:
    keys = [k for k in ("std", "corr_x", "corr_y", "corr_c") if k in real]
    print("noise = image − InvDN restoration of the input   (std on the 0–255 scale)")
    print(f"{'':12s}" + "".join(f"{k:>10s}" for k in keys))
    print(f"{'real':12s}" + "".join(f"{real[k]:10.3f}" for k in keys))
    for i, fake in enumerate(fakes, 1):
        print(f"{f'generated {i}':12s}" + "".join(f"{fake[k]:10.3f}" for k in keys))
