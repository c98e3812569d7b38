"""One network fitting one image (or one tile of it): the optimisation step of Deep Image Prior.

Ulyanov et al., "Deep Image Prior" (CVPR 2018), Sec. 3 and the denoising notebook: the network
``f_θ`` maps its fixed code ``z`` to an image; each step is a gradient step of Adam on
``||f_θ(z + σ_p ε) − x||²`` with fresh jitter ε, guarded against divergence, and the output is
folded into an exponential average. :class:`NetworkFit` is that step for one network and its
target; :class:`~denoise_studio.methods._common.dip_loop.DipRun` drives one or several of them
(tiles, see :mod:`~denoise_studio.methods._common.dip_tiles`) and owns the stopping rules,
the time machine and the snapshots.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from denoise_studio.core.curves import EVENT_GUARD
from denoise_studio.core.image import to_tensor
from denoise_studio.core.tiling import SizeRequirements, pad_to_requirements
from denoise_studio.methods._common.skip_net import SkipConfig, SkipNet

GUARD_DROP_DB = 5.0  # the notebook's threshold


def psnr_from_mse(mse: float) -> float:
    return math.inf if mse <= 0 else -10.0 * math.log10(mse)


def cpu_has_native_bf16() -> bool:
    """True when the CPU has bfloat16 dot-product instructions (AVX512-BF16 or AMX).

    Then oneDNN runs bfloat16 convolutions about twice as fast as float32 (measured on the
    development CPU, see BENCHMARKS.md); without them bfloat16 is emulated and slower.
    """
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool({"avx512_bf16", "amx_bf16"} & flags)
    except OSError:
        pass
    return False


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``name`` on ``device`` (None = plain float32).

    ``auto``: bfloat16 on CUDA when supported, else float16 (with loss scaling); on the CPU
    bfloat16 where the CPU has native bfloat16 instructions, else float32.
    """
    if name == "float32":
        return None
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "cpu" and cpu_has_native_bf16():
            return torch.bfloat16
        return None
    return torch.bfloat16 if name == "bfloat16" else torch.float16


def build_network(cfg: SkipConfig, seed: int) -> SkipNet:
    """A skip network initialised from ``seed`` without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SkipNet(cfg)


def make_input(cfg: SkipConfig, height: int, width: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """DIP's code z: ``in_channels`` of uniform noise in [0, 0.1) (notebook: ``get_noise(..., var=1/10)``)."""
    return torch.rand((1, cfg.in_channels, height, width), generator=generator, device=device) * 0.1


class Guard:
    """The notebook's divergence guard: restore the last good weights after a drop of PSNR.

    After each step's loss, :meth:`check` compares the PSNR of the output against the noisy
    image with the last accepted step's; a fall by more than ``GUARD_DROP_DB`` restores the
    weights that produced the last good output (and returns True: the caller skips this step's
    update). Otherwise it remembers the current weights as good. Disabled, it never fires.
    """

    def __init__(self, weights: list[torch.Tensor], enabled: bool, drop_db: float = GUARD_DROP_DB) -> None:
        self.enabled = enabled
        self.drop_db = drop_db
        self._weights = weights
        self._last_good = [w.detach().clone() for w in weights] if enabled else []
        self.psnr_last = 0.0  # the notebook starts from 0, so the first step is never "a drop"
        self.steps: list[int] = []  # the steps at which it fired

    def check(self, step: int, psnr_noisy: float) -> bool:
        """True (weights restored) when ``psnr_noisy`` fell too far; else remember the weights."""
        if not self.enabled:
            return False
        if psnr_noisy - self.psnr_last < -self.drop_db:
            with torch.no_grad():
                torch._foreach_copy_(self._weights, self._last_good)
            self.steps.append(step)
            return True
        with torch.no_grad():
            torch._foreach_copy_(self._last_good, [w.detach() for w in self._weights])
        self.psnr_last = psnr_noisy
        return False


class OutputAverage:
    """The exponential average of the outputs that DIP returns (notebook: ``exp_weight = 0.99``)."""

    def __init__(self, decay: float) -> None:
        self.decay = decay
        self.value: torch.Tensor | None = None

    def update(self, out: torch.Tensor) -> torch.Tensor:
        """Fold ``out`` in (in place after the first output) and return the average."""
        if self.value is None or self.decay == 0.0:
            self.value = out.clone()
        else:
            self.value.mul_(self.decay).add_(out, alpha=1.0 - self.decay)
        return self.value



@dataclass
class FitStep:
    """What one step of one network did: its loss against the target (on the padded image), the
    PSNR of that loss, ``"guard"``/``"eager"`` events, and, when asked for, the output the
    stopping rules measure (cropped to the image). ``fell_back``: mixed precision overflowed
    and the step was not applied."""

    loss: float
    psnr_noisy: float
    events: list[str]
    measured: torch.Tensor | None = None
    fell_back: bool = False

    @property
    def applied(self) -> bool:
        return not self.fell_back and EVENT_GUARD not in self.events


class NetworkFit:
    """One network, its code z, optimiser, guard and output average, fitting ``noisy`` (H×W×C)."""

    def __init__(self, noisy: np.ndarray, cfg: SkipConfig, *, learning_rate: float, input_noise: float, ema_decay: float,
                 guard: bool, precision: str, compile: bool, seed: int, device: torch.device,
                 network: torch.nn.Module | None = None) -> None:
        h, w, _ = noisy.shape
        self.cfg, self.device, self.input_noise = cfg, device, input_noise
        # Pad by reflection to the network's multiple; the network fits the padded image and every
        # reported quantity is measured on the crop. Reflection padding of a 3×3 conv needs at
        # least 2 pixels at the deepest scale.
        req = SizeRequirements(multiple_of=2**cfg.scales, minimum=2 ** (cfg.scales + 1))
        padded, pad = pad_to_requirements(noisy, req)
        self.padded_shape = padded.shape[:2]
        self.rows, self.cols = slice(pad.top, pad.top + h), slice(pad.left, pad.left + w)
        self.target = to_tensor(padded, device)
        self.net = (network if network is not None else build_network(cfg, seed)).to(device)
        self.gen = torch.Generator(device=device).manual_seed(seed + 1)  # draws z, then the jitter
        self.z = make_input(cfg, padded.shape[0], padded.shape[1], self.gen, device)
        if device.type == "cuda":  # channels-last measured slower on this project's CPUs (BENCHMARKS.md)
            self.net = self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            self.z = self.z.contiguous(memory_format=torch.channels_last)
        self.forward: Any = self.net
        if compile:
            try:
                self.forward = torch.compile(self.net)
            except Exception:  # noqa: BLE001 - compilation is an optional speed-up
                self.forward = self.net
        self.amp_dtype = resolve_precision(precision, device)
        self.scaler = torch.amp.GradScaler(device.type) if self.amp_dtype == torch.float16 else None
        self.opt = torch.optim.Adam(self.net.parameters(), lr=learning_rate)
        self.guard = Guard(list(self.net.parameters()), guard)
        self.average = OutputAverage(ema_decay)
        self.raw: torch.Tensor | None = None
        self.jitter = torch.empty_like(self.z)

    @property
    def noisy(self) -> torch.Tensor:
        """The image being fitted, without the padding (1×C×H×W)."""
        return self.target[..., self.rows, self.cols]

    def autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype is not None else contextlib.nullcontext()

    def _output(self, inp: torch.Tensor, events: list[str]) -> torch.Tensor:
        with self.autocast():
            try:
                return self.forward(inp).float()
            except Exception:
                if self.forward is self.net:
                    raise
                # torch.compile compiles lazily, so a missing compiler shows up here: go eager.
                self.forward = self.net
                events.append("eager")
                return self.net(inp).float()

    def step(self, t: int, measure: bool, jitter_free: bool) -> FitStep:
        """Step ``t``: one gradient step on ``||f(z + σ_p ε) − x||²`` (Sec. 3), the output averaged.

        ``measure``: also return the output the stopping rules see: with ``jitter_free``,
        ``f(z)`` from one extra pass with the weights that produced this step's output (before
        the update), else this step's output.
        """
        events: list[str] = []
        inp = self.z
        if self.input_noise > 0:
            self.jitter.normal_(generator=self.gen)
            inp = self.z + self.input_noise * self.jitter
        out_full = self._output(inp, events)
        loss = F.mse_loss(out_full, self.target)
        self.opt.zero_grad(set_to_none=True)
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()  # type: ignore[no-untyped-call]
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value) and self.amp_dtype is not None:
            # Mixed precision overflowed: continue in float32 from the current weights.
            self.amp_dtype, self.scaler = None, None
            self.opt.zero_grad(set_to_none=True)
            return FitStep(loss_value, psnr_from_mse(loss_value), events, fell_back=True)
        psnr_noisy = psnr_from_mse(loss_value)
        if self.guard.check(t, psnr_noisy):
            self.opt.zero_grad(set_to_none=True)  # the notebook's backtracking: skip this update
            return FitStep(loss_value, psnr_noisy, [*events, EVENT_GUARD])
        out = out_full.detach()[..., self.rows, self.cols]
        measured = out if measure else None
        if measure and jitter_free:
            with torch.no_grad(), self.autocast():
                measured = self.forward(self.z).float()[..., self.rows, self.cols]
        if self.scaler is not None:
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            self.opt.step()
        self.raw = out
        self.average.update(out)
        return FitStep(loss_value, psnr_noisy, events, measured)

    def untrained_output(self) -> torch.Tensor:
        """The network's output for z, cropped (a run stopped before its first step)."""
        with torch.no_grad():
            return self.net(self.z).float()[..., self.rows, self.cols]
