"""``denoise-studio denoise``: one image, or every image of a folder, with one method.

    denoise-studio denoise IN -o OUT (-m METHOD | --recipe SIDECAR) [-p key=value ...] [--reference CLEAN]
    denoise-studio denoise DIR_OR_GLOB -o OUTDIR (-m METHOD | --recipe SIDECAR) [--overwrite] [--jobs N]

``--recipe`` takes the method, parameters and seed of a saved result (its JSON sidecar: found
the right settings on one photo, apply them to all); ``-p`` still overrides single parameters.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from denoise_studio.commands.denoise.folder import is_batch, run_folder
from denoise_studio.commands.denoise.one import curve_csv, peak_metrics, run_one
from denoise_studio.core.errors import UserError

__all__ = ["add_arguments", "curve_csv", "peak_metrics", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="noisy image file, sample:NAME, a folder, or a quoted glob such as 'photos/*.png'")
    parser.add_argument("-o", "--output", required=True, help="the result (PNG, TIFF, JPEG, BMP, WebP); for a folder or glob, the output folder")
    parser.add_argument("-m", "--method", help="method id (see `denoise-studio methods`); or --recipe")
    parser.add_argument("--recipe", metavar="SIDECAR", help="use the method, parameters and seed of a saved result (its .json sidecar)")
    parser.add_argument(
        "-p", "--param", action="append", default=[], metavar="KEY=VALUE",
        help="set a parameter (repeatable); 'none' or 'auto' empties an optional one",
    )
    parser.add_argument("--reference", help="clean image to measure PSNR/SSIM against (never used by the method)")
    parser.add_argument("--region", metavar="X,Y,W,H", help="run on this rectangle only (pixels), as the window's Region only; the output is the rectangle")
    parser.add_argument("--seed", type=int, default=None, help="seed of the run (default: the recipe's, else 0)")
    parser.add_argument("--device", default="cpu", help="torch device for network methods: cpu, cuda, cuda:1, mps (default cpu)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the run's figures (a folder: one per file and a summary)")
    parser.add_argument("--stop", metavar="RULE", help="early-stopping rule of an iterative method (sets its stop_rule parameter)")
    parser.add_argument("--curve", metavar="CSV", help="write one row per snapshot: step, loss and every scalar reported")
    parser.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                        help="a folder run denoises N images at once, in N processes of one CPU thread each (default 1)")
    parser.add_argument("--bit-depth", type=int, choices=(8, 16, 32), metavar="{8,16,32}",
                        help="bits per sample of the output (default: the input's; 16 for PNG and TIFF, 32 float for TIFF only)")
    parser.add_argument("--raw", choices=("rendered", "linear"), default="rendered",
                        help="a camera RAW input opens as the camera-rendered sRGB image (default) or as linear sRGB")
    parser.add_argument("--overwrite", action="store_true", help="a folder run replaces outputs that exist (default: skip them, so a stopped run resumes)")
    parser.add_argument("--noise-sigma", type=float, metavar="S", help="the noise σ of the input (0–255) for the estimated PSNR of --json (default: estimated)")
    parser.add_argument("--no-estimate", action="store_true", help="--json without the estimated PSNR (it runs the method twice more)")
    parser.add_argument("--quiet", action="store_true", help="no progress or summary on stderr")


def run(args: argparse.Namespace) -> int:
    recipe = read_recipe(args.recipe) if args.recipe else None
    method_id = args.method or (recipe or {}).get("method")
    if not method_id:
        raise UserError("name the method with -m METHOD, or give --recipe SIDECAR")
    if recipe is not None and args.method and args.method != recipe.get("method"):
        raise UserError(f"-m {args.method} and the recipe's method {recipe.get('method')} differ; give one")
    if args.noise_sigma is not None and not 0 <= args.noise_sigma <= 255:
        raise UserError(f"--noise-sigma must lie in [0, 255], not {args.noise_sigma:g}")
    if args.seed is None:
        args.seed = int((recipe or {}).get("seed", 0))
    if is_batch(args.input):
        return run_folder(args, method_id, recipe)
    if args.jobs != 1:
        raise UserError("--jobs goes with a folder or a glob of images, not one image")
    return run_one(args, method_id, recipe)


def read_recipe(path: str) -> dict[str, Any]:
    """The sidecar of a saved result (or the result itself, whose sidecar lies beside it)."""
    from denoise_studio.core.sidecar import read_sidecar

    record = read_sidecar(Path(path))
    if not record.get("method"):
        raise UserError(f"{path}: the sidecar names no method")
    return record
