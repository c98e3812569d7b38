"""Inference shared by the blind-spot networks (AP-BSN, LG-BPN): a first pass, then R3.

Both networks first denoise with pixel-shuffle downsampling (deterministic), then refine with
random-replacing refinement, R3 (Lee et al., CVPR 2022, Sec. 3.3): T passes, each of which puts a
fraction p of the noisy pixels back and runs the network without PD. The mean of the passes is
the result and their per-pixel spread the uncertainty map. Last, the result is fused with the
noisy input where the blind spot lost detail (``input_fusion``), and its slow variations, the
local colour, are taken from the input (``colour_anchor``): two deviations from both papers,
on by default, off with ``fuse_input`` and ``keep_colour``. A network used here provides
``refine(x)`` and ``config.pd_pad``. Also the dilated residual module both networks build on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from denoise_studio.core.method import RunContext, Snapshot
from denoise_studio.core.network import SELF_SUPERVISED, TrainRecipe
from denoise_studio.core.params import param
from denoise_studio.methods._common.colour_anchor import ANCHOR_SIGMA, anchor_low_frequencies, keep_colour_param
from denoise_studio.methods._common.input_fusion import fuse_with_input
from denoise_studio.methods._common.network import NetworkMethod, NetworkParams
from denoise_studio.methods._common.pixel_shuffle import PassCache, r3_pass


class DilatedResidual(nn.Module):
    """x + conv1×1(ReLU(conv3×3 dilated by d (x))): one module of a BSN
    branch (AP-BSN Sec. 3.2, Fig. 3), and of LG-BPN's local branch."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def r3_ensemble(
    net: Any, base: torch.Tensor, noisy: torch.Tensor, generator: torch.Generator | None, passes: int, probability: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``passes`` R3 passes over the first-pass result ``base``: (mean, per-pixel standard deviation)."""
    if passes < 1:
        return base, torch.zeros_like(base)
    outs = torch.stack([r3_pass(net.refine, base, noisy, probability, net.config.pd_pad, generator) for _ in range(passes)])
    return outs.mean(dim=0), outs.std(dim=0, unbiased=False)


def sidd_paper_recipe(source: str) -> TrainRecipe:
    """The paper recipe AP-BSN (Sec. 4.1) and LG-BPN share: 120×120 crops, batch 8, Adam at 1e-4
    ×0.1 after epochs 8 and 16 of 20 over SIDD-Medium, self-supervised L1.

    20 epochs of SIDD-Medium cut into 512×512 crops with 128 px overlap (official prep.py) are
    about 35 k crops, ~4.4 k batches an epoch: the step count is our estimate. The camera noise
    model stands in for SIDD.
    """
    return TrainRecipe(
        supervision=SELF_SUPERVISED,
        patch_size=120,
        batch_size=8,
        steps=88_000,
        learning_rate=1e-4,
        betas=(0.9, 0.999),
        schedule="multistep",
        milestones=(0.4, 0.8),
        gamma=0.1,
        noise="camera",
        sigma=(5.0, 15.0),
        validate_every=4_000,
        source=source,
    )


@dataclass(frozen=True)
class R3Params(NetworkParams):
    """The R3 settings of a blind-spot network (defaults: the AP-BSN paper's T = 8, p = 0.16)."""

    r3: bool = param(
        True,
        title="R3 refinement",
        description="random-replacing refinement: average T passes on the first result with a fraction p of the noisy pixels put back (restores fine texture)",
    )
    r3_passes: int = param(8, minimum=1, maximum=32, title="R3 passes (T)", description="passes averaged; their spread is the uncertainty map")
    r3_probability: float = param(
        0.16, minimum=0.0, maximum=1.0, step=0.01, title="R3 probability (p)", description="fraction of pixels put back to their noisy value in each pass"
    )
    # Not in the papers: without it these networks make weak noise worse (they blur what the
    # blind spot hides); off gives the papers' output.
    fuse_input: bool = param(
        True,
        title="Keep detail (fuse with the input)",
        description="give back the noisy value where the blind spot lost more detail than there is noise "
                    "(posterior mean, Laine et al. 2019); off: the papers' output",
    )
    # Not in the papers: without it the lite weights shift colours by a level or more.
    keep_colour: bool = keep_colour_param(ANCHOR_SIGMA, robust=False)


P = TypeVar("P", bound=R3Params)


class BlindSpotMethod(NetworkMethod[P]):
    """A blind-spot network method: :meth:`first_pass`, then R3 as the stochastic ensemble.

    The first pass does not depend on R3's randomness, yet the shared inference calls
    :meth:`forward` once per R3 pass; it is computed once per tile (and per self-ensemble
    orientation) and kept in a cache for the run.
    """

    def __init__(self) -> None:
        super().__init__()
        self._first_pass_cache = PassCache()

    def first_pass(self, net: nn.Module, x: torch.Tensor, params: P) -> torch.Tensor:
        """The deterministic PD denoising of ``x``."""
        raise NotImplementedError

    def first_pass_key(self, params: P) -> object:
        """What besides the input the first pass depends on (the cache key)."""
        return None

    def run(self, noisy: np.ndarray, params: P, ctx: RunContext) -> Iterator[Snapshot]:
        self._first_pass_cache.clear()
        try:
            yield from super().run(noisy, params, ctx)
        finally:
            self._first_pass_cache.clear()

    def ensemble_passes(self, params: P) -> int:
        return params.r3_passes if params.r3 else 1

    def _cached_first_pass(self, net: nn.Module, x: torch.Tensor, params: P) -> torch.Tensor:
        return self._first_pass_cache.get(net, self.first_pass_key(params), x, lambda: self.first_pass(net, x, params))

    def tile_extras(self, net: nn.Module, x: torch.Tensor, params: P) -> dict[str, torch.Tensor]:
        if not params.fuse_input:
            return {}
        return {"blind": self._cached_first_pass(net, x, params)}

    def finish(self, noisy: np.ndarray, image: np.ndarray, extras: dict[str, np.ndarray], params: P,
               info: dict[str, Any]) -> np.ndarray:
        if "blind" in extras:
            image, weight = fuse_with_input(noisy, extras["blind"], image)
            info["input_weight"] = round(float(weight.mean()), 4)
        if params.keep_colour:
            image = anchor_low_frequencies(noisy, image)
        return image

    def forward(self, net: nn.Module, x: torch.Tensor, params: P, generator: torch.Generator | None) -> torch.Tensor:
        base = self._cached_first_pass(net, x, params)
        if not params.r3:
            return base
        return r3_pass(net.refine, base, x, params.r3_probability, net.config.pd_pad, generator)  # type: ignore[arg-type, union-attr]
