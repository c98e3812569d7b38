"""A candidate of issue 20 that did not pay: a 256×256 crop cut into two bands for two threads.

The first try of the fast preset cuts a crop that would be one network into four tiles of 160
when it has two threads (``split_for_threads``). Two bands of 256×160 (one per thread) hold 20 %
fewer pixels than four tiles of 160; this measures how many steps they need. One thread, no stop
rule: the optimisation does not depend on the thread count (bit for bit) nor on the rule, so the
steps to within 0.5 dB of each crop's recorded reference peak, and ES-EMV's stop for several
patiences (read off the run's variance curve), are those of a two-thread run; the seconds are
one thread's. Prints one line per crop ("Deep Image Prior: time to quality" in
docs/BENCHMARKS.md)::

    taskset -c 0 python3 tools/bench_dip_bands.py --iterations 1100
"""

from __future__ import annotations

import argparse
import sys

# Recorded reference peaks (docs/BENCHMARKS.md, "Deep Image Prior: time to quality").
PEAKS = {"101085": 26.55, "101087": 27.22, "102061": 27.85, "103070": 30.22}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", default="../shared/data/testsets/CBSD68")
    parser.add_argument("--iterations", type=int, default=1100)
    parser.add_argument("--crops", type=int, default=len(PEAKS), help="the first N of the four crops")
    parser.add_argument("--layout", choices=("bands", "tiles"), default="bands",
                        help="bands: two of 256×160; tiles: the first try's four of 160 (tile=128 on one thread)")
    args = parser.parse_args(argv)

    from denoise_studio.commands.bench_dip.data import load_crops
    from denoise_studio.commands.bench_dip.time_to_quality import parse_candidate, patience_sweep, summarise, timed_run
    from denoise_studio.core.tiling import Tile
    from denoise_studio.methods._common import dip_loop, dip_tiles

    def bands(height: int, width: int, tile: int, multiple: int, split_for_threads: bool, threads: int) -> list[Tile]:
        if not split_for_threads:
            return dip_tiles.tile_grid(height, width, tile, multiple)
        rows, band = dip_tiles.axis_tiles(height, max(tile // 2, multiple), multiple)
        return [Tile(top, 0, band, width) for top in rows]

    if args.layout == "bands":
        dip_loop.run_tiles = bands  # type: ignore[attr-defined, assignment]  # what DipRun and the estimate call
        spec = f"fast:split_for_threads=true:stop_rule=none:iterations={args.iterations}:threads=1"
    else:
        spec = f"fast:tile=128:stop_rule=none:iterations={args.iterations}:threads=1"
    for name, clean, noisy in load_crops(args.data, args.crops, 256, 25.0, 0):
        params, cfg = parse_candidate(spec, noisy.shape[2])
        run = timed_run(noisy, clean, params, cfg, 0, "cpu")
        summary = summarise(run, PEAKS[name])
        stops = patience_sweep(run, PEAKS[name], (300, 250, 200, 150, 100))
        print(f"{name}: {run['tiles']} networks; within 0.5 dB at step {summary['within_iteration']}; "
              f"{summary['cpu_s_per_step']:.3f} s of CPU a step; own peak {summary['own_peak']:.2f} dB at {summary['own_peak_iteration']}; "
              "stop (step, gap dB) by patience: " + ", ".join(f"{p}: ({v['stop_iteration']}, {v['gap_average']:+.2f})" for p, v in stops.items()),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
