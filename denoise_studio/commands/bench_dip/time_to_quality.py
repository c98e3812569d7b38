"""Part ``time-to-quality`` (issue 20): how long DIP takes to a result near its peak.

On ``--ttq-crops`` (default 4 centre crops of 256×256 from ``--data`` and 2 images of about
512×512 from ``--ttq-large-data``), Gaussian σ (clipped):

* the **reference**: the fast preset with the paper's 3,000 iterations (2,500 above 256×256), no
  stop rule and no tiles, run once per crop and kept in the results file (``--resume``); its
  peak PSNR of the averaged output is the crop's reference peak. ``--ttq-peaks NAME@SIZE=DB,...``
  gives peaks measured before (the ones recorded in ``docs/BENCHMARKS.md``) instead of running
  the reference again (about half an hour of CPU per 512×512 crop);
* each **candidate** (``--ttq-candidates``): a run as the window starts it
  (:meth:`~denoise_studio.methods.dip.DIP.starting_params`: ES-EMV and the preset's cap) with
  the candidate's changes; recorded per step: PSNR of the averaged output, wall and CPU time.

Per run: wall and CPU seconds until the averaged output is within 0.5 dB of the reference peak;
the automatic stop (iteration, seconds, PSNR of the kept output and its gap to the peak); the
cost the window announced before the run (``Method.estimate_cost``) against the CPU time.

A candidate is ``PRESET[:NAME=VALUE...]``, ``NAME`` a parameter of
:class:`~denoise_studio.methods.dip.DIPParams` (``fast:rule_every=4:patience=300``) or ``width``
(the fast network's channels).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from typing import Any

import numpy as np

from denoise_studio.commands.bench_dip.data import load_crops
from denoise_studio.core.curves import PSNR_REF_AVG
from denoise_studio.core.errors import UserError

WITHIN_DB = 0.5
REFERENCE_ITERATIONS = {256: 3000, 512: 2500}


def parse_candidate(spec: str, channels: int) -> tuple[Any, Any]:
    """(DIPParams, SkipConfig) of a candidate, starting from the window's first try of its preset."""
    from denoise_studio.methods.dip import DIP, network_for

    preset, *changes = spec.split(":")
    if preset not in ("fast", "paper"):
        raise UserError(f"candidate {spec!r}: the preset must be fast or paper")
    params = DIP().starting_params(device="cpu").replace(preset=preset)
    cfg = network_for(preset, channels)
    fields = {f.name: f for f in dataclasses.fields(params)}
    for change in changes:
        name, _, value = change.partition("=")
        if name == "width":
            cfg = cfg.with_channels(int(value), skip=cfg.channels_skip[0])
        elif name in fields:
            kind = type(getattr(params, name))
            params = params.replace(**{name: kind(value) if kind is not bool else value.lower() in ("1", "true", "yes")})
        else:
            raise UserError(f"candidate {spec!r}: no parameter {name!r}")
    return params, cfg


def timed_run(noisy: np.ndarray, clean: np.ndarray, params: Any, cfg: Any, seed: int, device: str) -> dict[str, Any]:
    """One DIP run with the reference for the curve only: per-step PSNR, wall and CPU seconds; the stop."""
    from denoise_studio.core.method import RunContext
    from denoise_studio.core.metrics import psnr
    from denoise_studio.methods._common.dip_loop import estimate_cost, fit

    announced = estimate_cost(noisy.shape, params, cfg, device).seconds
    ctx = RunContext(seed=seed, device=device, reference=clean)
    psnr_avg: list[float] = []
    wall: list[float] = []
    cpu: list[float] = []
    variance_emv: list[float] = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    final = None
    for snap in fit(noisy, params, cfg, ctx, preset=params.preset):
        if snap.final:
            final = snap
            break
        psnr_avg.append(snap.scalars.get(PSNR_REF_AVG, math.nan))
        wall.append(time.perf_counter() - wall0)
        cpu.append(time.process_time() - cpu0)
        variance_emv.append(snap.scalars.get("variance_emv", math.nan))
    assert final is not None
    return {
        "psnr_avg": psnr_avg, "wall": wall, "cpu": cpu, "variance_emv": variance_emv,
        "stop_iteration": final.info["stop_iteration"], "stop_rule": final.info["stop_rule"],
        "suggested_emv": final.info.get("suggested_iteration_emv"), "kept": final.info["kept"],
        "kept_psnr": psnr(np.clip(final.image, 0, 1), clean), "announced_s": announced,
        "params": dataclasses.asdict(params), "network": final.info["network"], "tiles": final.info["tiles"],
    }


def summarise(run: dict[str, Any], peak: float) -> dict[str, Any]:
    """Seconds to within ``WITHIN_DB`` of ``peak``; the stop and the PSNR kept there."""
    curve = np.asarray(run["psnr_avg"], dtype=np.float64)
    reached = np.flatnonzero(curve >= peak - WITHIN_DB)
    first = int(reached[0]) if reached.size else None
    stop = run["stop_iteration"]
    return {
        "within_iteration": None if first is None else first + 1,
        "within_wall_s": None if first is None else run["wall"][first],
        "within_cpu_s": None if first is None else run["cpu"][first],
        "stop_iteration": stop, "stop_rule": run["stop_rule"],
        "stop_wall_s": run["wall"][stop - 1] if stop else None, "stop_cpu_s": run["cpu"][stop - 1] if stop else None,
        "kept_psnr": run["kept_psnr"], "stop_gap": peak - run["kept_psnr"],
        "announced_s": run["announced_s"], "run_cpu_s": run["cpu"][-1] if run["cpu"] else None,
        # The estimate is for the run's iteration count; a rule may end it sooner, so compare per step.
        "announced_s_per_step": run["announced_s"] / run["params"]["iterations"],
        "cpu_s_per_step": run["cpu"][-1] / len(run["cpu"]) if run["cpu"] else None,
        "own_peak": float(np.nanmax(curve)), "own_peak_iteration": int(np.nanargmax(curve)) + 1,
    }


def patience_sweep(run: dict[str, Any], peak: float, patiences: tuple[int, ...] = (1000, 500, 300, 200, 100)) -> dict[str, Any]:
    """ES-EMV's stop for other patiences, read off a run's recorded variance curve.

    The optimisation does not depend on the rule, so the run without a stop holds every
    patience's answer: the first step ``patience`` steps after the lowest variance so far, the
    averaged output there and its CPU time.
    """
    variance = np.asarray(run["variance_emv"], dtype=np.float64)
    out: dict[str, Any] = {}
    for patience in patiences:
        best, best_value = None, math.inf
        for i, value in enumerate(variance):
            if math.isfinite(value) and value < best_value:
                best, best_value = i, value
            if best is not None and i - best >= patience:
                out[str(patience)] = {"stop_iteration": i + 1, "suggested": best + 1, "cpu_s": run["cpu"][i],
                                      "psnr_average": run["psnr_avg"][i], "psnr_suggested": run["psnr_avg"][best],
                                      "gap_average": peak - run["psnr_avg"][i], "gap_suggested": peak - run["psnr_avg"][best]}
                break
    return out


def reference_peaks(results_path: str) -> dict[str, float]:
    """Each crop's reference peak (``NAME@SIZE`` → dB) from a results file of this part."""
    with open(results_path, encoding="utf-8") as f:
        part = json.load(f).get("time_to_quality", {})
    return {name: float(entry["reference"]["peak"]) for name, entry in part.items() if "reference" in entry}


def crops_for(args: argparse.Namespace) -> list[tuple[int, str, np.ndarray, np.ndarray]]:
    """(size, name, clean, noisy) of every crop ``--ttq-crops`` asks for (``SIZE:COUNT,...``)."""
    out = []
    for item in args.ttq_crops.split(","):
        size_text, _, count_text = item.partition(":")
        size, count = int(size_text), int(count_text or 1)
        folder = args.data if size <= 256 else args.ttq_large_data
        for name, clean, noisy in load_crops(folder, count, size, args.sigma, args.seed):
            out.append((size, f"{name}@{size}", clean, noisy))
    return out


def recorded_peaks(text: str) -> dict[str, float]:
    """``NAME@SIZE=DB,...`` (``--ttq-peaks``) as a mapping."""
    peaks = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, _, value = item.partition("=")
        try:
            peaks[name.strip()] = float(value)
        except ValueError:
            raise UserError(f"--ttq-peaks: {item!r} is not NAME@SIZE=DB") from None
    return peaks


def part_time_to_quality(args: argparse.Namespace, results: dict[str, Any], save: Any) -> None:
    """The reference run of each crop (once, unless ``--ttq-peaks`` gives its peak) and each candidate's run on it."""
    part = results.setdefault("time_to_quality", {})
    candidates = [c.strip() for c in args.ttq_candidates.split(",") if c.strip()]
    given = recorded_peaks(args.ttq_peaks)
    for size, name, clean, noisy in crops_for(args):
        entry = part.setdefault(name, {"size": list(noisy.shape[:2])})
        if "reference" not in entry and name in given:
            entry["reference"] = {"peak": given[name], "peak_iteration": None}
        if "reference" not in entry:
            params, cfg = parse_candidate("fast", noisy.shape[2])
            iterations = args.ttq_reference_iterations or REFERENCE_ITERATIONS.get(size, 2500)
            # The reference is the whole-image fit (no tiles), as the issue defines it.
            params = params.replace(iterations=iterations, stop_rule="none", patience=1000, tile=0)
            run = timed_run(noisy, clean, params, cfg, args.seed, args.device)
            entry["reference"] = {"run": run, "peak": float(np.nanmax(run["psnr_avg"])),
                                  "peak_iteration": int(np.nanargmax(run["psnr_avg"])) + 1}
            save()
        peak = entry["reference"]["peak"]
        if "run" in entry["reference"]:
            entry["reference"]["summary"] = summarise(entry["reference"]["run"], peak)
            entry["reference"]["patience"] = patience_sweep(entry["reference"]["run"], peak)
        for spec in candidates:
            if args.resume and spec in entry:
                continue
            params, cfg = parse_candidate(spec, noisy.shape[2])
            run = timed_run(noisy, clean, params, cfg, args.seed, args.device)
            entry[spec] = {"run": run, "summary": summarise(run, peak)}
            print(f"{name} {spec}: {json.dumps(entry[spec]['summary'])}", flush=True)
            save()


def _db(value: float) -> str:
    """Two decimals, with no "-0.00" for a gap that rounds to nothing."""
    return f"{round(value, 2) + 0.0:.2f}"


def ttq_markdown(results: dict[str, Any]) -> str:
    """One row per crop and run: the reference peak, time to within 0.5 dB, the stop."""
    lines = ["| crop | run | reference peak (iter) | within 0.5 dB: iter / wall s / CPU s | stop: iter / wall s | PSNR kept (gap) | CPU ms per step: announced / measured |",
             "|---|---|---|---|---|---|---|"]
    for name, entry in results.get("time_to_quality", {}).items():
        ref = entry["reference"]
        for spec, value in entry.items():
            if not isinstance(value, dict) or "summary" not in value:
                continue
            s = value["summary"]
            label = "reference (no stop)" if spec == "reference" else spec
            within = "never" if s["within_iteration"] is None else f"{s['within_iteration']} / {s['within_wall_s']:.0f} / {s['within_cpu_s']:.0f}"
            at = "recorded" if ref["peak_iteration"] is None else ref["peak_iteration"]
            lines.append(f"| {name} | {label} | {ref['peak']:.2f} ({at}) | {within} "
                         f"| {s['stop_iteration']} / {s['stop_wall_s']:.0f} | {s['kept_psnr']:.2f} ({_db(s['stop_gap'])}) "
                         f"| {1000 * s['announced_s_per_step']:.0f} / {1000 * s['cpu_s_per_step']:.0f} |")
    lines += ["", "ES-EMV's stop for other patiences, read off each reference run's variance curve (rules every step):", "",
              "| crop | patience | suggested | stop | CPU s at the stop | gap of the average at the stop | gap at the suggestion |",
              "|---|---|---|---|---|---|---|"]
    for name, entry in results.get("time_to_quality", {}).items():
        for patience, p in entry["reference"].get("patience", {}).items():
            lines.append(f"| {name} | {patience} | {p['suggested']} | {p['stop_iteration']} | {p['cpu_s']:.0f} "
                         f"| {_db(p['gap_average'])} | {_db(p['gap_suggested'])} |")
    return "\n".join(lines) + "\n"
