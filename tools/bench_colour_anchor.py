"""The colour anchor's scale and clip guard on the networks that use it: "Keeping the input's colour" in docs/BENCHMARKS.md.

Each network runs once per image with the anchor off (``keep_colour=false``; the fusion with the
input on, as by default), then its result is anchored to the input at every scale asked for
(``methods/_common/colour_anchor.py``; scale 0: no anchor). Printed as a Markdown table:

* mean PSNR of the first ``--limit`` images of CBSD68 and McMaster with camera noise σ 10 and 25,
  the noise of ``denoise-studio bench`` (the same draws);
* the PSNR gain over the noisy input on the mild-noise crop of the fidelity check (camera σ 2 / 5,
  Gaussian σ 5);
* the largest per-channel cast (0-255) on the flat patches of the fidelity check and on a flat
  grey 96×96 patch with camera noise σ 10 (the zoo check's patch for these two networks). ::

    taskset -c 0 python3 tools/bench_colour_anchor.py --methods ap_bsn,lg_bpn --scales 0,2,3,4,6,8,16,32
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

WEIGHTS = {"ap_bsn": "ap_bsn-lite", "lg_bpn": "lg_bpn-lite", "invdn": "invdn-lite-camera", "masked": "masked-lite"}
ROBUST = {"masked"}  # read through block medians, as the method does
SETS = ("CBSD68", "McMaster")
LEVELS = (10.0, 25.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--methods", default="ap_bsn,lg_bpn")
    parser.add_argument("--scales", default="0,2,3,4,6,8,16,32", help="anchor scales in pixels (0: no anchor)")
    parser.add_argument("--testsets", default="../shared/data/testsets")
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--linear", action="store_true", help="anchor in linear light (the camera noise's gamma undone; plain anchor, no guard)")
    parser.add_argument("--guard", type=float, default=0.0, help="the clip guard: no anchor where the result is within this of 0 or 1")
    args = parser.parse_args(argv)

    from denoise_studio.core.image import load_image
    from denoise_studio.core.method import RunContext, run_to_end
    from denoise_studio.core.metrics import psnr
    from denoise_studio.core.noise import GAMMA, add_noise
    from denoise_studio.methods import create_method
    from denoise_studio.methods._common.colour_anchor import anchor_low_frequencies
    from denoise_studio.training import fidelity

    scales = [float(s) for s in args.scales.split(",")]
    columns = [f"{s} camera {lvl:g}" for s in SETS for lvl in LEVELS] + [f"mild {n} {lvl:g}" for n, lvl in fidelity.MILD_NOISE]
    columns += ["largest flat cast"]
    print("| method | scale px | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for method_id in args.methods.split(","):
        method = create_method(method_id)
        params = method.Params.from_strings({"weights": WEIGHTS[method_id], "keep_colour": "false"}, base=method.Params())

        robust = method_id in ROBUST

        def anchored(noisy: np.ndarray, method: object = method, params: object = params, robust: bool = robust) -> dict[float, np.ndarray]:
            result = run_to_end(method, noisy, params, RunContext(seed=0, device="cpu")).image  # type: ignore[arg-type]
            assert result is not None
            if args.linear:
                lin_noisy, lin_result = (np.power(np.clip(x, 0.0, 1.0), GAMMA) for x in (noisy, result))
                return {s: result if s == 0 else np.power(np.clip(anchor_low_frequencies(lin_noisy, lin_result, s), 0.0, 1.0), 1 / GAMMA)
                        for s in scales}
            return {s: result if s == 0 else np.clip(anchor_low_frequencies(noisy, result, s, robust=robust, clip_guard=args.guard), 0.0, 1.0)
                    for s in scales}

        cells: dict[float, list[str]] = {s: [] for s in scales}
        for name in SETS:
            folder = Path(args.testsets) / name
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")[: args.limit]
            if not files:
                parser.error(f"no PNG images in {folder}")
            for level in LEVELS:
                sums = dict.fromkeys(scales, 0.0)
                for index, path in enumerate(files):
                    clean = load_image(path).pixels
                    noisy = add_noise(clean, "camera", level, np.random.default_rng([0, int(round(1000 * level)), index]))
                    for s, image in anchored(noisy).items():
                        sums[s] += psnr(image, clean) / len(files)
                for s in scales:
                    cells[s].append(f"{sums[s]:.2f}")
        clean = fidelity.mild_clean()
        for noise, level in fidelity.MILD_NOISE:
            noisy = fidelity.mild_noisy(clean, noise, level)
            before = psnr(np.clip(noisy, 0.0, 1.0), clean)
            for s, image in anchored(noisy).items():
                cells[s].append(f"{psnr(image, clean) - before:+.2f}")
        casts: dict[float, float] = dict.fromkeys(scales, 0.0)
        patches = [fidelity.flat_patch(case) for case in fidelity.FLAT_CASES]
        grey = add_noise(np.full((96, 96, 3), 0.5, np.float32), "camera", 10.0, np.random.default_rng([0, 1]))
        for patch in [*patches, grey]:
            for s, image in anchored(patch).items():
                casts[s] = max(casts[s], float(np.abs(fidelity.channel_cast(image, np.clip(patch, 0.0, 1.0))).max()))
        for s in scales:
            cells[s].append(f"{casts[s]:.1f}")
            label = "off" if s == 0 else f"{s:g}"
            print(f"| {method_id} | {label} | " + " | ".join(cells[s]) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
