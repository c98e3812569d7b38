"""Tiled inference on a 12-megapixel photograph: the figures under "FormResNet and DiffResNet"
in docs/BENCHMARKS.md.

Part 1: the astronaut sample resized to 4000×3000, Gaussian noise σ 25 (seed 0), through a
network method with its default parameters (tiles chosen from the free memory) in this one
process; printed: the tile side used, the seconds, the resident memory before the run and its
peak (``getrusage``). Part 2: on a 1024×1024 crop, the result with ``--small-tile``-pixel tiles
against the whole-image result (one tile), largest difference on the 0–255 scale. ::

    taskset -c 0 python3 tools/bench_tiling.py --method formresnet --threads 1
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np


def _rss_mib() -> float:
    """Peak resident memory of this process so far (MiB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--method", default="formresnet")
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--small-tile", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-large", action="store_true", help="only the seam check of part 2")
    args = parser.parse_args(argv)

    import cv2
    import torch

    from denoise_studio.core.image import load_image
    from denoise_studio.core.method import RunContext, run_to_end
    from denoise_studio.core.noise import add_noise
    from denoise_studio.methods import get_entry

    torch.set_num_threads(args.threads)
    method = get_entry(args.method).create()
    sample = load_image("sample:astronaut").pixels
    if not args.skip_large:
        photo = cv2.resize(sample, (args.width, args.height), interpolation=cv2.INTER_CUBIC)
        noisy = add_noise(np.clip(photo, 0, 1), "gaussian", args.sigma, np.random.default_rng(0), clip=False)
        before = _current_rss_mib()
        started = time.perf_counter()
        final = run_to_end(method, noisy, method.default_params(noisy), RunContext(seed=0))
        seconds = time.perf_counter() - started
        print(f"{args.width}×{args.height}: tile {final.info.get('tile_size')} px, {seconds:.0f} s, "
              f"resident memory {before / 1024:.1f} GiB before, peak {_rss_mib() / 1024:.1f} GiB "
              f"(the float32 input alone: {noisy.nbytes / 2**20:.0f} MiB)")
    crop = cv2.resize(sample, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    noisy = add_noise(np.clip(crop, 0, 1), "gaussian", args.sigma, np.random.default_rng(1), clip=False)
    whole = run_to_end(method, noisy, method.default_params(noisy).replace(tile_size=1024), RunContext(seed=0)).image
    tiled = run_to_end(method, noisy, method.default_params(noisy).replace(tile_size=args.small_tile), RunContext(seed=0)).image
    assert whole is not None and tiled is not None
    print(f"1024×1024: {args.small_tile}-px tiles against one tile: largest difference {255 * float(np.abs(whole - tiled).max()):.5f} / 255")
    return 0


if __name__ == "__main__":
    sys.exit(main())
