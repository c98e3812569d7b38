"""InvDN noise generation against the real noise: the "Noise generation" tables of docs/BENCHMARKS.md.

For each of the first ``--images`` images of ``--data`` (sorted by name), the noise of
``denoise-studio bench`` (the same seeded draw: ``default_rng([seed, round(1000·σ), i])``) is
added and compared, with ``methods.invdn.noise_statistics`` (std on the 0–255 scale, lag-1
correlations along x and y and between colour channels), three ways:

* true noise: noisy − clean;
* real, as measured: noisy − restored, the restoration InvDN's ``--samples``-sample average;
* generated at each ``--strengths``: InvDN's generate mode (seed ``--generation-seed``) − restored,

each row the mean over the images. ::

    taskset -c 0 python3 tools/bench_noise_generation.py --noise gaussian --sigma 25 --weights invdn-lite
    taskset -c 0 python3 tools/bench_noise_generation.py --noise camera --sigma 25 --weights invdn-lite-camera
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

KEYS = ("std", "corr_x", "corr_y", "corr_c")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", default="../shared/data/testsets/CBSD68", help="folder of clean images")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--noise", default="gaussian", help="noise model of core.noise (gaussian, camera, ...)")
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--weights", default="auto", help="InvDN weights name or .safetensors file")
    parser.add_argument("--strengths", default="1,0.5,0.25")
    parser.add_argument("--samples", type=int, default=8, help="latent samples of the restoration")
    parser.add_argument("--seed", type=int, default=0, help="noise seed, as bench --seed")
    parser.add_argument("--generation-seed", type=int, default=1)
    args = parser.parse_args(argv)

    from bench_images import noisy_test_images

    from denoise_studio.core.method import RunContext, run_to_end
    from denoise_studio.methods.invdn import DENOISE, GENERATE, InvDN, noise_statistics

    method = InvDN()
    strengths = [float(s) for s in args.strengths.split(",") if s.strip()]
    rows: dict[str, list[dict[str, float]]] = {"true noise (noisy − clean)": [], "real, as measured (noisy − restored)": []}
    count = 0
    for path, clean, noisy in noisy_test_images(args.data, args.images, args.noise, args.sigma, args.seed):
        count += 1
        restore = method.Params.from_dict({"weights": args.weights, "mode": DENOISE, "samples": args.samples})
        restored = run_to_end(method, noisy, restore, RunContext(seed=args.seed)).image
        assert restored is not None
        rows["true noise (noisy − clean)"].append(noise_statistics(noisy - clean))
        rows["real, as measured (noisy − restored)"].append(noise_statistics(noisy - restored))
        for strength in strengths:
            generate = method.Params.from_dict({"weights": args.weights, "mode": GENERATE, "strength": strength})
            generated = run_to_end(method, noisy, generate, RunContext(seed=args.generation_seed)).image
            assert generated is not None
            rows.setdefault(f"generated, strength {strength:g}", []).append(noise_statistics(generated - restored))
        print(f"{path.name} done", file=sys.stderr, flush=True)
    print(f"| {args.noise} σ = {args.sigma:g}, {count} images, weights {args.weights} | " + " | ".join(KEYS) + " |")
    print("|---|" + "---:|" * len(KEYS))
    for label, values in rows.items():
        means = [np.mean([v.get(k, np.nan) for v in values]) for k in KEYS]
        print(f"| {label} | " + " | ".join(f"{m:.3f}" if k != "std" else f"{m:.2f}" for k, m in zip(KEYS, means)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
