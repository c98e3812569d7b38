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
``precision``
    CPU seconds of one paper-preset step in bfloat16 and in float32 on a ``--crop`` crop
    (alternating in one process, the smallest of ``--precision-repeats``, 6 by default), the figure behind ``precision=auto``.
``time-to-quality``
    Issue 20: the wall and CPU time until the averaged output is within 0.5 dB of a reference
    peak, and the automatic stop, per candidate setting
    (:mod:`denoise_studio.commands.bench_dip.time_to_quality`; table printed and, with
    ``--markdown``, written).
``sure``
    The SURE curve of the fast preset against its true PSNR curve (two runs in lockstep, issue
    19): where the highest estimate falls against the true peak, beside ES-EMV
    (:mod:`denoise_studio.commands.bench_dip.sure`; its table is printed and, with
    ``--markdown``, written, but not put into the section).

Results go to ``--json`` (written after every image, so a long run can be inspected while it
runs) and, with ``--markdown``, to a Markdown section; ``--update-docs`` replaces the
``## Deep Image Prior`` section of ``docs/BENCHMARKS.md`` with it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from denoise_studio.commands.bench_dip.memory import _memory_child, part_memory
from denoise_studio.commands.bench_dip.quality import (
    part_fast,
    part_quality,
    summarise_curve,
)
from denoise_studio.commands.bench_dip.report import markdown, replace_section
from denoise_studio.commands.bench_dip.speed import part_precision, part_speed
from denoise_studio.commands.bench_dip.sure import part_sure, sure_markdown
from denoise_studio.commands.bench_dip.time_to_quality import part_time_to_quality, ttq_markdown
from denoise_studio.core.errors import UserError

DEFAULT_DATA = "../shared/data/testsets/CBSD68"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parts", default="speed,quality,fast,memory", help="comma-separated: speed, quality, fast, memory, precision, sure, time-to-quality")
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
    parser.add_argument("--precision-repeats", type=int, default=6, help="precision part: timed rounds (the smallest is kept)")
    parser.add_argument("--sure-epsilon", type=float, default=None, help="sure part: the probe ε (default max(y)/1000, as core.quality)")
    parser.add_argument("--ttq-crops", default="256:4,512:2", help="time-to-quality: SIZE:COUNT,... (sizes above 256 come from --ttq-large-data)")
    parser.add_argument("--ttq-large-data", default="../shared/data/testsets/McMaster", help="time-to-quality: folder of the large crops")
    parser.add_argument("--ttq-reference-iterations", type=int, default=0, help="time-to-quality: iterations of the reference runs (0: 3000 at 256, 2500 above)")
    parser.add_argument("--ttq-peaks", default="", help="time-to-quality: reference peaks measured before, NAME@SIZE=DB,... (skips those reference runs)")
    parser.add_argument("--ttq-candidates", default="fast", help="time-to-quality: PRESET[:NAME=VALUE...],... runs as the window starts them")
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


def merge_results(into: dict[str, Any], other: dict[str, Any]) -> None:
    """Merge another result file: quality entries per image and preset; other parts if missing."""
    for name, entry in other.get("quality", {}).items():
        into.setdefault("quality", {}).setdefault(name, {}).update(entry)
    for part in ("sure", "time_to_quality"):
        for name, entry in other.get(part, {}).items():
            into.setdefault(part, {}).setdefault(name, {}).update(entry)
    for key in ("speed", "memory", "meta"):
        if key in other and key not in into:
            into[key] = other[key]


def _table_parts(parts: set[str], args: argparse.Namespace, results: dict[str, Any], save: Any) -> bool:
    """The parts with tables of their own (time-to-quality, sure): run, print and, with
    ``--markdown``, write them; True when there was one."""
    tables = []
    if "time-to-quality" in parts:
        part_time_to_quality(args, results, save)
        tables.append(ttq_markdown(results))
    if "sure" in parts:
        part_sure(args, results, save)
        tables.append(sure_markdown(results))
    if tables:
        print("\n".join(tables))
        if args.markdown:
            Path(args.markdown).write_text("\n".join(tables), encoding="utf-8")
    return bool(tables)


def run(args: argparse.Namespace) -> int:
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        return _memory_child(args)
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = parts - {"speed", "quality", "fast", "memory", "precision", "sure", "time-to-quality"}
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
    if "precision" in parts:
        results["precision"] = part_precision(args)
        print("precision:", json.dumps(results["precision"]), flush=True)
        save()
        if parts == {"precision"}:
            return 0
    if "memory" in parts:
        results["memory"] = part_memory(args)
        print("memory:", json.dumps(results["memory"]), flush=True)
        save()
    if "quality" in parts:
        part_quality(args, results, save)
    if _table_parts(parts, args, results, save) and parts <= {"sure", "time-to-quality"}:
        return 0
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
