"""The Deep Image Prior optimisation loop shared by DIP and NAS-DIP.

Ulyanov et al., "Deep Image Prior" (CVPR 2018), Sec. 3 and the denoising notebook: a randomly
initialised network ``f_θ`` maps a fixed code ``z`` (32 channels of uniform noise × 0.1) to an
image; Adam (lr 0.01) minimises ``||f_θ(z + σ_p ε) − x_noisy||²`` with fresh Gaussian jitter
``σ_p = 1/30`` each step, and the result is an exponential average (0.99) of the outputs. The
notebook's guard restores the previous weights when the PSNR of the output against the noisy
image falls by more than 5 dB in one step (Adam occasionally diverges). Early stopping by
:mod:`denoise_studio.core.early_stop` (ES-WMV, ES-EMV).

Deviations from the notebook, on purpose: the guard is checked every step (the notebook skips
multiples of ``show_every``), skips the optimiser step after restoring (the notebook still
applies the gradient of the bad step), and keeps the bad output out of the average and the
stopping rules.

Stopping rules and the input jitter
-----------------------------------
ES-WMV and ES-EMV look for the minimum of the variance of successive outputs. With the jitter
on, the output being fitted, ``f(z + σ_p ε)``, changes from step to step mostly because ε
changes, and that variance is flat after a few hundred steps (measured, see
``docs/BENCHMARKS.md``), so its minimum falls anywhere. The rules are therefore fed, by default
(``rule_input="auto"`` with ``σ_p > 0``), the jitter-free output ``f(z)`` from one extra
forward pass without gradients per step (about a quarter more time per step; ``rule_every = k``
makes it on every k-th step only, see :mod:`~denoise_studio.methods._common.dip_rules`); with
``σ_p = 0`` the training output already is jitter-free (the ES-WMV paper's plain-DIP setting).
``rule_input="training"`` feeds the jittered outputs as the ES-WMV notebook does.

ES-EMV's α defaults to 0.02, not the paper's 0.1 (a deviation, measured): an exponential
average with α has the memory of a window of about 2/α − 1 outputs, so α = 0.1 measures the
variance of the last ~19 outputs, which is smallest in the first slow steps; α = 2/(W + 1) ≈ 0.02
matches ES-WMV's W = 100. On two CBSD68 crops (fast preset, jitter-free input) the gap to the
peak was 7.21 / 1.12 dB with α = 0.1 and 0.50 / 0.26 dB with α = 0.02 (``docs/BENCHMARKS.md``).

Snapshot contract
-----------------
Every step ``t`` (1-based) yields one :class:`~denoise_studio.core.method.Snapshot` with
``step=t``, ``total=iterations`` and:

``loss``
    The mean squared error against the noisy image (over the padded image the network fits;
    with tiles, over all of them).
``scalars``
    ``psnr_noisy`` (raw output vs noisy, dB), ``psnr_noisy_avg`` (averaged output vs noisy);
    with ``ctx.reference``: ``psnr_ref`` (raw vs reference), ``psnr_ref_avg`` (averaged vs
    reference); once the rules have enough outputs: ``variance_wmv`` and ``variance_emv``
    (per-pixel variance of the outputs the rules measure, see "Stopping rules and the input jitter" above, and
    :mod:`~denoise_studio.core.early_stop`).
``events``
    ``"guard"`` when the guard restored the previous weights at this step (that step's
    optimiser update is skipped); ``"es-wmv"`` / ``"es-emv"`` at the step where that rule
    detects its stop (whichever rule is active; only the one named in ``stop_rule`` ends the
    run); ``"fp32"`` when mixed precision produced a non-finite loss and the run fell back to
    float32; ``"eager"`` when ``torch.compile`` failed at the first call and the run went on
    uncompiled. The event snapshot's ``info`` carries ``suggested_iteration_wmv`` /
    ``suggested_iteration_emv``.
``image``
    The averaged output (H×W×C, cropped to the input, a copy) at most about ten times per
    second (time-based; the first step always has one); otherwise ``None``.

The run ends with one more snapshot with ``final=True`` (also after ``ctx.request_stop()``, and
with ``step`` = the last completed step), whose

``image``
    is chosen by ``keep``: ``"average"``, ``"raw"`` (the last raw output) or ``"rule"`` (the
    suggested iterate of the active rule, or of ES-EMV (``DEFAULT_RULE``) when ``stop_rule="none"``; the average
    when no rule has suggested one yet: then ``info["kept"]`` says ``"average"``);
``maps``
    ``"raw"``, ``"average"`` and, when a rule suggested an iterate, ``"suggested"`` (the
    averaged output at the suggested iteration — what was on screen then);
``info``
    ``stop_iteration``; ``stop_rule`` (``"es-wmv"``, ``"es-emv"``, ``"user"`` for a stop
    request, ``"iterations"``); ``suggested_iteration_wmv``, ``suggested_iteration_emv``
    (``None`` until found); ``kept``; ``guard_steps`` (list); ``preset``; ``network``
    (architecture summary); ``parameters`` (of one network); ``tiles`` (how many networks);
    ``device``; ``precision``; ``seconds``; ``iterations_per_second``; ``padded_shape`` (what
    one network fits: the padded image, or one tile).

Tiles
-----
With ``tile > 0`` an image about twice that size or more is fitted as overlapping tiles, each by
its own network, code, optimiser, guard and output average, seeded alike, all stepped once per
step (:mod:`~denoise_studio.methods._common.dip_tiles`). On a CPU with two or more threads the
tiles of a step run side by side, one worker thread each at a time and one op thread per
network (small networks gain more from that than from splitting each op); each tile has its own
generator, so the result is that of one thread, bit for bit. ``split_for_threads`` cuts an
image that would be one tile into half-size tiles when there are threads to share them.
Everything above is of the blended
whole image: the outputs the rules measure, the average, the time machine and the PSNRs; a step
where a guard fired in any tile feeds neither the rules nor the time machine.

When ``ctx.history`` is an :class:`~denoise_studio.core.history.IterateHistory`, the averaged
output of every step is recorded into it (the time machine). ``ctx.stop_requested`` and
``ctx.wait_if_paused()`` are checked before every step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from denoise_studio.core.cost import CostEstimate
from denoise_studio.core.curves import (
    ES_EMV,
    NO_RULE,
    PSNR_NOISY,
    PSNR_NOISY_AVG,
    PSNR_REF,
    PSNR_REF_AVG,
    RULES,
    suggestion_key,
)
from denoise_studio.core.history import IterateHistory
from denoise_studio.core.image import to_numpy, to_tensor
from denoise_studio.core.method import Method, MethodError, RunContext, Snapshot
from denoise_studio.core.params import Params, param
from denoise_studio.methods._common import dip_speed
from denoise_studio.methods._common.dip_fit import FitStep, NetworkFit, psnr_from_mse
from denoise_studio.methods._common.dip_rules import StopRules
from denoise_studio.methods._common.dip_tiles import blend_weights as tile_blend_weights
from denoise_studio.methods._common.dip_tiles import run_tiles
from denoise_studio.methods._common.skip_net import SkipConfig, parameter_count

IMAGE_INTERVAL_S = 0.1  # at most ~10 image snapshots per second
# The rule whose suggestion "keep: rule" returns when no rule was chosen to stop the run: ES-EMV
# came closest to the peak in the benchmark (docs/BENCHMARKS.md, "Deep Image Prior").
DEFAULT_RULE = ES_EMV


@dataclass(frozen=True)
class DipLoopParams(Params):
    """Parameters every DIP-style method shares (subclasses redefine ``preset``)."""

    preset: str = param("auto", choices=("auto",), title="Preset", description="network preset")
    iterations: int = param(3000, minimum=1, maximum=50_000, step=100, title="Iterations", description="optimisation steps (the paper uses 3000; stop earlier by eye or by rule)")
    learning_rate: float = param(0.01, minimum=1e-5, maximum=0.1, log_scale=True, title="Learning rate", description="Adam step size")
    input_noise: float = param(1 / 30, minimum=0.0, maximum=0.2, title="Input jitter σ_p", description="σ of the Gaussian noise added to z each step")
    ema_decay: float = param(0.99, minimum=0.0, maximum=0.999, title="Output EMA", description="weight of the previous average (0 = no averaging)")
    stop_rule: str = param(NO_RULE, choices=(NO_RULE, *RULES), title="Stop rule", description="let a variance rule end the run")
    keep: str = param("average", choices=("average", "raw", "rule"), title="Keep", description="result after a stop: averaged output, last raw output, or the rule's suggested iterate")
    guard: bool = param(True, title="Divergence guard", description="restore the previous weights when PSNR vs noisy drops by more than 5 dB")
    variance_window: int = param(100, minimum=2, maximum=1000, title="ES window W", description="ES-WMV: number of recent outputs whose variance is measured (also the warm-up of ES-EMV)", advanced=True)
    patience: int = param(1000, minimum=1, maximum=20_000, step=100, title="ES patience P", description="steps without a new variance minimum before a rule stops the run", advanced=True)
    rule_every: int = param(1, minimum=1, maximum=50, title="Rule every k steps", description="feed the stopping rules every k-th step only (their window and α cover the same number of steps); saves k − 1 of k extra passes", advanced=True)
    rule_input: str = param("auto", choices=("auto", "jitter-free", "training"), title="Rule input", description="outputs the stopping rules measure: jitter-free = one extra forward pass f(z) per step; training = the jittered output being fitted; auto = jitter-free when the input jitter is on", advanced=True)
    emv_alpha: float = param(0.02, minimum=0.001, maximum=1.0, title="ES-EMV α", description="ES-EMV: weight of the newest output in the exponential moving variance (paper: 0.1; 0.02 matches the window W = 100, see the module docstring)", advanced=True)
    precision: str = param("auto", choices=("auto", "float32", "bfloat16", "float16"), title="Precision", description="auto: bfloat16 (or float16) autocast on CUDA, bfloat16 on CPUs with native bfloat16, else float32", advanced=True)
    compile: bool = param(False, title="torch.compile", description="compile the network (CUDA; on a CPU the compile time outweighs the gain, see BENCHMARKS.md; falls back to eager on failure)", advanced=True)
    tile: int = param(0, minimum=0, maximum=4096, step=32, title="Tile size", description="fit an image about twice this size or more as overlapping tiles of about this size, one network each, in lockstep (on a CPU it comes near the peak in fewer steps, see BENCHMARKS.md); 0: one network for the whole image, as in the paper", advanced=True)
    split_for_threads: bool = param(False, title="Split for threads", description="with two or more CPU threads, fit an image that would be one tile as tiles of half the tile size, side by side on the threads (reaches the peak sooner on a 256×256 crop, see BENCHMARKS.md)", advanced=True)
    threads: int = param(0, minimum=0, maximum=256, title="CPU threads", description="torch threads during the run (0: leave torch's setting); 1 is fastest on a busy 2-core CPU", advanced=True)


def fit(
    noisy: np.ndarray,
    params: DipLoopParams,
    cfg: SkipConfig,
    ctx: RunContext,
    preset: str = "",
    network: torch.nn.Module | None = None,
) -> Iterator[Snapshot]:
    """Run DIP on ``noisy`` with network ``cfg``; yields the snapshots of the module docstring.

    ``network`` replaces the network built from ``cfg`` (tests use it to force a divergence);
    it must accept ``cfg.in_channels`` input channels and sides that are multiples of
    ``2**cfg.scales``. ``params.threads`` applies for the run only (restored afterwards, also
    when the generator is closed early).
    """
    previous = torch.get_num_threads()
    on_cpu = torch.device(ctx.device).type == "cpu"
    threads = params.threads if params.threads > 0 and on_cpu else previous
    if threads != previous:
        torch.set_num_threads(threads)
    run = DipRun(noisy, params, cfg, ctx, preset, network, workers=threads if on_cpu else 1)
    try:
        yield from run.steps()
    finally:
        run.close()
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


class DipRun:
    """One DIP run: one network fitting the image, or one per tile (``params.tile``, see
    :mod:`~denoise_studio.methods._common.dip_tiles`) advanced in lockstep and blended; the
    stopping rules, the time machine and the snapshots of the module docstring see the whole
    image.

    :meth:`steps` yields the snapshots, one per step and a final one.
    """

    def __init__(self, noisy: np.ndarray, params: DipLoopParams, cfg: SkipConfig, ctx: RunContext,
                 preset: str, network: torch.nn.Module | None, workers: int = 1) -> None:
        if noisy.ndim != 3:
            raise MethodError("DIP expects an H×W×C image")
        h, w, c = noisy.shape
        if cfg.out_channels != c:
            raise MethodError(f"network has {cfg.out_channels} output channels, image has {c}")
        self.params, self.cfg, self.ctx, self.preset = params, cfg, ctx, preset
        self.device = device = torch.device(ctx.device)
        self.started = time.perf_counter()
        self.tiles = run_tiles(h, w, params.tile, 2**cfg.scales, params.split_for_threads, workers)
        if network is not None and len(self.tiles) > 1:
            raise MethodError("a network given to the run fits the whole image: set tile to 0")
        self.fits = [NetworkFit(np.ascontiguousarray(noisy[t.slices]), cfg, learning_rate=params.learning_rate,
                                input_noise=params.input_noise, ema_decay=params.ema_decay, guard=params.guard,
                                precision=params.precision, compile=params.compile, seed=ctx.seed, device=device, network=network)
                     for t in self.tiles]
        self.single = len(self.fits) == 1
        self.blend_weights = [] if self.single else [torch.from_numpy(b)[None, None].to(device) for b in tile_blend_weights(self.tiles, h, w)]
        self.noisy_t = self.fits[0].noisy if self.single else to_tensor(noisy, device)
        self.ref_t = to_tensor(ctx.reference, device) if ctx.reference is not None and ctx.reference.shape == noisy.shape else None
        self.rules = StopRules(params.variance_window, params.patience, params.emv_alpha, params.rule_every)
        self.history = ctx.history if isinstance(ctx.history, IterateHistory) else None
        if self.history is not None:
            self.history.clear()
        self.jitter_free_rules = params.input_noise > 0 and params.rule_input in ("auto", "jitter-free")
        self.last_image_time = -math.inf
        sizes = [f.target.shape[-2] * f.target.shape[-1] for f in self.fits]
        self.loss_weights = [n / sum(sizes) for n in sizes]
        # Tiles on a CPU with several threads: one tile per thread at a time, each op on one
        # thread (independent small networks scale better across cores than one op's threads).
        self.workers = min(workers, len(self.fits))
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="dip-tile") if self.workers > 1 else None
        if self.pool is not None:
            torch.set_num_threads(1)

    def close(self) -> None:
        """Release the tiles' worker threads (the caller restores torch's thread count)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None

    def blend(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """The whole image from one tensor per tile (1×C×h×w each), blended over the overlaps."""
        if self.single:
            return parts[0]
        out = torch.zeros_like(self.noisy_t)
        for tile, weight, part in zip(self.tiles, self.blend_weights, parts, strict=True):
            rows, cols = tile.slices
            out[..., rows, cols] += part * weight
        return out

    def _blend_if_all(self, values: list[torch.Tensor | None]) -> torch.Tensor | None:
        return None if any(v is None for v in values) else self.blend(values)  # type: ignore[arg-type]

    def averaged(self) -> torch.Tensor | None:
        """The averaged output of the whole image (None before the first applied step)."""
        return self._blend_if_all([f.average.value for f in self.fits])

    def raw(self) -> torch.Tensor | None:
        """The last raw output of the whole image (None before the first applied step)."""
        return self._blend_if_all([f.raw for f in self.fits])

    @property
    def guard_steps(self) -> list[int]:
        """The steps at which the guard of any network restored its weights."""
        return sorted({s for f in self.fits for s in f.guard.steps})

    def steps(self) -> Iterator[Snapshot]:
        params, ctx = self.params, self.ctx
        stop_reason, step = "iterations", 0
        for t in range(1, params.iterations + 1):
            ctx.wait_if_paused()
            if ctx.stop_requested:
                stop_reason = "user"
                break
            yield self.advance(t)
            step = t
            if self.rules.should_stop(params.stop_rule):
                stop_reason = params.stop_rule
                break
        yield self._final(step, stop_reason)

    def advance(self, t: int) -> Snapshot:
        """One step of every network; the rules and the time machine fed when all of them applied theirs."""
        measure = self.rules.wants(t)
        results: list[FitStep]
        if self.pool is not None:
            results = list(self.pool.map(lambda f: f.step(t, measure, self.jitter_free_rules), self.fits))
        else:
            results = [f.step(t, measure, self.jitter_free_rules) for f in self.fits]
        events = list(dict.fromkeys(e for r in results for e in r.events))
        loss_value = sum(r.loss * share for r, share in zip(results, self.loss_weights, strict=True))
        if any(r.fell_back for r in results):
            return Snapshot(t, self.params.iterations, loss=None, events=(*events, "fp32"), message="mixed precision failed; float32 from now on")
        average = self.averaged()  # blended once per step, for the rules, the time machine and the snapshot
        if average is not None and all(r.applied for r in results):
            if measure:
                events += self.rules.update(t, self.blend([r.measured for r in results]), average)  # type: ignore[misc]
            if self.history is not None and self.history.wants(t):
                self.history.record(t, average)
        return self._snapshot(t, loss_value, psnr_from_mse(loss_value), events, average)

    def _snapshot(self, t: int, loss_value: float, psnr_noisy: float, events: list[str], avg: torch.Tensor | None) -> Snapshot:
        """The step's snapshot: scalars in one transfer, an image at most ~10 times a second."""
        scalars: dict[str, float] = {PSNR_NOISY: psnr_noisy}
        raw = self.raw()
        if avg is not None and raw is not None:
            parts = [F.mse_loss(avg, self.noisy_t)]
            if self.ref_t is not None:
                parts += [F.mse_loss(raw, self.ref_t), F.mse_loss(avg, self.ref_t)]
            values = torch.stack(parts).tolist()
            scalars[PSNR_NOISY_AVG] = psnr_from_mse(values[0])
            if self.ref_t is not None:
                scalars[PSNR_REF] = psnr_from_mse(values[1])
                scalars[PSNR_REF_AVG] = psnr_from_mse(values[2])
        scalars.update(self.rules.variances())
        now = time.monotonic()
        image = None
        if avg is not None and now - self.last_image_time >= IMAGE_INTERVAL_S:
            image = to_numpy(avg)
            self.last_image_time = now
        info: dict[str, Any] = self.rules.suggestions() if any(e in RULES for e in events) else {}
        return Snapshot(t, self.params.iterations, image=image, loss=loss_value, scalars=scalars, events=tuple(events), info=info)

    def _final(self, step: int, stop_reason: str) -> Snapshot:
        """The final snapshot: the kept output, the alternatives as maps, and the run's facts."""
        params = self.params
        avg, raw = self.averaged(), self.raw()
        if avg is None or raw is None:
            # Stopped before the first step: report the untrained network's output.
            raw = self.blend([f.untrained_output() for f in self.fits])
            avg = raw.clone()
        rule_key = params.stop_rule if params.stop_rule != NO_RULE else DEFAULT_RULE
        maps = {"raw": to_numpy(raw), "average": to_numpy(avg)}
        if rule_key in self.rules.suggested:
            maps["suggested"] = to_numpy(self.rules.suggested[rule_key])
        kept = params.keep
        if kept == "rule" and "suggested" not in maps:
            kept = "average"
        image = maps["suggested" if kept == "rule" else kept].copy()
        seconds = time.perf_counter() - self.started
        amp_dtype = self.fits[0].amp_dtype
        info = {
            "stop_iteration": step,
            "stop_rule": stop_reason,
            **self.rules.suggestions(),
            "kept": kept,
            "guard_steps": self.guard_steps,
            "preset": self.preset,
            "network": describe(self.cfg),
            "parameters": parameter_count(self.fits[0].net),
            "tiles": len(self.fits),
            "device": str(self.device),
            "precision": "float32" if amp_dtype is None else str(amp_dtype).replace("torch.", ""),
            "seconds": seconds,
            "iterations_per_second": step / seconds if seconds > 0 else 0.0,
            "padded_shape": list(self.fits[0].padded_shape),
        }
        return Snapshot(step, params.iterations, image=image, final=True, maps=maps, info=info, message=f"stopped: {stop_reason} at {step}")


DP = TypeVar("DP", bound=DipLoopParams)


class IterativeFit(Method[DP]):
    """Base of the DIP-style methods: what they answer about their runs after the fact (see ``core.method.Method``)."""

    def threads_asked(self, params: DP) -> int | None:
        return params.threads or None

    def keep_output(self, params: DP, maps: dict[str, np.ndarray], choice: str) -> tuple[np.ndarray, DP] | None:
        """The averaged or raw output, or the rule's suggested iterate, in place of the run's ``keep``."""
        key = "suggested" if choice == "rule" else choice
        if not choice or params.keep == choice or key not in maps:
            return None
        return np.clip(maps[key], 0.0, 1.0).astype(np.float32), params.replace(keep=choice)

    def kept_iteration(self, params: DP, info: dict[str, Any], final_step: int | None) -> int | None:
        """The iteration a finished run's result comes from.

        The rule's suggestion when the rule's iterate was kept (``keep: rule``), else the step
        the run ended at, else the iteration count.
        """
        if info.get("kept") == "rule":
            rule = params.stop_rule if params.stop_rule != NO_RULE else DEFAULT_RULE
            suggested = info.get(suggestion_key(rule))
            if suggested:
                return int(suggested)
        return int(final_step or info.get("stop_iteration") or params.iterations)

    def repeat_until(self, params: DP, iteration: int) -> DP:
        """The same run, ended at ``iteration``: no stop rule, and the averaged output kept
        (what the time machine and the rule's suggestion show at that iteration)."""
        return params.replace(iterations=max(int(iteration), 1), stop_rule=NO_RULE, keep="average")


# Measured on the development CPU (docs/BENCHMARKS.md, "Deep Image Prior"), on the day that
# dip_speed.PROBE_SECONDS_WHEN_FITTED describes (other days and CPUs scale by its probe): the 32-channel fast
# network holds about 2.2 kB of activations and gradients per pixel; a step of the fast preset
# with the rules fed every step cost 0.207 s of CPU at 256×256 (bench-dip time-to-quality, 3000
# steps on each of three crops) and about 0.03 s at 64×64: 2.3 µs per pixel, the extra pass
# included as a quarter, and 0.02 s per step whatever the size (Python, the optimiser, small
# kernels). The 128-channel paper network costs about 5× the fast one per pixel (width^1.16).
_ACTIVATION_BYTES_PER_PIXEL_PER_CHANNEL = 70.0
_SECONDS_PER_PIXEL_STEP_AT_32 = 2.3e-6
_SECONDS_PER_STEP = 0.02
# Two threads on two idle cores: 0.112 s of wall time a step at 256×256 against 0.17-0.18 s on
# one thread (bench-dip time-to-quality, candidate fast:threads=2); more threads not measured.
_TWO_THREAD_SPEEDUP = 1.5
# Tiles side by side on two threads, one op thread each, against the model's one-thread time for
# the same tiles: 1.4-1.6 in the tenth session (0.209-0.233 s a step for four tiles of 160 where
# one thread is modelled at 0.33 s; the same run measured one network on two threads at 1.1×,
# the machine's two cores slowing each other), 1.8 on the twelfth session's idle cores (0.114 s
# a step, the probe's ratio 0.56-0.69; tools/bench_dip_estimate.py --cases first-try). The
# middle, so that either day is announced within 15 % before the probe's own spread.
_TILES_ON_TWO_THREADS_SPEEDUP = 1.6


def estimate_cost(shape: tuple[int, ...], params: DipLoopParams, cfg: SkipConfig, device: str) -> CostEstimate:
    """Peak memory and CPU time of a DIP run: the pixels its networks fit (the padded image, or
    its tiles) times the cost of a pixel."""
    multiple = 2**cfg.scales
    threads = (params.threads or torch.get_num_threads()) if device == "cpu" else 1
    tiles = run_tiles(int(shape[0]), int(shape[1]), params.tile, multiple, params.split_for_threads, threads)
    channels = int(shape[2]) if len(shape) > 2 else 1
    tile_pixels = math.prod(-(-n // multiple) * multiple for n in (tiles[0].height, tiles[0].width))
    pixels = len(tiles) * tile_pixels
    width = max(cfg.channels_down + cfg.channels_up)
    memory = (
        tile_pixels * _ACTIVATION_BYTES_PER_PIXEL_PER_CHANNEL * width  # one network's graph at a time
        + pixels * 4 * (cfg.in_channels * 2 + channels * 4)  # each network's z, jitter, target, outputs, average
        + int(shape[0]) * int(shape[1]) * 4 * channels * (params.variance_window + 2)  # ES-WMV's ring buffer, the blends
    )
    seconds = None
    if device == "cpu":
        per_step = _SECONDS_PER_PIXEL_STEP_AT_32 * (width / 32) ** 1.16 * pixels
        if params.input_noise > 0 and params.rule_input in ("auto", "jitter-free"):
            per_step *= 1.0 + 0.25 / params.rule_every
        speedup = 1.0 if threads < 2 else _TILES_ON_TWO_THREADS_SPEEDUP if len(tiles) > 1 else _TWO_THREAD_SPEEDUP
        # Scaled by this CPU's speed now against the day the constants held (dip_speed).
        seconds = (per_step + _SECONDS_PER_STEP * len(tiles)) * params.iterations / speedup * dip_speed.ratio()
    return CostEstimate(
        int(memory) + 300 * 2**20,  # torch itself
        seconds,
        advice="Select a region and run on it first (Region only), or use the fast preset.",
    )


def describe(cfg: SkipConfig) -> str:
    """A one-line summary of a network for the info panel and the sidecar."""
    width = sorted(set(cfg.channels_down))
    text = f"skip {cfg.scales}×{'/'.join(map(str, width))}, skip {cfg.channels_skip[0]}, up {cfg.resize}"
    if cfg.transform != "identity":
        text += f"+{cfg.transform}{cfg.transform_kernel}"
    if cfg.cross_scale:
        text += ", cross-scale"
    if cfg.skip_merge == "add":
        text += ", additive skips"
    return text

