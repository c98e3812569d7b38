"""The cost estimate of a DIP run against the measured time of its steps (issue 20).

Runs the speed probe (``methods/_common/dip_speed.py``), then a few hundred steps of the fast
preset on a 256×256 crop as each case starts them (the first try: ES-EMV fed every fourth
step; fewer steps than its patience, so it never stops), and prints the wall time a step took against
the estimate with the fitted constants alone and scaled by the probe. Cases: ``one``: the
window's first try (``DIP.starting_params``) on one thread, one network; ``first-try``: the same
with the given threads (four tiles of 160 side by side on two). Run with the cores it should measure, for example::

    taskset -c 0 python3 tools/bench_dip_estimate.py --cases one
    python3 tools/bench_dip_estimate.py --cases first-try --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", default="../shared/data/testsets/CBSD68")
    parser.add_argument("--image", default="101085")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--cases", default="one,first-try")
    parser.add_argument("--threads", type=int, default=2, help="threads of the first-try case")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from denoise_studio.commands.bench_dip.data import load_crops
    from denoise_studio.core.method import RunContext
    from denoise_studio.methods._common import dip_speed
    from denoise_studio.methods._common.dip_loop import estimate_cost, fit
    from denoise_studio.methods.dip import DIP, network_for

    crops = [c for c in load_crops(args.data, 68, args.size, 25.0, 0) if c[0] == args.image]
    if not crops:
        print(f"no image {args.image} in {args.data}", file=sys.stderr)
        return 2
    _, _, noisy = crops[0]
    probes = [dip_speed.measure() for _ in range(3)]
    print(f"probe: ratio {', '.join(f'{r:.3f}' for r in probes)} "
          f"({1000 * probes[-1] * dip_speed.PROBE_SECONDS_WHEN_FITTED:.1f} ms a step; fitted {1000 * dip_speed.PROBE_SECONDS_WHEN_FITTED:.1f})")
    method = DIP()
    cfg = network_for("fast", 3)
    for case in args.cases.split(","):
        if case == "one":
            params = method.starting_params(noisy, "cpu").replace(iterations=args.steps, threads=1)
        elif case == "first-try":
            params = method.starting_params(noisy, "cpu").replace(iterations=args.steps, threads=args.threads)
        else:
            parser.error(f"unknown case {case!r}")
        dip_speed.set_ratio(1.0)
        fitted = estimate_cost(noisy.shape, params, cfg, "cpu").seconds / args.steps
        dip_speed.set_ratio(probes[-1])
        scaled = estimate_cost(noisy.shape, params, cfg, "cpu").seconds / args.steps
        stamps = []
        for _snap in fit(noisy, params, cfg, RunContext(seed=0, device="cpu"), preset="fast"):
            stamps.append(time.perf_counter())
        steps = np.diff(stamps[10:-1])  # after the first steps' warm-up; the last is the final snapshot
        measured = float(np.mean(steps))
        after = dip_speed.measure()
        dip_speed.set_ratio(1.0)
        implied = 0.5 * (probes[-1] + after) * dip_speed.PROBE_SECONDS_WHEN_FITTED * fitted / measured
        print(f"{case} (threads {params.threads}, tile {params.tile}, rule every {params.rule_every}): "
              f"measured {measured:.4f} s a step (median {statistics.median(steps):.4f}); announced {fitted:.4f} fitted "
              f"({100 * (fitted / measured - 1):+.0f} %), {scaled:.4f} with the probe ({100 * (scaled / measured - 1):+.0f} %); "
              f"torch threads {torch.get_num_threads()}; probe after {after:.3f}: the fitted probe time this implies "
              f"{1000 * implied:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
