"""A coarse-to-fine start for Deep Image Prior (issue 20): fit the image at half size first, then
continue at full size; the figures under "Deep Image Prior: time to quality" in docs/BENCHMARKS.md.

On the crops of ``bench-dip --parts time-to-quality`` (same images, noise and seed), each run:

1. the fast network fits the noisy crop shrunk to half size (area average, so σ halves) for
   ``--coarse-steps`` steps, with its code z_half;
2. the same weights continue at full size as the window's first try (ES-EMV, patience 300,
   rules every 4th step, cap 2,000), with a fresh Adam and the full-size code z. ``--code
   subsampled`` makes z_half every other pixel of z (the code seen at half size is part of the one
   seen at full size); ``--code fresh`` draws the two codes independently.

Printed per crop and setting: the CPU seconds of the half-size phase, then (counting them) the
step and CPU seconds until the averaged output is within 0.5 dB of the crop's reference peak (read
from the time-to-quality results file), the automatic stop and the PSNR kept. ``--coarse-steps 0``
is the first try itself, as a control measured in the same process. ::

    taskset -c 0 python3 tools/bench_coarse_to_fine.py --ttq-json OUT/ttq.json --coarse-steps 0,300,600
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import numpy as np

WITHIN_DB = 0.5


def half_size(image: np.ndarray) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    return np.ascontiguousarray(cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA))


def coarse_then_fine(noisy: np.ndarray, clean: np.ndarray, coarse_steps: int, code: str, seed: int) -> dict[str, Any]:
    """One run: ``coarse_steps`` at half size, then the first try at full size; per-step PSNR and CPU."""
    from denoise_studio.core.curves import PSNR_REF_AVG
    from denoise_studio.core.method import RunContext
    from denoise_studio.core.metrics import psnr
    from denoise_studio.methods._common.dip_loop import DipRun
    from denoise_studio.methods.dip import DIP, network_for

    params = DIP().starting_params(device="cpu").replace(preset="fast")
    cfg = network_for("fast", noisy.shape[2])
    cpu0 = time.process_time()
    fine = DipRun(noisy, params.replace(tile=0), cfg, RunContext(seed=seed, device="cpu", reference=clean), "fast", None)
    whole = fine.fits[0]
    network = whole.net
    if coarse_steps:
        coarse = DipRun(half_size(noisy), params.replace(stop_rule="none", tile=0), cfg, RunContext(seed=seed, device="cpu"), "fast", network).fits[0]
        if code == "subsampled":
            if coarse.z.shape[-2:] != whole.z[..., ::2, ::2].shape[-2:]:
                raise SystemExit("--code subsampled needs crops whose padded half is the half of the padding")
            coarse.z = whole.z[..., ::2, ::2].contiguous()
        for t in range(1, coarse_steps + 1):
            coarse.step(t, measure=False, jitter_free=False)
        # The full-size run keeps the trained weights but starts a fresh optimiser.
        whole.opt = type(whole.opt)(network.parameters(), lr=params.learning_rate)
        whole.guard = type(whole.guard)(list(network.parameters()), params.guard)
    coarse_cpu = time.process_time() - cpu0
    curve, cpu = [], []
    final = None
    for snap in fine.steps():
        if snap.final:
            final = snap
            break
        curve.append(snap.scalars.get(PSNR_REF_AVG, math.nan))
        cpu.append(time.process_time() - cpu0)
    assert final is not None and final.image is not None
    return {"coarse_cpu_s": coarse_cpu, "curve": curve, "cpu": cpu, "stop_iteration": final.info["stop_iteration"],
            "kept_psnr": psnr(np.clip(final.image, 0, 1), clean)}


def summary(run: dict[str, Any], peak: float) -> dict[str, Any]:
    curve = np.asarray(run["curve"])
    reached = np.flatnonzero(curve >= peak - WITHIN_DB)
    first = int(reached[0]) if reached.size else None
    return {"coarse_cpu_s": round(run["coarse_cpu_s"], 1),
            "within_step": None if first is None else first + 1,
            "within_cpu_s": None if first is None else round(run["cpu"][first], 1),
            "stop_step": run["stop_iteration"], "stop_cpu_s": round(run["cpu"][-1], 1),
            "kept_psnr": round(run["kept_psnr"], 2), "gap": round(peak - run["kept_psnr"], 2),
            "own_peak": round(float(np.nanmax(curve)), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ttq-json", required=True, help="results file of bench-dip --parts time-to-quality (the reference peaks)")
    parser.add_argument("--data", default="../shared/data/testsets/CBSD68")
    parser.add_argument("--crops", type=int, default=4, help="the first N 256×256 crops")
    parser.add_argument("--coarse-steps", default="0,300,600", help="comma-separated half-size step counts")
    parser.add_argument("--code", choices=("subsampled", "fresh"), default="subsampled")
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default="", help="write the summaries here")
    args = parser.parse_args(argv)

    import torch

    from denoise_studio.commands.bench_dip.data import load_crops
    from denoise_studio.commands.bench_dip.time_to_quality import reference_peaks

    torch.set_num_threads(args.threads)
    peaks = reference_peaks(args.ttq_json)
    out: dict[str, Any] = {}
    print("| crop | half-size steps | their CPU s | within 0.5 dB: step / CPU s | stop: step / CPU s | PSNR kept (gap) | own peak |")
    print("|---|---|---|---|---|---|---|")
    for name, clean, noisy in load_crops(args.data, args.crops, 256, args.sigma, args.seed):
        key = f"{name}@256"
        if key not in peaks:
            raise SystemExit(f"{key}: no reference peak in {args.ttq_json}")
        for steps in (int(s) for s in args.coarse_steps.split(",")):
            s = summary(coarse_then_fine(noisy, clean, steps, args.code, args.seed), peaks[key])
            out[f"{key}:{steps}"] = s
            within = "never" if s["within_step"] is None else f"{s['within_step']} / {s['within_cpu_s']:.0f}"
            print(f"| {name} | {steps} | {s['coarse_cpu_s']:.0f} | {within} | {s['stop_step']} / {s['stop_cpu_s']:.0f} "
                  f"| {s['kept_psnr']:.2f} ({s['gap']:.2f}) | {s['own_peak']:.2f} |", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
