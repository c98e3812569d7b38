"""NAS-DIP (Chen, Gao, Robb and Huang, ECCV 2020): Deep Image Prior with a searched network.

NAS-DIP keeps DIP's optimisation (:mod:`denoise_studio.methods._common.dip_loop`) and changes the
network. Its search space (Sec. 3.2 and 3.3) is exposed as parameters of
:class:`~denoise_studio.methods._common.skip_net.SkipConfig`:

* the **upsampling cell** = a ×2 *resize* (bilinear, bicubic, nearest, depth-to-space, stride-2
  transposed convolution) followed by a *feature transform* (k×k convolution, separable,
  depth-wise, add-N-consecutive-channels + convolution, identity) and an optional activation;
* **cross-scale connections** (on/off): each decoder level also receives the encoder feature
  one scale coarser (upsampled by its own cell) and the one two scales finer (two stride-2
  conv–BN–act blocks), the pattern of the searched denoising network.

The reinforcement-learning search itself (an RNN controller trained with policy gradients on
PSNR rewards) is out of scope: the studio offers the *result* of the search as the ``nas``
preset and the search space as parameters (``preset=custom``) to explore by hand.

The ``nas`` preset is the searched denoising network of the official code
(``DIP/models/model_denoising.py``: upsampling cell index 86 = bicubic ×2, a 7×7 stride-1
transposed convolution — the same function class as a 7×7 convolution, written as one here —
and LeakyReLU; cross-scale connections; skip branches summed, 128 channels wide, 5 scales).
Deviations are listed in :mod:`~denoise_studio.methods._common.skip_net`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from denoise_studio.core.cost import CostEstimate
from denoise_studio.core.method import MethodError, RunContext, Snapshot
from denoise_studio.core.params import param
from denoise_studio.methods._common.dip_loop import DipLoopParams, IterativeFit, fit
from denoise_studio.methods._common.dip_loop import estimate_cost as dip_estimate_cost
from denoise_studio.methods._common.skip_net import ACTIVATIONS, RESIZES, TRANSFORMS, SkipConfig

NAS = SkipConfig(
    resize="bicubic",
    transform="conv",
    transform_kernel=7,
    cell_activation="leaky_relu",
    cross_scale=True,
    skip_merge="add",
)
# The searched cell and connections at a CPU-friendly width (not separately tuned).
NAS_FAST = replace(NAS, transform_kernel=3).with_channels(32)


@dataclass(frozen=True)
class NASDIPParams(DipLoopParams):
    """Parameters of :class:`NASDIP`: DIP's loop parameters plus the NAS-DIP search space."""

    preset: str = param("auto", choices=("auto", "nas", "fast", "custom"), title="Preset", description="nas: the searched denoising network; fast: the same, 32 channels and 3×3 transforms; custom: the search-space parameters below; auto: nas on CUDA, else fast")
    resize: str = param("bicubic", choices=RESIZES, title="Upsampling: resize", description="preset=custom only")
    transform: str = param("conv", choices=TRANSFORMS, title="Upsampling: feature transform", description="preset=custom only")
    transform_kernel: int = param(7, minimum=1, maximum=7, step=2, title="Transform kernel", description="preset=custom only (odd)")
    cell_activation: str = param("leaky_relu", choices=ACTIVATIONS, title="Cell activation", description="preset=custom only")
    add_n: int = param(4, minimum=2, maximum=8, title="N of add-N-channels", description="preset=custom only", advanced=True)
    cross_scale: bool = param(True, title="Cross-scale connections", description="preset=custom only")
    skip_merge: str = param("add", choices=("add", "concat"), title="Skip merge", description="preset=custom only")
    channels: int = param(128, minimum=8, maximum=256, step=8, title="Channels", description="preset=custom only")
    skip_channels: int = param(4, minimum=0, maximum=128, title="Skip channels (concat)", description="preset=custom, skip_merge=concat only", advanced=True)


def resolve_preset(preset: str, device: str) -> str:
    """``auto`` → ``nas`` on CUDA, ``fast`` elsewhere."""
    if preset == "auto":
        return "nas" if device.startswith("cuda") else "fast"
    return preset


def network_for(params: NASDIPParams, preset: str, channels: int) -> SkipConfig:
    """The network of a (resolved) preset for an image with ``channels`` channels."""
    if preset == "nas":
        return replace(NAS, out_channels=channels)
    if preset == "fast":
        return replace(NAS_FAST, out_channels=channels)
    try:
        cfg = SkipConfig(
            out_channels=channels,
            resize=params.resize,
            transform=params.transform,
            transform_kernel=params.transform_kernel if params.transform_kernel % 2 else params.transform_kernel + 1,
            cell_activation=params.cell_activation,
            add_n=params.add_n,
            cross_scale=params.cross_scale,
            skip_merge=params.skip_merge,
        )
        return cfg.with_channels(params.channels, skip=params.skip_channels)
    except ValueError as exc:
        raise MethodError(f"this NAS-DIP cell is not buildable: {exc}") from None


class NASDIP(IterativeFit[NASDIPParams]):
    """NAS-DIP (Chen et al., ECCV 2020): DIP with the searched upsampling cell and cross-scale connections."""

    id = "nas_dip"
    title = "NAS-DIP"
    family = "Deep Image Prior"
    Params = NASDIPParams
    iterative = True
    description = "Deep Image Prior with the network found by NAS-DIP's architecture search (the search itself is not run)."

    def run(self, noisy: np.ndarray, params: NASDIPParams, ctx: RunContext) -> Iterator[Snapshot]:
        preset = resolve_preset(params.preset, ctx.device)
        cfg = network_for(params, preset, noisy.shape[2])
        yield from fit(noisy, params, cfg, ctx, preset=preset)

    def estimate_cost(self, shape: tuple[int, ...], params: NASDIPParams, device: str = "cpu") -> CostEstimate:
        preset = resolve_preset(params.preset, device)
        return dip_estimate_cost(shape, params, network_for(params, preset, int(shape[2]) if len(shape) > 2 else 1), device)
