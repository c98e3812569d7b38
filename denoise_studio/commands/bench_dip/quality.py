"""Parts ``quality`` and ``fast``: PSNR curves per preset, the stop rules' gaps, time to quality."""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import numpy as np

from denoise_studio.commands.bench_dip.data import load_crops
from denoise_studio.core.curves import (
    ES_EMV,
    ES_WMV,
    PSNR_REF,
    PSNR_REF_AVG,
    suggestion_key,
)


def run_curve(noisy: np.ndarray, clean: np.ndarray, preset: str, iterations: int, seed: int, device: str) -> dict[str, Any]:
    """One DIP run without stopping: the per-step curves and the rules' suggestions."""
    from denoise_studio.core.method import RunContext
    from denoise_studio.methods.dip import DIP, DIPParams

    ctx = RunContext(seed=seed, device=device, reference=clean)
    # "<preset>[:<precision>][:NAME=VALUE...]", e.g. "paper:float32" or "fast:emv_alpha=0.1"; see
    # below for fast-preset candidates.
    name, *options = preset.split(":")
    precision = next((o for o in options if "=" not in o), "auto")
    params = DIPParams(preset=name if name in ("paper", "fast") else "fast", iterations=iterations, stop_rule="none", precision=precision)
    for option in (o for o in options if "=" in o):
        key, _, value = option.partition("=")
        params = params.replace(**{key: type(getattr(params, key))(value)})
    method_run: Any = DIP().run
    if name not in ("paper", "fast"):
        # A candidate for the fast preset, "w<width>-<resize>@<lr>" (e.g. "w16-nearest@0.02").
        from dataclasses import replace

        from denoise_studio.methods._common.dip_loop import fit
        from denoise_studio.methods._common.skip_net import SkipConfig

        spec, _, lr = name.partition("@")
        width, _, resize = spec[1:].partition("-")
        cfg = SkipConfig(resize=resize or "nearest", out_channels=noisy.shape[2]).with_channels(int(width))
        params = replace(params, learning_rate=float(lr or 0.01))

        def method_run(x: np.ndarray, p: Any, c: Any) -> Any:
            return fit(x, p, cfg, c, preset=preset)

    started = time.perf_counter()
    psnr_avg: list[float] = []
    psnr_raw: list[float] = []
    elapsed: list[float] = []
    events: dict[str, int] = {}
    variances: dict[str, list[float]] = {}
    final = None
    for snap in method_run(noisy, params, ctx):
        if snap.final:
            final = snap
            break
        psnr_avg.append(snap.scalars.get(PSNR_REF_AVG, math.nan))
        psnr_raw.append(snap.scalars.get(PSNR_REF, math.nan))
        elapsed.append(time.perf_counter() - started)
        for e in snap.events:
            events.setdefault(e, snap.step)
        for key in ("variance_wmv", "variance_emv"):
            variances.setdefault(key, []).append(snap.scalars.get(key, math.nan))
    assert final is not None
    return {
        "preset": preset,
        "psnr_avg": psnr_avg,
        "psnr_raw": psnr_raw,
        "elapsed": elapsed,
        "events": events,
        "variance_wmv": variances.get("variance_wmv", []),
        "variance_emv": variances.get("variance_emv", []),
        "suggested_wmv": final.info[suggestion_key(ES_WMV)],
        "suggested_emv": final.info[suggestion_key(ES_EMV)],
        "guard_steps": final.info["guard_steps"],
        "precision": final.info["precision"],
        "network": final.info["network"],
    }


def summarise_curve(run: dict[str, Any], patience: int = 1000) -> dict[str, Any]:
    """Peak, PSNR at each rule's suggestion (averaged-output curve) and the gaps."""
    curve = np.asarray(run["psnr_avg"], dtype=np.float64)
    peak_i = int(np.nanargmax(curve))
    out: dict[str, Any] = {
        "peak_psnr": float(curve[peak_i]),
        "peak_iteration": peak_i + 1,
        "time_to_peak_s": float(run["elapsed"][peak_i]),
        "final_psnr": float(curve[-1]),
        "peak_psnr_raw": float(np.nanmax(run["psnr_raw"])),
    }
    for rule in ("wmv", "emv"):
        step = run[f"suggested_{rule}"]
        stopped = run["events"].get(f"es-{rule}")
        if stopped is not None:
            step = stopped - patience  # the rule's suggestion when it stopped (patience steps earlier)
        out[f"{rule}_iteration"] = step
        out[f"{rule}_stop_detected_at"] = stopped
        out[f"{rule}_psnr"] = float(curve[step - 1]) if step else math.nan
        out[f"{rule}_gap"] = out["peak_psnr"] - out[f"{rule}_psnr"] if step else math.nan
    return out


def time_to_within(run: dict[str, Any], target: float) -> tuple[float | None, int | None]:
    """Wall time and iteration at which the averaged curve first reaches ``target`` dB."""
    for i, value in enumerate(run["psnr_avg"]):
        if value >= target:
            return float(run["elapsed"][i]), i + 1
    return None, None


def run_bm3d(noisy: np.ndarray, sigma: float) -> np.ndarray:
    import bm3d

    if noisy.shape[2] == 3:
        return np.clip(bm3d.bm3d_rgb(noisy, sigma / 255.0), 0, 1).astype(np.float32)
    return np.clip(bm3d.bm3d(noisy[:, :, 0], sigma / 255.0), 0, 1).astype(np.float32)[:, :, None]


def part_quality(args: argparse.Namespace, results: dict[str, Any], save: Any) -> None:
    from denoise_studio.core.metrics import psnr

    quality = results.setdefault("quality", {})
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    for name, clean, noisy in load_crops(args.data, args.offset + args.images, args.crop, args.sigma, args.seed, args.offset):
        entry = quality.setdefault(name, {})
        if "bm3d" not in entry:
            t0 = time.perf_counter()
            entry["bm3d"] = {"psnr": psnr(run_bm3d(noisy, args.sigma), clean), "seconds": time.perf_counter() - t0}
            entry["noisy_psnr"] = psnr(noisy, clean)
            save()
        for preset in presets:
            if args.resume and preset in entry:
                continue
            run = run_curve(noisy, clean, preset, args.iterations, args.seed, args.device)
            entry[preset] = {"summary": summarise_curve(run), "run": run}
            print(f"{name} {preset}: {json.dumps(entry[preset]['summary'])}", flush=True)
            save()


def cpu_cost_per_iteration(preset: str, size: int, repeats: int = 6) -> float:
    """Median CPU seconds (``time.process_time``) of one iteration of ``preset`` at size×size.

    CPU time, unlike wall time, does not depend on how many other jobs share the machine.
    """
    import torch

    from denoise_studio.core.method import RunContext
    from denoise_studio.methods.dip import DIP, DIPParams

    noisy = np.random.default_rng(0).random((size, size, 3), dtype=np.float32)
    gen = DIP().run(noisy, DIPParams(preset=preset, iterations=repeats + 3), RunContext())
    next(gen)
    next(gen)  # allocation and first-call warm-up
    costs = []
    for _ in range(repeats):
        t0 = time.process_time()
        next(gen)
        costs.append((time.process_time() - t0) / max(1, torch.get_num_threads()))
    gen.close()
    return float(np.median(costs))


def part_fast(results: dict[str, Any], size: int = 128) -> dict[str, Any]:
    """Fast preset's time to within 0.5 dB of the paper preset's peak, per image and on average.

    Two measures: wall time within each run (fair only when the machine's load is steady), and
    iterations × CPU cost per iteration (measured here for both presets; load-independent).
    """
    rows: dict[str, Any] = {}
    if not any("paper" in e and "fast" in e for e in results.get("quality", {}).values()):
        return rows
    cost = {p: cpu_cost_per_iteration(p, size) for p in ("paper", "fast")}
    rows["_cpu_s_per_iteration"] = cost
    for name, entry in results.get("quality", {}).items():
        if "paper" not in entry or "fast" not in entry:
            continue
        paper = entry["paper"]["summary"]
        t_fast, it_fast = time_to_within(entry["fast"]["run"], paper["peak_psnr"] - 0.5)
        rows[name] = {
            "paper_peak": paper["peak_psnr"],
            "paper_time_to_peak_s": paper["time_to_peak_s"],
            "paper_peak_iteration": paper["peak_iteration"],
            "fast_peak": entry["fast"]["summary"]["peak_psnr"],
            "fast_time_within_0.5dB_s": t_fast,
            "fast_iteration_within_0.5dB": it_fast,
            "ratio": (t_fast / paper["time_to_peak_s"]) if t_fast is not None else None,
            "ratio_cpu": (it_fast * cost["fast"]) / (paper["peak_iteration"] * cost["paper"]) if it_fast is not None else None,
        }
    return rows
