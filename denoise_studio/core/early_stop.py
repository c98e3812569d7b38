"""Early-stopping rules for Deep Image Prior that need no clean image.

Wang, Li, Zhuang, Chen, Liang and Sun, "Early Stopping for Deep Image Prior" (TMLR 2023):
DIP's reconstruction quality peaks when the outputs stop changing much before they start to
fit the noise, so the running variance of the outputs has its minimum near the PSNR peak.

* :class:`WindowedVariance` (ES-WMV, Sec. 3, Eq. 2): the variance of the last ``window`` (W = 100)
  outputs, ``VAR_t = 1/W Σ_w ||x_{t-w} − mean||²``; a run is stopped once ``patience``
  (P = 1000) iterations have passed without a new minimum, and the suggested iterate is the one
  at the minimum.
* :class:`ExponentialVariance` (ES-EMV, Sec. 3.1): the same with an exponential moving mean and
  variance (``α = 0.1``), which needs constant memory instead of W stored outputs.

Both are small pure classes fed one output at a time with :meth:`update` (torch tensors on the
run's device, or numpy arrays); the variance is averaged over pixels (a per-pixel variance), so
its value does not depend on the image size. Neither ever touches the optimisation: a caller
reads :attr:`best_step` and :attr:`should_stop` and acts.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from denoise_studio.core.curves import ES_EMV, ES_WMV


def _as_tensor(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach()
    return torch.as_tensor(x)



class _Rule:
    """What both rules report: current variance, best step so far, and the stop decision."""

    name = "rule"

    def __init__(self, patience: int) -> None:
        if patience < 1:
            raise ValueError("patience must be at least 1")
        self.patience = int(patience)
        self.variance: float | None = None  # None until the rule has enough outputs
        self.best_variance = math.inf
        self.best_step: int | None = None
        self.stop_step: int | None = None  # the step at which the rule first said stop
        self.last_step: int | None = None

    @property
    def should_stop(self) -> bool:
        """True once ``patience`` steps have passed since the best (minimum-variance) step.

        From then on :attr:`best_step` is frozen (the rule's suggestion, as if the run had
        stopped there); :attr:`variance` keeps being reported.
        """
        return self.stop_step is not None

    def _account(self, step: int, variance: float | None) -> bool:
        """Record a variance; True when this step is the new best."""
        self.variance = variance
        self.last_step = step
        improved = False
        if self.stop_step is not None:
            return False  # the rule has spoken: its suggestion is the best step when it stopped
        if variance is not None and variance < self.best_variance:
            self.best_variance = variance
            self.best_step = step
            improved = True
        if self.stop_step is None and self.best_step is not None and step - self.best_step >= self.patience:
            self.stop_step = step
        return improved

    def state(self) -> dict[str, Any]:
        """A JSON-friendly summary (for snapshots' ``info``)."""
        return {
            "variance": self.variance,
            "best_step": self.best_step,
            "best_variance": None if math.isinf(self.best_variance) else self.best_variance,
            "stop_step": self.stop_step,
        }


class WindowedVariance(_Rule):
    """ES-WMV: the running variance of the last ``window`` outputs.

    Memory: ``window`` copies of one output (a ring buffer on the outputs' device) and two
    float64 running sums per pixel, Σx and Σx² over the window: each step adds the new output
    and takes away the one it replaces, so a step costs a few passes over one output instead of
    a pass over all ``window`` (at 256×256 the exact recomputation cost as much CPU as the
    network's own step; ``docs/BENCHMARKS.md``, "Deep Image Prior"). In float64 the rounding of
    the sums stays below 1e-12 of the variances DIP produces.

    Parameters
    ----------
    window
        W, the number of most recent outputs whose variance is measured (paper: 100).
    patience
        P, how many steps without a new minimum end the run (paper: 1000).
    """

    name = ES_WMV

    def __init__(self, window: int = 100, patience: int = 1000) -> None:
        super().__init__(patience)
        if window < 2:
            raise ValueError("window must be at least 2")
        self.window = int(window)
        self._buffer: torch.Tensor | None = None
        self._sum: torch.Tensor | None = None
        self._sum_squares: torch.Tensor | None = None
        self._count = 0

    def update(self, step: int, output: Any) -> bool:
        """Feed the output of ``step``; returns True when ``step`` is the new best.

        The variance exists once ``window`` outputs were seen.
        """
        x = _as_tensor(output).to(torch.float32)
        if self._buffer is None or self._sum is None or self._sum_squares is None:
            self._buffer = torch.empty((self.window, *x.shape), dtype=torch.float32, device=x.device)
            self._sum = torch.zeros(x.shape, dtype=torch.float64, device=x.device)
            self._sum_squares = torch.zeros_like(self._sum)
        slot = self._buffer[self._count % self.window]
        new = x.to(torch.float64)
        if self._count >= self.window:
            old = slot.to(torch.float64)
            self._sum.sub_(old)
            self._sum_squares.sub_(old.square_())
        self._sum.add_(new)
        self._sum_squares.add_(new.square_())
        slot.copy_(x)
        self._count += 1
        variance: float | None = None
        if self._count >= self.window:
            w = float(self.window)
            per_pixel = (self._sum_squares - self._sum.square() / w).div_(w).clamp_(min=0.0)
            variance = float(per_pixel.mean())
        return self._account(step, variance)


class ExponentialVariance(_Rule):
    """ES-EMV: exponential moving variance of the outputs, constant memory.

    ``δ = x − μ;  μ ← μ + α δ;  v ← (1 − α)(v + α δ²)`` per pixel (the standard incremental EMV),
    reported as the mean of ``v`` over pixels. The first ``warmup`` steps are never a minimum:
    ``v`` starts at zero and would otherwise make step 1 the best.
    """

    name = ES_EMV

    def __init__(self, alpha: float = 0.1, patience: int = 1000, warmup: int = 100) -> None:
        super().__init__(patience)
        if not 0.0 < alpha <= 1.0:
            raise ValueError("alpha must be in (0, 1]")
        self.alpha = float(alpha)
        self.warmup = int(warmup)
        self._mean: torch.Tensor | None = None
        self._var: torch.Tensor | None = None
        self._count = 0

    def update(self, step: int, output: Any) -> bool:
        """Feed the output of ``step``; returns True when ``step`` is the new best."""
        x = _as_tensor(output).to(torch.float32)
        self._count += 1
        if self._mean is None or self._var is None:
            self._mean = x.clone()
            self._var = torch.zeros_like(x)
        else:
            delta = x - self._mean
            self._mean.add_(delta, alpha=self.alpha)
            self._var.add_(delta.square_(), alpha=self.alpha).mul_(1.0 - self.alpha)
        variance = float(self._var.mean()) if self._count > self.warmup else None
        return self._account(step, variance)


def make_rule(name: str, window: int = 100, patience: int = 1000, alpha: float = 0.1) -> WindowedVariance | ExponentialVariance:
    """The rule called ``"es-wmv"`` or ``"es-emv"``."""
    if name == ES_WMV:
        return WindowedVariance(window, patience)
    if name == ES_EMV:
        return ExponentialVariance(alpha, patience, warmup=window)
    raise ValueError(f"unknown stopping rule {name!r} (es-wmv, es-emv)")
