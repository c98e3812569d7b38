"""Part ``sure``: the SURE curve of a DIP run against its true PSNR curve (issue 19).

On each crop, two fast-preset runs in lockstep (:mod:`denoise_studio.methods._common.dip_sure`)
give, at every step, the true PSNR of the averaged output and its SURE estimate. Summarised: how
far the estimate is from the truth along the curve, and where the highest estimate falls
against the true peak, beside ES-EMV's suggestion in the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import numpy as np

from denoise_studio.commands.bench_dip.data import load_crops
from denoise_studio.commands.bench_dip.report import finite_mean
from denoise_studio.core.curves import PSNR_REF_AVG

#: Steps before the estimate is compared with the truth (the first outputs are near-constant).
SKIP_STEPS = 100

#: The trailing window (steps) over which the estimated MSE is averaged for the smoothed rule.
SMOOTHING_STEPS = 50


def run_sure_curve(noisy: np.ndarray, clean: np.ndarray, iterations: int, sigma: float, seed: int, device: str,
                   epsilon: float | None = None) -> dict[str, Any]:
    """One lockstep run of the fast preset without stopping: true and estimated PSNR per step,
    and the measured divergence (``epsilon``: the probe, default that of ``core.quality``)."""
    from denoise_studio.core.method import RunContext
    from denoise_studio.methods._common.dip_sure import LockstepSure
    from denoise_studio.methods.dip import DIPParams, network_for

    params = DIPParams(preset="fast", iterations=iterations)
    ctx = RunContext(seed=seed, device=device, reference=clean)
    lockstep = LockstepSure(noisy, params, network_for("fast", noisy.shape[2]), ctx, sigma, preset="fast", epsilon=epsilon)
    true_psnr: list[float] = []
    estimated: list[float | None] = []
    residuals: list[float | None] = []
    divergences: list[float | None] = []
    started = time.perf_counter()
    for t in range(1, iterations + 1):
        snapshot, terms = lockstep.advance(t)
        true_psnr.append(snapshot.scalars.get(PSNR_REF_AVG, math.nan))
        estimated.append(lockstep.estimate(terms))
        residuals.append(None if terms is None else terms[0])
        divergences.append(None if terms is None else terms[1])
    suggestions = lockstep.main.rules.suggestions()
    return {
        "psnr_avg": true_psnr,
        "sure_psnr": estimated,
        "residual": residuals,
        "divergence": divergences,
        "variance": lockstep.variance,
        "epsilon": lockstep.epsilon,
        "seconds": time.perf_counter() - started,
        "suggested_emv": suggestions.get("suggested_iteration_emv"),
        "diverged": lockstep.diverged,
    }


def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """The mean of the finite values among the last ``window`` (NaN where there is none)."""
    finite = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(finite)])
    ends = np.arange(1, values.size + 1)
    starts = np.maximum(ends - window, 0)
    n = counts[ends] - counts[starts]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums[ends] - sums[starts]) / np.maximum(n, 1), np.nan)


def summarise_sure(run: dict[str, Any]) -> dict[str, Any]:
    """True peak; the highest estimate's iteration and the true PSNR there; ES-EMV's; the estimate's error."""
    true = np.asarray(run["psnr_avg"], dtype=np.float64)
    est = np.asarray([math.nan if v is None else v for v in run["sure_psnr"]], dtype=np.float64)
    peak = int(np.nanargmax(true))
    out: dict[str, Any] = {"peak_psnr": float(true[peak]), "peak_iteration": peak + 1, "epsilon": run.get("epsilon")}
    residual, divergence = run.get("residual", [None])[peak], run.get("divergence", [None])[peak]
    if residual is not None and divergence is not None:
        # The divergence the true MSE at the peak calls for, against the one the probe measured.
        variance = run["variance"]
        out["divergence_needed_at_peak"] = (10 ** (-true[peak] / 10) - residual + variance) / (2 * variance)
        out["divergence_measured_at_peak"] = divergence
    if np.isfinite(est).any():
        best = int(np.nanargmax(est))
        out.update(sure_iteration=best + 1, sure_psnr=float(true[best]), sure_gap=float(true[peak] - true[best]),
                   sure_estimate_at_best=float(est[best]))
    # A rule can only use the past: the mean estimated MSE of the last SMOOTHING_STEPS steps.
    mse = 10.0 ** (-est / 10.0)
    smoothed = trailing_mean(mse, SMOOTHING_STEPS)
    if np.isfinite(smoothed[SKIP_STEPS:]).any():
        best = SKIP_STEPS + int(np.nanargmin(smoothed[SKIP_STEPS:]))
        out.update(smoothed_iteration=best + 1, smoothed_psnr=float(true[best]), smoothed_gap=float(true[peak] - true[best]))
    emv = run.get("suggested_emv")
    if emv:
        out.update(emv_iteration=int(emv), emv_psnr=float(true[emv - 1]), emv_gap=float(true[peak] - true[emv - 1]))
    error = np.abs(est[SKIP_STEPS:] - true[SKIP_STEPS:])
    error = error[np.isfinite(error)]
    out["mean_abs_error"] = float(error.mean()) if error.size else math.nan
    out["max_abs_error"] = float(error.max()) if error.size else math.nan
    out["valid_fraction"] = float(np.isfinite(est).mean())
    return out


def part_sure(args: argparse.Namespace, results: dict[str, Any], save: Any) -> None:
    """Lockstep SURE runs on the crops of ``--data`` (``--images``, ``--offset``, ``--crop``)."""
    entries = results.setdefault("sure", {})
    for name, clean, noisy in load_crops(args.data, args.offset + args.images, args.crop, args.sigma, args.seed, args.offset):
        if args.resume and name in entries:
            entries[name]["summary"] = summarise_sure(entries[name]["run"])
            continue
        run = run_sure_curve(noisy, clean, args.iterations, args.sigma, args.seed, args.device, args.sure_epsilon)
        entries[name] = {"summary": summarise_sure(run), "run": run}
        print(f"{name} sure: {json.dumps(entries[name]['summary'])}", flush=True)
        save()


def sure_markdown(results: dict[str, Any]) -> str:
    """The table of the part: per crop and the mean."""
    meta = results.get("meta", {})
    lines = [f"| image | true peak (iter) | highest SURE (iter) | gap | highest SURE, {SMOOTHING_STEPS}-step mean (iter) | gap | ES-EMV (iter) | gap | mean / max abs(est. − true) after step {SKIP_STEPS} "
             "| steps with an estimate | divergence at the peak: needed / measured |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    gaps: dict[str, list[float]] = {"sure": [], "smoothed": [], "emv": [], "err": []}
    for name, entry in results.get("sure", {}).items():
        s = entry["summary"]
        lines.append(f"| {name} | {s['peak_psnr']:.2f} ({s['peak_iteration']}) | {s.get('sure_psnr', math.nan):.2f} ({s.get('sure_iteration', '—')}) "
                     f"| {s.get('sure_gap', math.nan):.2f} | {s.get('smoothed_psnr', math.nan):.2f} ({s.get('smoothed_iteration', '—')}) "
                     f"| {s.get('smoothed_gap', math.nan):.2f} | {s.get('emv_psnr', math.nan):.2f} ({s.get('emv_iteration', '—')}) | {s.get('emv_gap', math.nan):.2f} "
                     f"| {s['mean_abs_error']:.2f} / {s['max_abs_error']:.2f} | {100 * s['valid_fraction']:.0f}% "
                     f"| {s.get('divergence_needed_at_peak', math.nan):.3f} / {s.get('divergence_measured_at_peak', math.nan):.3f} |")
        gaps["sure"].append(s.get("sure_gap", math.nan))
        gaps["smoothed"].append(s.get("smoothed_gap", math.nan))
        gaps["emv"].append(s.get("emv_gap", math.nan))
        gaps["err"].append(s["mean_abs_error"])
    if gaps["sure"]:
        lines.append(f"| **mean of {len(gaps['sure'])}** | | | **{finite_mean(gaps['sure']):.2f}** | | **{finite_mean(gaps['smoothed']):.2f}** "
                     f"| | **{finite_mean(gaps['emv']):.2f}** "
                     f"| {finite_mean(gaps['err']):.2f} | | |")
    header = (f"{meta.get('crop', '?')}×{meta.get('crop', '?')} centre crops, Gaussian σ {meta.get('sigma', 25):g} (clipped), fast preset in float32, "
              f"{meta.get('iterations', '?')} iterations, PSNR of the averaged output in dB.")
    return header + "\n\n" + "\n".join(lines) + "\n"
