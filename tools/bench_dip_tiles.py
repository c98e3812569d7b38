"""Deep Image Prior on a large crop as overlapping tiles fitted in lockstep (issue 20); the
figures under "Deep Image Prior: time to quality" in docs/BENCHMARKS.md.

At 512×512 the fast network needs 1,700-1,900 steps to come within 0.5 dB of its peak, against
900-1,250 at 256×256: one network of the same size has four times the picture to fit. Here the
crop is cut into overlapping tiles of ``--tile`` pixels (four for 256 on a 500-pixel crop), each fitted by its own fast
network (its own code, Adam and output average, as the window's first try would fit that tile
alone), all advanced one step at a time; the averaged outputs are blended with linear ramps over
the overlaps. A lockstep step costs about what a full-size step costs (the same pixels, plus the
overlap), so the question is whether the tiles get near the full-size peak in fewer steps.

Printed per crop: the CPU seconds per lockstep step, the step and CPU seconds at which the
blended average comes within 0.5 dB of the crop's reference peak (the full-size run's, read from
the time-to-quality results file), and the blended average's own peak. No stop rule: the curve
is read every ``--every`` steps. ::

    taskset -c 0 python3 tools/bench_dip_tiles.py --ttq-json OUT/ttq.json --tile 256 --steps 1500
    taskset -c 0 python3 tools/bench_dip_tiles.py --peaks 1@512=25.25,10@512=29.81 --tile 256
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import numpy as np

WITHIN_DB = 0.5


def tile_starts(size: int, tile: int, min_overlap: int = 8) -> list[int]:
    """Evenly spaced tile origins covering ``size`` pixels, neighbours overlapping by ``min_overlap`` or more."""
    if tile >= size:
        return [0]
    count = math.ceil((size - min_overlap) / (tile - min_overlap))
    return [round(i * (size - tile) / (count - 1)) for i in range(count)]


def ramp(starts: list[int], index: int, tile: int) -> np.ndarray:
    """Blend weights of tile ``index`` along one axis: 1 inside, falling linearly across each overlap."""
    weights = np.ones(tile, np.float32)
    if index > 0:
        overlap = starts[index - 1] + tile - starts[index]
        weights[:overlap] = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
    if index < len(starts) - 1:
        overlap = starts[index] + tile - starts[index + 1]
        weights[tile - overlap:] = np.minimum(weights[tile - overlap:], (np.arange(overlap, 0, -1, dtype=np.float32) - 0.5) / overlap)
    return weights


def lockstep(noisy: np.ndarray, clean: np.ndarray, tile: int, steps: int, every: int, seed: int) -> dict[str, Any]:
    """Fit the tiles side by side; the blended average's PSNR every ``every`` steps, with CPU seconds."""
    from denoise_studio.core.method import RunContext
    from denoise_studio.core.metrics import psnr
    from denoise_studio.methods._common.dip_loop import DipRun
    from denoise_studio.methods.dip import DIP, network_for

    h, w = noisy.shape[:2]
    rows, cols = tile_starts(h, tile), tile_starts(w, tile)
    params = DIP().starting_params(device="cpu").replace(preset="fast", stop_rule="none", iterations=steps)
    cfg = network_for("fast", noisy.shape[2])
    runs = []
    for i, top in enumerate(rows):
        for j, left in enumerate(cols):
            weight = np.outer(ramp(rows, i, tile), ramp(cols, j, tile))
            crop = np.ascontiguousarray(noisy[top:top + tile, left:left + tile])
            runs.append((top, left, weight, DipRun(crop, params, cfg, RunContext(seed=seed, device="cpu"), "fast", None)))
    spent = 0.0
    curve: list[tuple[int, float, float]] = []
    for t in range(1, steps + 1):
        started = time.process_time()
        for _, _, _, run in runs:
            run.advance(t)
        spent += time.process_time() - started
        if t % every == 0:
            total = np.zeros_like(noisy)
            norm = np.zeros(noisy.shape[:2] + (1,), np.float32)
            for top, left, weight, run in runs:
                average = run.average.value[0].permute(1, 2, 0).float().numpy()
                total[top:top + tile, left:left + tile] += average * weight[:, :, None]
                norm[top:top + tile, left:left + tile] += weight[:, :, None]
            curve.append((t, spent, psnr(np.clip(total / norm, 0, 1), clean)))
    return {"curve": curve}


def summary(run: dict[str, Any], peak: float) -> dict[str, Any]:
    steps, cpu, values = (np.asarray(v) for v in zip(*run["curve"]))
    reached = np.flatnonzero(values >= peak - WITHIN_DB)
    first = int(reached[0]) if reached.size else None
    best = int(np.argmax(values))
    return {"cpu_s_per_step": round(float(cpu[-1] / steps[-1]), 3),
            "within_step": None if first is None else int(steps[first]),
            "within_cpu_s": None if first is None else round(float(cpu[first]), 1),
            "own_peak": round(float(values[best]), 2), "own_peak_step": int(steps[best]),
            "curve": [[int(s), round(float(c), 1), round(float(v), 3)] for s, c, v in run["curve"]]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ttq-json", help="results file of bench-dip --parts time-to-quality (the reference peaks)")
    source.add_argument("--peaks", help="the reference peaks as NAME@SIZE=DB,... (those quoted in docs/BENCHMARKS.md)")
    parser.add_argument("--data", default="../shared/data/testsets/McMaster")
    parser.add_argument("--crops", type=int, default=2, help="the first N images, centre crops of --size")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--every", type=int, default=25, help="steps between readings of the blended average")
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default="", help="write the summaries here")
    args = parser.parse_args(argv)

    import torch

    from denoise_studio.commands.bench_dip.data import load_crops
    from denoise_studio.commands.bench_dip.time_to_quality import reference_peaks

    torch.set_num_threads(args.threads)
    peaks = reference_peaks(args.ttq_json) if args.ttq_json else {
        k: float(v) for k, _, v in (item.partition("=") for item in args.peaks.split(","))}
    out: dict[str, Any] = {}
    print("| crop | tile | CPU s per step | reference peak | within 0.5 dB: step / CPU s | own peak (step) |")
    print("|---|---|---|---|---|---|")
    for name, clean, noisy in load_crops(args.data, args.crops, args.size, args.sigma, args.seed):
        key = f"{name}@{args.size}"
        if key not in peaks:
            raise SystemExit(f"{key}: no reference peak in {args.ttq_json}")
        s = summary(lockstep(noisy, clean, args.tile, args.steps, args.every, args.seed), peaks[key])
        out[f"{key}:{args.tile}"] = s
        within = "never" if s["within_step"] is None else f"{s['within_step']} / {s['within_cpu_s']:.0f}"
        print(f"| {name} | {args.tile} | {s['cpu_s_per_step']:.3f} | {peaks[key]:.2f} | {within} "
              f"| {s['own_peak']:.2f} ({s['own_peak_step']}) |", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
