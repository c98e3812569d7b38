"""``denoise-studio bench-dip``: the Deep Image Prior benchmark of issue 4.

Four parts (``--parts``), Gaussian noise σ = 25 (clipped to [0, 1], as DIP's notebook does):

``speed``
    Iterations per second of our DIP with the paper preset (its default precision on this
    device) against a plain reference loop written here: the official configuration in float32
    and the notebook's per-step bookkeeping (outputs and weights copied to the CPU, PSNR in
    numpy), on a 256×256 crop; both timed alternately in the same run.
``quality``
    The first ``--images`` CBSD68 images (sorted by name), centre crops of ``--crop`` pixels:
    DIP runs of ``--iterations`` steps per preset with the reference for the curve only; peak
    PSNR of the averaged output, PSNR at the ES-WMV and ES-EMV suggestions, their gap to the
    peak; BM3D (CBM3D) on the same crops.
``fast``
    From the quality curves: wall time of the fast preset to come within 0.5 dB of the paper
    preset's peak, against the time the paper preset takes to reach its own peak.
``memory``
    Peak resident memory of a 512×512 run with the time machine on (a child process).

Results go to ``--json`` (written after every image, so a long run can be inspected while it
runs) and, with ``--markdown``, to a Markdown section; ``--update-docs`` replaces the
``## Deep Image Prior`` section of ``docs/BENCHMARKS.md`` with it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from denoise_studio.core.curves import ES_EMV, ES_WMV, PSNR_REF, PSNR_REF_AVG, suggestion_key
from denoise_studio.core.errors import UserError

SECTION = "## Deep Image Prior"
DEFAULT_DATA = "../shared/data/testsets/CBSD68"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parts", default="speed,quality,fast,memory", help="comma-separated: speed, quality, fast, memory")
    parser.add_argument("--data", default=DEFAULT_DATA, help="folder of clean test images (CBSD68)")
    parser.add_argument("--images", type=int, default=4, help="how many images (sorted by name)")
    parser.add_argument("--offset", type=int, default=0, help="skip this many images first (to split a long run)")
    parser.add_argument("--crop", type=int, default=128, help="centre-crop size for the quality part")
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--iterations", type=int, default=2000, help="iterations per quality run")
    parser.add_argument("--presets", default="paper,fast", help="DIP presets for the quality part")
    parser.add_argument("--speed-size", type=int, default=256)
    parser.add_argument("--speed-iterations", type=int, default=20, help="timed iterations per loop and round")
    parser.add_argument("--memory-size", type=int, default=512)
    parser.add_argument("--memory-iterations", type=int, default=200)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", dest="json_path", default="dip_bench.json", help="results file (updated as it runs)")
    parser.add_argument("--resume", action="store_true", help="keep finished quality runs found in --json")
    parser.add_argument("--markdown", default=None, help="write the Markdown section to this file")
    parser.add_argument("--update-docs", default=None, metavar="BENCHMARKS_MD", help="replace the DIP section of this file")
    parser.add_argument("--merge", nargs="+", default=[], metavar="JSON", help="merge these result files (of runs split with --offset/--presets) into --json first")
    parser.add_argument("--note", action="append", default=[], help="a line for the Notes of the Markdown section")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    size = min(size, h, w)
    top, left = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(image[top : top + size, left : left + size])


def load_crops(folder: str, count: int, size: int, sigma: float, seed: int, offset: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, clean, noisy) for the first ``count`` images of ``folder`` (sorted by name).

    ``offset`` skips the first images; image ``i`` always gets noise seed ``seed + i``."""
    from denoise_studio.core.image import load_image
    from denoise_studio.core.noise import add_noise

    paths = sorted(p for p in Path(folder).glob("*.png"))[:count]
    if not paths:
        raise UserError(f"no PNG images in {folder}")
    out = []
    for i, path in enumerate(paths):
        if i < offset:
            continue
        clean = centre_crop(load_image(str(path)).pixels, size)
        noisy = add_noise(clean, "gaussian", sigma, np.random.default_rng(seed + i), clip=True)
        out.append((path.stem, clean, noisy))
    return out


# --------------------------------------------------------------------------------------------
# Part 1: speed against a plain reference loop
# --------------------------------------------------------------------------------------------
def _reference_skip(in_ch: int = 32, out_ch: int = 3, width: int = 128, skip: int = 4, scales: int = 5) -> Any:
    """The official denoising network built the plain way (nested ``nn.Sequential``, a concat
    module, ``nn.Upsample``), float32: the baseline our implementation is compared with."""
    import torch
    from torch import nn

    class Cat(nn.Module):
        def __init__(self, a: nn.Module, b: nn.Module) -> None:
            super().__init__()
            self.a, self.b = a, b

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([self.a(x), self.b(x)], dim=1)

    def conv(ci: int, co: int, k: int, stride: int = 1) -> nn.Sequential:
        pad = (k - 1) // 2
        return nn.Sequential(nn.ReflectionPad2d(pad), nn.Conv2d(ci, co, k, stride)) if pad else nn.Sequential(nn.Conv2d(ci, co, k, stride))

    def block(ci: int, co: int, k: int, stride: int = 1) -> list[nn.Module]:
        return [conv(ci, co, k, stride), nn.BatchNorm2d(co), nn.LeakyReLU(0.2, inplace=True)]

    def level(ci: int, depth: int) -> nn.Sequential:
        deeper: list[nn.Module] = block(ci, width, 3, 2) + block(width, width, 3)
        if depth + 1 < scales:
            deeper.append(level(width, depth + 1))
        deeper.append(nn.Upsample(scale_factor=2, mode="bilinear"))
        body = nn.Sequential(*block(ci, skip, 1))
        return nn.Sequential(
            Cat(body, nn.Sequential(*deeper)),
            nn.BatchNorm2d(skip + width),
            *block(skip + width, width, 3),
            *block(width, width, 1),
        )

    return nn.Sequential(level(in_ch, 0), nn.Conv2d(width, out_ch, 1), nn.Sigmoid())


def _reference_loop(noisy: np.ndarray, clean: np.ndarray, iterations: int, seed: int, state: dict[str, Any] | None) -> tuple[list[float], dict[str, Any]]:
    """The notebook's loop, plainly: per-step times (continuing ``state`` between rounds)."""
    import torch
    import torch.nn.functional as F

    from denoise_studio.core.metrics import psnr

    if state is None:
        torch.manual_seed(seed)
        net = _reference_skip(out_ch=noisy.shape[2])
        h, w = noisy.shape[:2]
        target = torch.from_numpy(noisy.transpose(2, 0, 1).copy())[None]
        z = torch.rand(1, 32, h, w) * 0.1
        state = {
            "net": net,
            "target": target,
            "z": z,
            "opt": torch.optim.Adam(net.parameters(), lr=0.01),
            "avg": None,
            "last": None,
            "psnr_last": 0.0,
        }
    net, target, z, opt = state["net"], state["target"], state["z"], state["opt"]
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        opt.zero_grad()
        out = net(z + torch.randn_like(z) / 30.0)
        avg = out.detach() if state["avg"] is None else state["avg"] * 0.99 + out.detach() * 0.01
        state["avg"] = avg
        loss = F.mse_loss(out, target)
        loss.backward()
        out_np = out.detach().cpu().numpy()[0].transpose(1, 2, 0)
        p_noisy = psnr(out_np, noisy)
        psnr(avg.cpu().numpy()[0].transpose(1, 2, 0), clean)
        if state["last"] is not None and p_noisy - state["psnr_last"] < -5:
            for saved, p in zip(state["last"], net.parameters()):
                p.data.copy_(saved)
        else:
            state["last"] = [p.detach().cpu().clone() for p in net.parameters()]
            state["psnr_last"] = p_noisy
        opt.step()
        times.append(time.perf_counter() - t0)
    return times, state


def _ours_loop(noisy: np.ndarray, clean: np.ndarray, iterations: int, seed: int, device: str, state: dict[str, Any] | None) -> tuple[list[float], dict[str, Any]]:
    """Our DIP generator (paper preset, default precision), advanced ``iterations`` steps."""
    from denoise_studio.core.method import RunContext
    from denoise_studio.methods.dip import DIP, DIPParams

    if state is None:
        ctx = RunContext(seed=seed, device=device, reference=clean)
        gen = DIP().run(noisy, DIPParams(preset="paper", iterations=10**6 // 100), ctx)
        state = {"gen": gen, "ctx": ctx}
    gen = state["gen"]
    times = []
    t0 = time.perf_counter()
    for _ in range(iterations):
        next(gen)
        t1 = time.perf_counter()
        times.append(t1 - t0)
        t0 = t1
    return times, state


def part_speed(args: argparse.Namespace) -> dict[str, Any]:
    """Alternate rounds of both loops on one crop; report medians and the ratio."""
    from denoise_studio.methods._common.dip_loop import resolve_precision

    import torch

    crops = load_crops(args.data, 1, args.speed_size, args.sigma, args.seed)
    _, clean, noisy = crops[0]
    ref_state = ours_state = None
    ref_times: list[float] = []
    our_times: list[float] = []
    for round_ in range(3):
        t, ref_state = _reference_loop(noisy, clean, args.speed_iterations, args.seed, ref_state)
        ref_times += t if round_ else t[2:]  # the first steps include allocation warm-up
        t, ours_state = _ours_loop(noisy, clean, args.speed_iterations, args.seed, args.device, ours_state)
        our_times += t if round_ else t[2:]
    ref_med, our_med = float(np.median(ref_times)), float(np.median(our_times))
    precision = resolve_precision("auto", torch.device(args.device))
    return {
        "size": args.speed_size,
        "iterations_timed": [len(ref_times), len(our_times)],
        "reference_s_per_it": ref_med,
        "ours_s_per_it": our_med,
        "reference_it_per_s": 1 / ref_med,
        "ours_it_per_s": 1 / our_med,
        "speedup": ref_med / our_med,
        "ours_precision": "float32" if precision is None else str(precision).replace("torch.", ""),
        "threads": torch.get_num_threads(),
    }


# --------------------------------------------------------------------------------------------
# Part 2 and 3: quality curves
# --------------------------------------------------------------------------------------------
def run_curve(noisy: np.ndarray, clean: np.ndarray, preset: str, iterations: int, seed: int, device: str) -> dict[str, Any]:
    """One DIP run without stopping: the per-step curves and the rules' suggestions."""
    from denoise_studio.core.method import RunContext
    from denoise_studio.methods.dip import DIP, DIPParams

    ctx = RunContext(seed=seed, device=device, reference=clean)
    # "<preset>[:<precision>]", e.g. "paper:float32"; see below for fast-preset candidates.
    name, _, precision = preset.partition(":")
    params = DIPParams(preset=name if name in ("paper", "fast") else "fast", iterations=iterations, stop_rule="none", precision=precision or "auto")
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


# --------------------------------------------------------------------------------------------
# Part 4: memory
# --------------------------------------------------------------------------------------------
def _memory_child(args: argparse.Namespace) -> int:
    from denoise_studio.core.history import IterateHistory
    from denoise_studio.core.method import RunContext, run_to_end
    from denoise_studio.methods.dip import DIP, DIPParams

    crops = load_crops(args.data, 1, args.memory_size, args.sigma, args.seed)
    _, clean, noisy = crops[0]
    if min(clean.shape[:2]) < args.memory_size:  # CBSD68 images are 481×321: tile to the size
        reps = (math.ceil(args.memory_size / clean.shape[0]), math.ceil(args.memory_size / clean.shape[1]), 1)
        noisy = np.ascontiguousarray(np.tile(noisy, reps)[: args.memory_size, : args.memory_size])
    history = IterateHistory()
    ctx = RunContext(seed=args.seed, device=args.device, history=history)
    t0 = time.perf_counter()
    final = run_to_end(DIP(), noisy, DIPParams(iterations=args.memory_iterations), ctx)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "size": args.memory_size,
        "iterations": args.memory_iterations,
        "preset": final.info["preset"],
        "peak_rss_mb": peak_kb / 1024,
        "history": history.summary(),
        "seconds": time.perf_counter() - t0,
    }))
    return 0


def part_memory(args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "denoise_studio.cli", "bench-dip", "--memory-child", "--data", args.data,
           "--memory-size", str(args.memory_size), "--memory-iterations", str(args.memory_iterations),
           "--device", args.device, "--seed", str(args.seed), "--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip()[-500:]}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------
def _mean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def _f(x: Any, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.{digits}f}"


def markdown(results: dict[str, Any]) -> str:
    """The ``## Deep Image Prior`` section."""
    meta = results.get("meta", {})
    lines = [SECTION, "", f"Command: `{meta.get('command', 'denoise-studio bench-dip')}`", "",
             f"Machine: {meta.get('machine', '?')}; torch {meta.get('torch', '?')}, {meta.get('threads', '?')} thread(s); "
             f"σ = {meta.get('sigma', 25):g} (clipped), seed {meta.get('seed', 0)}.", ""]
    speed = results.get("speed")
    if speed:
        lines += ["### Speed (paper preset, one 256×256 crop)", "",
                  "| loop | s / iteration | iterations / s |", "|---|---|---|",
                  f"| plain reference loop (float32, notebook bookkeeping) | {_f(speed['reference_s_per_it'], 3)} | {_f(speed['reference_it_per_s'], 2)} |",
                  f"| ours ({speed['ours_precision']}) | {_f(speed['ours_s_per_it'], 3)} | {_f(speed['ours_it_per_s'], 2)} |", "",
                  f"Speed-up: **{speed['speedup']:.2f}×** (target ≥ 1.25×; medians of {speed['iterations_timed'][0]} timed steps each, the loops alternating).", ""]
    quality = results.get("quality")
    if quality:
        lines += [f"### Quality ({meta.get('crop', 128)}×{meta.get('crop', 128)} centre crops, at most {meta.get('iterations', 2000)} iterations, PSNR of the averaged output in dB)", "",
                  "| image | preset | peak (iter) | ES-WMV (iter) | gap | ES-EMV (iter) | gap | BM3D |", "|---|---|---|---|---|---|---|---|"]
        gaps: dict[str, dict[str, list[float]]] = {}
        for name, entry in quality.items():
            for preset in [k for k in entry if isinstance(entry[k], dict) and "summary" in entry[k]]:
                s = entry[preset]["summary"]
                lines.append(
                    f"| {name} | {preset} | {_f(s['peak_psnr'])} ({s['peak_iteration']}) | {_f(s['wmv_psnr'])} ({s['wmv_iteration']}) | {_f(s['wmv_gap'])} "
                    f"| {_f(s['emv_psnr'])} ({s['emv_iteration']}) | {_f(s['emv_gap'])} | {_f(entry.get('bm3d', {}).get('psnr'))} |"
                )
                g = gaps.setdefault(preset, {"wmv": [], "emv": [], "peak": [], "bm3d": []})
                g["wmv"].append(s["wmv_gap"])
                g["emv"].append(s["emv_gap"])
                g["peak"].append(s["peak_psnr"])
                g["bm3d"].append(entry.get("bm3d", {}).get("psnr", math.nan))
        for preset, g in gaps.items():
            lines.append(f"| **mean of {len(g['peak'])}** | {preset} | {_f(_mean(g['peak']))} | | **{_f(_mean(g['wmv']))}** | | **{_f(_mean(g['emv']))}** | {_f(_mean(g['bm3d']))} |")
        lines += ["", "Target: average gap ≤ 1 dB. A rule's PSNR is that of the averaged output at the iteration the rule suggests "
                  "(its variance minimum); with 2000 iterations and patience 1000 a rule may not have *stopped* the run yet, "
                  "its suggestion is then the minimum so far.", ""]
    fast = results.get("fast")
    if fast:
        cost = fast.get("_cpu_s_per_iteration", {})
        lines += ["### Fast preset: time to within 0.5 dB of the paper preset's peak", "",
                  f"CPU cost per iteration at the crop size, one thread: paper {_f(cost.get('paper'), 3)} s, fast {_f(cost.get('fast'), 3)} s "
                  "(`time.process_time`, independent of the machine's load).", "",
                  "| image | paper peak (iter) | fast peak | fast reaches paper peak − 0.5 dB at iter | ratio, CPU time | ratio, wall time |",
                  "|---|---|---|---|---|---|"]
        ratios, ratios_wall = [], []
        for name, r in fast.items():
            if name.startswith("_"):
                continue
            lines.append(f"| {name} | {_f(r['paper_peak'])} ({r.get('paper_peak_iteration', '?')}) | {_f(r['fast_peak'])} | {r['fast_iteration_within_0.5dB'] or 'never'} "
                         f"| {_f(r.get('ratio_cpu'))} | {_f(r['ratio'])} |")
            if r.get("ratio_cpu") is not None:
                ratios.append(r["ratio_cpu"])
            if r["ratio"] is not None:
                ratios_wall.append(r["ratio"])
        if ratios:
            lines += ["", f"Mean ratio {np.mean(ratios):.2f} by CPU time ({np.mean(ratios_wall):.2f} by wall time) on {len(ratios)} image(s) (target ≤ 0.20).", ""]
    memory = results.get("memory")
    if memory:
        if "error" in memory:
            lines += ["### Memory", "", f"Failed: {memory['error']}", ""]
        else:
            hist = memory["history"]
            lines += ["### Memory (512×512 run with the time machine)", "",
                      f"Peak resident memory {memory['peak_rss_mb']:.0f} MB for {memory['iterations']} iterations of the `{memory['preset']}` preset; "
                      f"the history held {hist['iterates']} iterates ({hist['keyframes']} full-resolution keyframes) in {hist['nbytes'] / 2**20:.1f} MB "
                      f"of its {hist['budget_bytes'] / 2**20:.0f} MB budget.", ""]
    notes = results.get("notes")
    if notes:
        lines += ["### Notes", "", *notes, ""]
    return "\n".join(lines).rstrip() + "\n"


def replace_section(path: Path, section: str) -> None:
    """Replace (or append) this benchmark's ``##`` section of a Markdown file, nothing else."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = text.find(SECTION + "\n")
    if start < 0:
        text = text.rstrip() + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + ("\n" + text[end + 1 :] if end >= 0 else "")
    path.write_text(text, encoding="utf-8")


def merge_results(into: dict[str, Any], other: dict[str, Any]) -> None:
    """Merge another result file: quality entries per image and preset; other parts if missing."""
    for name, entry in other.get("quality", {}).items():
        into.setdefault("quality", {}).setdefault(name, {}).update(entry)
    for key in ("speed", "memory", "meta"):
        if key in other and key not in into:
            into[key] = other[key]


def run(args: argparse.Namespace) -> int:
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        return _memory_child(args)
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = parts - {"speed", "quality", "fast", "memory"}
    if unknown:

        raise UserError(f"unknown part(s): {', '.join(sorted(unknown))}")
    path = Path(args.json_path)
    results: dict[str, Any] = json.loads(path.read_text()) if (args.resume and path.exists()) else {}
    for other in args.merge:
        merge_results(results, json.loads(Path(other).read_text()))
    # Re-score stored curves with the current rules of summarise_curve (merged or resumed runs).
    for entry in results.get("quality", {}).values():
        for value in entry.values():
            if isinstance(value, dict) and "run" in value:
                value["summary"] = summarise_curve(value["run"])
    meta_before = dict(results.get("meta", {}))
    results["meta"] = {
        "command": "denoise-studio bench-dip " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["bench-dip"] else "denoise-studio bench-dip",
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "sigma": args.sigma,
        "seed": args.seed,
        "crop": args.crop,
        "iterations": args.iterations,
    }
    if args.merge and meta_before.get("command"):
        # A merged report keeps the command of the runs it merges, not of the merge itself.
        results["meta"]["command"] = meta_before["command"]
    if args.note:
        results["notes"] = list(args.note)

    def save() -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(results))
        os.replace(tmp, path)

    if "speed" in parts:
        results["speed"] = part_speed(args)
        print("speed:", json.dumps(results["speed"]), flush=True)
        save()
    if "memory" in parts:
        results["memory"] = part_memory(args)
        print("memory:", json.dumps(results["memory"]), flush=True)
        save()
    if "quality" in parts:
        part_quality(args, results, save)
    if "fast" in parts or "quality" in parts:
        results["fast"] = part_fast(results, args.crop)
        save()
    section = markdown(results)
    if args.markdown:
        Path(args.markdown).write_text(section, encoding="utf-8")
    if args.update_docs:
        replace_section(Path(args.update_docs), section)
    print(section)
    return 0
