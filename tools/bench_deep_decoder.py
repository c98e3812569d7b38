"""The Deep Decoder (Heckel and Hand, ICLR 2019) as a faster Deep Image Prior? The figures under
"Deep Image Prior: time to quality" in docs/BENCHMARKS.md (issue 20).

The network of the paper's Sec. 2 and its denoising notebook: a code of ``k`` channels at 1/32 of
the image side (uniform noise × 0.1), then six layers of a 1×1 convolution without bias, ×2
bilinear upsampling (not after the last), ReLU and channel normalisation (batch norm over the one
image, affine), and a 1×1 convolution to the colours with a sigmoid. Adam with lr 0.01, no input
jitter; the notebook runs 1,900 iterations with k = 128 on 512×512 images. It is
under-parameterised, so it needs no early stop; here its output is averaged like DIP's (EMA 0.99)
so that its curve compares with the reference peak of ``bench-dip --parts time-to-quality``.

On the crops of that part (same images, noise and seed), printed per crop and width: CPU seconds
per step, the averaged output's PSNR every ``--report-every`` steps, the peak, and the step and
CPU seconds at which it comes within 0.5 dB of the crop's reference peak (read from the results
file). It is not shipped: it does not reach the reference peak sooner (BENCHMARKS.md). ::

    taskset -c 0 python3 tools/bench_deep_decoder.py --ttq-json OUT/ttq.json --crops 1 --widths 64:2000,128:1000
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

WITHIN_DB = 0.5
UPSAMPLINGS = 5


def deep_decoder(width: int, colours: int) -> nn.Sequential:
    """Sec. 2: (1×1 conv → ×2 bilinear → ReLU → channel norm) × 6, the last without upsampling; 1×1 conv, sigmoid."""
    layers: list[nn.Module] = []
    for i in range(UPSAMPLINGS + 1):
        layers.append(nn.Conv2d(width, width, 1, bias=False))
        if i < UPSAMPLINGS:
            layers.append(nn.Upsample(scale_factor=2, mode="bilinear"))
        layers += [nn.ReLU(), nn.BatchNorm2d(width)]
    layers += [nn.Conv2d(width, colours, 1, bias=False), nn.Sigmoid()]
    return nn.Sequential(*layers)


def fit(noisy: np.ndarray, clean: np.ndarray, width: int, iterations: int, seed: int) -> tuple[list[float], float]:
    """The averaged output's PSNR against ``clean`` at every step, and the CPU seconds per step."""
    from denoise_studio.core.image import to_tensor
    from denoise_studio.methods._common.dip_fit import resolve_precision

    device = torch.device("cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = deep_decoder(width, noisy.shape[2])
        h, w = noisy.shape[:2]
        code = torch.rand(1, width, h >> UPSAMPLINGS, w >> UPSAMPLINGS) * 0.1
    target, reference = to_tensor(noisy, device), to_tensor(clean, device)
    amp = resolve_precision("auto", device)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    average: torch.Tensor | None = None
    curve = []
    cpu0 = time.process_time()
    for _ in range(iterations):
        with torch.autocast("cpu", dtype=amp or torch.bfloat16, enabled=amp is not None):
            out = net(code).float()
        loss = F.mse_loss(out, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        out = out.detach()
        average = out.clone() if average is None else average.mul_(0.99).add_(out, alpha=0.01)
        curve.append(-10.0 * math.log10(float(F.mse_loss(average, reference))))
    return curve, (time.process_time() - cpu0) / iterations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ttq-json", required=True, help="results file of bench-dip --parts time-to-quality (the reference peaks)")
    parser.add_argument("--data", default="../shared/data/testsets/CBSD68")
    parser.add_argument("--crops", type=int, default=1, help="the first N 256×256 crops")
    parser.add_argument("--widths", default="64:2000,128:1000", help="WIDTH:ITERATIONS,... (the paper: 128 channels)")
    parser.add_argument("--report-every", type=int, default=500)
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    from denoise_studio.commands.bench_dip.data import load_crops
    from denoise_studio.commands.bench_dip.time_to_quality import reference_peaks

    torch.set_num_threads(args.threads)
    peaks = reference_peaks(args.ttq_json)
    for name, clean, noisy in load_crops(args.data, args.crops, 256, args.sigma, args.seed):
        peak = peaks[f"{name}@256"]
        for item in args.widths.split(","):
            width, iterations = (int(v) for v in item.split(":"))
            curve, seconds = fit(noisy, clean, width, iterations, args.seed)
            marks = ", ".join(f"{t}: {curve[t - 1]:.2f}" for t in range(args.report_every, iterations + 1, args.report_every))
            reached = [t for t, value in enumerate(curve, 1) if value >= peak - WITHIN_DB]
            within = f"step {reached[0]}, {reached[0] * seconds:.0f} s" if reached else "never"
            print(f"{name} k={width}: {1000 * seconds:.0f} ms per step; averaged output {marks}; peak {max(curve):.2f} "
                  f"(step {int(np.argmax(curve)) + 1}); reference peak {peak:.2f}; within {WITHIN_DB} dB: {within}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
