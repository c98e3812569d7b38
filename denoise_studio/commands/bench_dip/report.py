"""The Markdown section of ``docs/BENCHMARKS.md`` made from the results."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

SECTION = "## Deep Image Prior"


def finite_mean(values: list[float]) -> float:
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
            lines.append(f"| **mean of {len(g['peak'])}** | {preset} | {_f(finite_mean(g['peak']))} | | **{_f(finite_mean(g['wmv']))}** | | **{_f(finite_mean(g['emv']))}** | {_f(finite_mean(g['bm3d']))} |")
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
