"""Deep Image Prior (Ulyanov, Vedaldi and Lempitsky, CVPR 2018), denoising setting.

The image prior is the structure of a randomly initialised network: fitting it to the noisy
image reproduces the image before it reproduces the noise. Sec. 4 "Denoising and generic
reconstruction" and the official notebook: the skip network of
:mod:`denoise_studio.methods._common.skip_net` (5 × 128 channels, 4 skip channels, bilinear),
input z of 32 channels, jitter σ_p = 1/30, Adam with lr 0.01, output EMA 0.99, the 5 dB guard.
The loop and its snapshot contract are in :mod:`denoise_studio.methods._common.dip_loop`.

Presets
-------
``paper``
    The network above, exactly.
``fast``
    For CPUs: the same topology with fewer channels and nearest-neighbour upsampling, chosen by
    measurement on the development CPU (see ``docs/BENCHMARKS.md``, "Deep Image Prior").
``auto`` (default)
    ``paper`` when the run's device is CUDA, else ``fast``.

First try
---------
The ``Params`` defaults are the paper's: 3000 iterations and no stop rule (stop by eye). The
window and ``denoise`` start instead with :meth:`DIP.starting_params`: the ES-EMV rule with a
patience of ``FIRST_TRY_PATIENCE`` (300) steps, the rules fed every ``FIRST_TRY_RULE_EVERY`` (4th)
step, and a cap of ``ITERATION_CAP[preset]`` iterations (the paper's patience of 1000 after the
iteration where the preset peaks on the 128×128 CBSD68 crops of ``docs/BENCHMARKS.md``, ``fast``
500–750, ``paper`` 850–1100, rounded up). The patience was measured on four 256×256 crops
(``bench-dip --parts time-to-quality``, "Deep Image Prior: time to quality"): keeping the
averaged output at the stop, a patience of 300 ended 0.36 dB below the peak on average, 1000
ended 0.99 dB below and took 74 % more time, because the averaged output peaks 100–1000 steps
after the variance minimum and declines after it. With the fast preset, an image of about 512 pixels or more is fitted as tiles of about 256
pixels, one network each, in lockstep (``tile``, :mod:`~denoise_studio.methods._common.dip_tiles`):
on a 500×500 McMaster crop they came within 0.5 dB of the whole-image run's peak in less than
half its steps ("Deep Image Prior: time to quality"). With two or more CPU threads a smaller image
that would be one tile is cut into half-size tiles (``split_for_threads``; a 256×256 crop:
four tiles of 160), stepped side by side on the threads: they come within 0.5 dB of the peak in
about 40 % fewer steps and 1.2 times sooner than one network on two threads, and the automatic
stop keeps a better result, later ("Deep Image Prior: time to quality"). A user who sets ``-p iterations=3000
-p stop_rule=none -p tile=0`` gets the paper.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from denoise_studio.core.cost import CostEstimate
from denoise_studio.core.curves import ES_EMV
from denoise_studio.core.method import RunContext, Snapshot
from denoise_studio.core.params import param
from denoise_studio.methods._common.dip_loop import DipLoopParams, IterativeFit, estimate_cost, fit
from denoise_studio.methods._common.skip_net import SkipConfig

PAPER = SkipConfig()
# Measured on the 2-core development CPU (docs/BENCHMARKS.md, "Deep Image Prior"): 32 channels
# and nearest upsampling cost 0.04 s per 128×128 iteration against 0.16–0.18 s for the paper
# network (one thread, bfloat16), and peaked at 26.76 dB vs 26.63 dB on the one CBSD68 crop both
# finished; lr 0.02 peaked later and no higher, so the paper's 0.01 is kept.
FAST = SkipConfig(resize="nearest").with_channels(32, skip=4)
# The first try's iteration cap per preset, patience and rule sampling (module docstring, "First try").
ITERATION_CAP = {"fast": 2000, "paper": 2500}
FIRST_TRY_PATIENCE = 300
FIRST_TRY_RULE_EVERY = 4
# The first try fits a large image as tiles of about 256 pixels with the fast preset (module
# docstring, "First try"); the paper preset (CUDA) fits the whole image, as in the paper.
FIRST_TRY_TILE = {"fast": 256}


@dataclass(frozen=True)
class DIPParams(DipLoopParams):
    """Parameters of :class:`DIP`; see :class:`DipLoopParams` for the shared ones."""

    preset: str = param("auto", choices=("auto", "paper", "fast"), title="Preset", description="paper: 5×128 bilinear; fast: fewer channels, nearest (CPU); auto: paper on CUDA, else fast")


def resolve_preset(preset: str, device: str) -> str:
    """``auto`` → ``paper`` on CUDA, ``fast`` elsewhere; other names unchanged."""
    if preset == "auto":
        return "paper" if device.startswith("cuda") else "fast"
    return preset


def network_for(preset: str, channels: int) -> SkipConfig:
    """The network of a (resolved) preset for an image with ``channels`` channels."""
    from dataclasses import replace

    base = PAPER if preset == "paper" else FAST
    return replace(base, out_channels=channels)


class DIP(IterativeFit[DIPParams]):
    """Deep Image Prior (Ulyanov et al., CVPR 2018), denoising setting of Sec. 4."""

    id = "dip"
    title = "Deep Image Prior"
    family = "Deep Image Prior"
    Params = DIPParams
    iterative = True
    description = "Fits a random network to the noisy image; stop early (by eye or by rule) before it fits the noise."

    def run(self, noisy: np.ndarray, params: DIPParams, ctx: RunContext) -> Iterator[Snapshot]:
        preset = resolve_preset(params.preset, ctx.device)
        cfg = network_for(preset, noisy.shape[2])
        yield from fit(noisy, params, cfg, ctx, preset=preset)

    def starting_params(self, noisy: np.ndarray | None = None, device: str | None = None) -> DIPParams:
        """ES-EMV, its patience and sampling, and the cap of the preset the run will use (module docstring, "First try")."""
        from denoise_studio.core.device import best_device

        params = self.default_params(noisy)
        preset = resolve_preset(params.preset, device or best_device())
        return params.replace(stop_rule=ES_EMV, iterations=ITERATION_CAP[preset], patience=FIRST_TRY_PATIENCE,
                              rule_every=FIRST_TRY_RULE_EVERY, tile=FIRST_TRY_TILE.get(preset, 0),
                              split_for_threads=preset in FIRST_TRY_TILE)

    def estimate_cost(self, shape: tuple[int, ...], params: DIPParams, device: str = "cpu") -> CostEstimate:
        preset = resolve_preset(params.preset, device)
        return estimate_cost(shape, params, network_for(preset, int(shape[2]) if len(shape) > 2 else 1), device)
