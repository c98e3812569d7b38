"""A SURE curve for Deep Image Prior: the estimated PSNR of the averaged output at every step.

Monte-Carlo SURE (Ramani, Blu and Unser, IEEE TIP 2008; :mod:`denoise_studio.core.quality`)
treats a denoiser as a black box ``y → f(y)``. With its seeds fixed (the network's
initialisation, the code z and the jitter), the averaged output of DIP after ``t`` steps is such
a function ``f_t(y)`` of the noisy image, so its divergence is estimated as for a one-shot
method: a second run on ``y + ε·b`` with the same seeds, stepped in lockstep with the first
(their Eq. 9), gives at every step::

    SURE_t = ‖y − f_t(y)‖² / N − σ² + 2σ² · bᵀ (f_t(y + ε·b) − f_t(y)) / (ε·N)

over the pixels :func:`~denoise_studio.core.quality.kept_pixels` keeps (clipped noise). ε and b
are those of the one-shot estimate (ε = max(y)/1000, b standard normal from the run's seed).

Both runs are float32 whatever the preset's precision: bfloat16 rounds to about 2⁻⁸ of a
value, far above the probe. The probe run has no reference and measures no stopping rule (it
skips the jitter-free pass, which does not change its trajectory). If the divergence guard fires
in one run and not in the other, the two trajectories part and the curve ends (``diverged``).

Jo, Chun and Choi ("Rethinking Deep Image Prior for Denoising", ICCV 2021) make SURE the
training loss of DIP; here DIP's loss is unchanged and SURE only watches, to say where the
averaged output is best. ``bench-dip --parts sure`` measures where the highest estimate falls
(``docs/BENCHMARKS.md``): further from the peak than ES-EMV, so it is not a stop rule.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from denoise_studio.core.curves import NO_RULE
from denoise_studio.core.image import to_tensor
from denoise_studio.core.method import RunContext, Snapshot
from denoise_studio.core.quality import CLIP_MARGIN, MIN_KEPT, ProbeRuns, probe_size
from denoise_studio.methods._common.dip_loop import DipLoopParams, DipRun
from denoise_studio.methods._common.skip_net import SkipConfig


class LockstepSure:
    """DIP on ``noisy`` and on ``noisy + ε·b``, one step each per :meth:`advance`.

    ``sigma`` is the noise σ on the 0–255 scale (given or estimated by the caller). The main
    run is an ordinary DIP run of ``params`` (in float32): it has the context's reference,
    history and stopping rules, and its snapshots are what :meth:`advance` returns.
    """

    def __init__(self, noisy: np.ndarray, params: DipLoopParams, cfg: SkipConfig, ctx: RunContext,
                 sigma: float, preset: str = "", epsilon: float | None = None) -> None:
        params = params.replace(precision="float32")
        self.epsilon = probe_size(noisy) if epsilon is None else epsilon
        direction = ProbeRuns(self.epsilon, ctx.seed, [noisy]).directions(noisy.shape)[0]
        probed = (noisy.astype(np.float64) + self.epsilon * direction).astype(np.float32)
        self.main = DipRun(noisy, params, cfg, ctx, preset, None)
        probe_params = params.replace(stop_rule=NO_RULE, rule_input="training")
        self.probe = DipRun(probed, probe_params, cfg, RunContext(seed=ctx.seed, device=ctx.device), preset, None)
        device = self.main.device
        self.direction = to_tensor(direction.astype(np.float32), device)
        self.variance = (sigma / 255.0) ** 2
        low, high = float(np.min(noisy)), float(np.max(noisy))
        self.clipped = low >= 0.0 and high <= 1.0 and (low == 0.0 or high == 1.0)
        self.margin = CLIP_MARGIN * sigma / 255.0
        self.diverged = False

    def advance(self, t: int) -> tuple[Snapshot, tuple[float, float] | None]:
        """Step both runs; the main run's snapshot and :meth:`terms` (None once the runs parted)."""
        snapshot = self.main.advance(t)
        self.probe.advance(t)
        if self.main.guard_steps != self.probe.guard_steps:
            self.diverged = True
        return snapshot, None if self.diverged else self.terms()

    def estimate(self, terms: tuple[float, float] | None) -> float | None:
        """The estimated PSNR (dB, peak 1.0) of the averaged output from its :meth:`terms`; None where SURE gives none."""
        if terms is None:
            return None
        residual, divergence = terms
        mse = residual - self.variance + 2.0 * self.variance * divergence
        return -10.0 * math.log10(mse) if mse > 0 else None

    def terms(self) -> tuple[float, float] | None:
        """Per kept pixel: ‖y − f‖² / N and the divergence bᵀ(f(y + εb) − f(y)) / (ε·N); None below half the image kept."""
        f, g = self.main.averaged(), self.probe.averaged()
        if f is None or g is None:
            return None
        with torch.no_grad():
            y = self.main.noisy_t
            if self.clipped:
                weights = ((y > 0) & (y < 1) & (f > self.margin) & (f < 1 - self.margin)).to(y.dtype)
            else:
                weights = torch.ones_like(y)
            parts = torch.stack([weights.sum(), (weights * (f - y) ** 2).sum(), (weights * self.direction * (g - f)).sum()])
            count, residual, change = parts.double().tolist()
        if count < MIN_KEPT * y.numel():
            return None
        return residual / count, change / (self.epsilon * count)
