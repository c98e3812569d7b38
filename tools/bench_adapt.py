"""A self-supervised network adapted to each test image: the "Adapting to the image" table of
docs/BENCHMARKS.md ("AP-BSN and LG-BPN").

For each of the first ``--images`` images of ``--data`` (sorted by name) the noise of
``denoise-studio bench`` is drawn (``default_rng([seed, round(1000·σ), i])``) and saved as a
16-bit PNG; ``denoise-studio train METHOD --noisy THAT_IMAGE --init WEIGHTS --minutes M`` fine-tunes
the weights on that image alone, and the method is run on it twice, with the shipped weights
and with the adapted ones. Printed: PSNR / SSIM of both (mean over the images) and the training
seconds per image. ::

    taskset -c 0 python3 tools/bench_adapt.py --method ap_bsn --weights ap_bsn-lite --noise camera --sigma 10 --minutes 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--method", default="ap_bsn", help="a self-supervised network method (ap_bsn, lg_bpn)")
    parser.add_argument("--weights", default="ap_bsn-lite", help="the weights to start from")
    parser.add_argument("--data", default="../shared/data/testsets/CBSD68")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--noise", default="camera")
    parser.add_argument("--sigma", type=float, default=10.0)
    parser.add_argument("--minutes", type=float, default=2.0, help="fine-tuning budget per image")
    parser.add_argument("--seed", type=int, default=0, help="noise and method seed, as bench --seed")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    from bench_images import noisy_test_images

    from denoise_studio.cli import main as cli
    from denoise_studio.core.image import load_image, save_image
    from denoise_studio.core.method import RunContext, run_to_end
    from denoise_studio.core.metrics import psnr, ssim
    from denoise_studio.methods import get_entry

    method = get_entry(args.method).create()
    scores: dict[str, list[tuple[float, float]]] = {"shipped": [], "adapted": []}
    seconds = []
    with tempfile.TemporaryDirectory() as folder:
        for path, clean, noisy in noisy_test_images(args.data, args.images, args.noise, args.sigma, args.seed):
            noisy_file = Path(folder) / f"{path.stem}.png"
            save_image(noisy_file, noisy, bit_depth=16)
            adapted = Path(folder) / f"{path.stem}.safetensors"
            started = time.perf_counter()
            code = cli(["train", args.method, "--noisy", str(noisy_file), "--init", args.weights, "--minutes", str(args.minutes),
                        "--threads", str(args.threads), "--seed", str(args.seed), "--quiet", "--out", str(adapted)])
            if code != 0:
                return code
            seconds.append(time.perf_counter() - started)
            noisy16 = load_image(noisy_file).pixels  # what the training saw
            for label, weights in (("shipped", args.weights), ("adapted", str(adapted))):
                params = method.Params.from_dict({"weights": weights})
                result = run_to_end(method, noisy16, params, RunContext(seed=args.seed)).image
                assert result is not None
                result = np.clip(result, 0.0, 1.0)
                scores[label].append((psnr(result, clean), ssim(result, clean)))
            print(f"{path.name}: shipped {scores['shipped'][-1][0]:.2f} dB, adapted {scores['adapted'][-1][0]:.2f} dB", file=sys.stderr, flush=True)
    print(f"| {args.noise} σ {args.sigma:g} ({len(seconds)} images) | shipped weights | adapted, {args.minutes:g} min per image | training s / image |")
    print("|---|---|---|---|")
    shipped, adapted = np.mean(scores["shipped"], axis=0), np.mean(scores["adapted"], axis=0)
    print(f"| {args.method} ({args.weights}) | {shipped[0]:.2f} / {shipped[1]:.3f} | {adapted[0]:.2f} / {adapted[1]:.3f} | {np.mean(seconds):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
