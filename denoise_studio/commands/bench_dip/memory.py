"""Part ``memory``: peak resident memory of a 512×512 run with the time machine (a child process)."""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np

from denoise_studio.commands.bench_dip.data import load_crops


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
