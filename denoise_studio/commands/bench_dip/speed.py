"""Part ``speed``: our DIP loop against a plain reference loop of the official configuration."""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from denoise_studio.commands.bench_dip.data import load_crops


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
    import torch

    from denoise_studio.methods._common.dip_fit import resolve_precision

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


def part_precision(args: argparse.Namespace, precisions: tuple[str, ...] = ("bfloat16", "float32")) -> dict[str, Any]:
    """CPU seconds of one paper-preset step per precision on a ``--crop`` crop, the precisions
    alternating in this one process; the smallest of ``--precision-repeats`` rounds (after two
    warm-up steps). ``native_bf16`` says whether this CPU has bfloat16 instructions: without
    them bfloat16 is emulated and can be tens of times slower, which is why ``precision=auto``
    keeps float32 there."""
    from denoise_studio.core.method import RunContext
    from denoise_studio.methods._common.dip_fit import cpu_has_native_bf16
    from denoise_studio.methods.dip import DIP, DIPParams

    repeats = args.precision_repeats
    _, clean, noisy = load_crops(args.data, 1, args.crop, args.sigma, args.seed)[0]
    runs = {p: DIP().run(noisy, DIPParams(preset="paper", iterations=repeats + 10, precision=p), RunContext(seed=args.seed, reference=clean))
            for p in precisions}
    for gen in runs.values():
        next(gen)
        next(gen)
    costs: dict[str, list[float]] = {p: [] for p in precisions}
    for _ in range(repeats):
        for p, gen in runs.items():
            t0 = time.process_time()
            next(gen)
            costs[p].append(time.process_time() - t0)
    for gen in runs.values():
        gen.close()
    return {"size": args.crop, "cpu_s_per_step": {p: min(c) for p, c in costs.items()}, "repeats": repeats,
            "native_bf16": cpu_has_native_bf16()}
