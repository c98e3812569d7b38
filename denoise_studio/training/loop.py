"""The one training loop shared by every network method.

What a network brings is its :class:`~denoise_studio.core.network.NetworkSpec` (build, recipe,
loss, denoise). What the loop brings: the recipe's optimiser and learning-rate schedule,
gradient clipping, an optional exponential moving average (EMA) of the weights, a validation
PSNR every N steps with the best weights kept, a step budget and a wall-clock budget,
deterministic seeds, checkpoints from which a resumed run continues exactly, and
DistributedDataParallel when launched by ``torchrun``.

Determinism: the batch, the loss's generator and torch's global seed at step ``s`` are pure
functions of ``(seed, s, rank)``, and the learning rate of ``s``; so the checkpoint only has to
hold the weights, the optimiser state, the EMA, the best weights and the history, and a resumed
run computes the very same next loss.

The loop is a generator of :class:`TrainProgress` reports, like a method's snapshots, so the
command line and the window's Train dock drive the same code; ``stop_event`` ends it at the next
step with the best weights written.

Distributed training: under ``torchrun --nproc_per_node N`` every process trains on its own
batches of ``ceil(batch / N)`` patches; DistributedDataParallel averages the gradients (gloo on
the CPU, nccl on CUDA). Rank 0 validates, decides when to stop and writes the files. A spec's
``training_loss`` must run the network by calling ``net(...)``, which is the DDP wrapper then.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from denoise_studio.core.device import make_generator, resolve_device
from denoise_studio.core.metrics import psnr
from denoise_studio.core.network import SELF_SUPERVISED, SUPERVISED, TrainRecipe
from denoise_studio.core.tiling import crop_padding, pad_to_requirements
from denoise_studio.core.weights import ModelCard, count_parameters, half_precision_costs_nothing, save_weights
from denoise_studio.training.data import CLEAN, NOISY, DataError, PatchSampler, TrainingImages, ValidationSet, load_training_images, validation_set
from denoise_studio.training.job import (
    FINE_TUNE_LR_SCALE,
    TrainingDiverged,
    TrainingError,
    TrainJob,
    TrainProgress,
    TrainResult,
    distributed_env,
    learning_rate_at,
    spec_for,
    step_seed,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

CHECKPOINT_FORMAT = "denoise-studio-checkpoint/1"
# A time-budgeted schedule is fitted after this many steps, to 90 % of the remaining time (the
# machine may be shared, and validations take time too), and refitted at every validation.
FIT_AFTER_STEPS = 20
# On CUDA the losses come to the host every this many steps (and at every validation).
SYNC_EVERY = 50
FIT_MARGIN = 0.9


class Trainer:
    """One training run: build it from a :class:`TrainJob`, then iterate :meth:`run`."""

    def __init__(self, job: TrainJob, stop_event: threading.Event | None = None) -> None:

        self.job = job
        self.stop_event = stop_event or threading.Event()
        self.spec, self.family = spec_for(job.method_id)
        self.recipe = recipe = self._recipe(job)
        self.total = int(job.steps if job.steps is not None else recipe.steps)
        if self.total < 1:
            raise TrainingError("the number of steps must be at least 1")
        self.validate_every = int(job.validate_every or recipe.validate_every)
        # With a time budget and no step count, the schedule's length is fitted to the budget
        # once the speed is known (then fixed, and kept in the checkpoint).
        self.fit_schedule = job.minutes is not None and job.steps is None
        self.recipe_steps = self.total
        self.fitted = False
        local_rank = self._join_group(job)
        self._load_data(job)
        self._build_model(job, local_rank)
        self.step = 0
        self.losses: list[float] = []
        self._unreported: list[torch.Tensor] = []
        self.defer_losses = self.device.startswith("cuda")  # see train_step
        self.val_history: list[tuple[int, float]] = []
        self.best_psnr: float | None = None
        self.best_step = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.elapsed_before = 0.0  # minutes of earlier runs of a resumed training
        self.processes = self.world
        self.result: TrainResult | None = None
        self.diverged = False  # a NaN/infinite loss ended the run: the current weights are broken
        if job.resume is not None:
            self.load_checkpoint(job.resume)

    def _recipe(self, job: TrainJob) -> TrainRecipe:
        """The method's recipe for the configuration, with the job's overrides (fine-tuning: a tenth of the rate)."""
        try:
            self.spec.check_config(job.config)
        except ValueError as exc:
            raise TrainingError(str(exc)) from None
        try:
            recipe = dataclasses.replace(self.spec.recipe(job.config), **job.recipe_overrides)
        except TypeError as exc:
            raise TrainingError(f"bad recipe override: {exc}") from None
        if job.init_from is not None and "learning_rate" not in job.recipe_overrides:
            recipe = dataclasses.replace(recipe, learning_rate=recipe.learning_rate * FINE_TUNE_LR_SCALE)
        return recipe

    def _join_group(self, job: TrainJob) -> int:
        """Distributed set-up (torchrun): one process per device, gradients averaged by DDP.

        Sets the rank, the world size and the device; returns the local rank.
        """
        import torch

        self.rank, self.world, local_rank = distributed_env()
        device = resolve_device(job.device)
        if self.world > 1 and device.startswith("cuda"):
            device = f"cuda:{local_rank}"
            torch.cuda.set_device(local_rank)
        self.device = device
        self._owns_group = False
        if self.world > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
                self._owns_group = True
        return local_rank

    def _load_data(self, job: TrainJob) -> None:
        """The training images, the patch sampler and (rank 0) the validation set."""
        recipe, source = self.recipe, job.source
        if recipe.supervision == SUPERVISED and source.kind == NOISY:
            raise TrainingError(f"{job.method_id} is supervised: give it --clean DIR (with --noise) or --pairs DIR, not noisy images alone")
        try:
            self.images: TrainingImages = load_training_images(source, recipe.patch_size)
        except DataError as exc:
            raise TrainingError(str(exc)) from None
        self.channels = self.images.source.channels
        # A self-supervised loss never sees a clean image, even when the source has them.
        batch = max(1, math.ceil(recipe.batch_size / self.world))
        with_clean = recipe.supervision != SELF_SUPERVISED
        on_device = job.device_data if job.device_data is not None else self.device.startswith("cuda")
        from denoise_studio.training.device_data import DEVICE_NOISE, DevicePatchSampler
        self.sampler: Any = PatchSampler(self.images, recipe.patch_size, batch, job.seed, with_clean=with_clean)
        if on_device and source.kind == CLEAN and source.noise in DEVICE_NOISE:
            self.sampler = DevicePatchSampler(self.images, recipe.patch_size, batch, job.seed, with_clean, self.device)
        self.validation: ValidationSet | None = validation_set(self.images, multiple_of=self.spec.size_requirements.multiple_of) if self.rank == 0 else None

    def _build_model(self, job: TrainJob, local_rank: int) -> None:
        """The network (seeded), the initial weights of a fine-tuning, DDP, the optimiser and the EMA copy."""
        import torch

        recipe, device = self.recipe, self.device
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(job.seed)
            self.model: nn.Module = self.spec.build(job.config, self.channels).to(device)
        self.init_card: ModelCard | None = None
        if job.init_from is not None:
            self._load_initial_weights(job.init_from)
        self.net: nn.Module = self.model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.net = DistributedDataParallel(self.model, device_ids=[local_rank] if device.startswith("cuda") else None)
        opt_cls = torch.optim.AdamW if recipe.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = opt_cls(self.model.parameters(), lr=recipe.learning_rate, betas=recipe.betas, weight_decay=recipe.weight_decay)
        self.ema: nn.Module | None = None
        if recipe.ema_decay:
            self.ema = copy.deepcopy(self.model).eval()
            for p in self.ema.parameters():
                p.requires_grad_(False)

    def _load_initial_weights(self, path: Path) -> None:
        """Start from trained weights: they must be this method's, configuration and channels."""
        from denoise_studio.core.weights import WeightsError, load_state_dict

        try:
            state, card = load_state_dict(path)
        except WeightsError as exc:
            raise TrainingError(f"cannot start from {path}: {exc}") from None
        if (card.method, card.config, card.channels) != (self.job.method_id, self.job.config, self.channels):
            raise TrainingError(
                f"cannot start from {Path(path).name}: it holds {card.method} ({card.config}, {card.channels} channels), "
                f"not {self.job.method_id} ({self.job.config}, {self.channels} channels)"
            )
        try:
            self.model.load_state_dict(state)
        except RuntimeError as exc:
            raise TrainingError(f"cannot start from {Path(path).name}: {exc}") from None
        self.init_card = card

    # ------------------------------------------------------------------------------ one step

    def train_step(self) -> tuple[float | None, dict[str, float]]:
        """Take step ``self.step`` (0-based) and return its loss and named parts.

        On CUDA the loss stays on the device between reports (every ``SYNC_EVERY`` steps and at
        validations): the step returns ``(None, {})`` and nothing waits for the host. A NaN
        found at a report ends the run with the last validated weights, as on the CPU.
        """
        import torch

        s = self.step
        lr = learning_rate_at(self.recipe, s, self.total)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        noisy, clean = self.sampler.batch(s, self.rank)
        if not isinstance(noisy, torch.Tensor):  # the host sampler's numpy patches
            noisy = torch.from_numpy(noisy).to(self.device, non_blocking=True)
            clean = torch.from_numpy(clean).to(self.device, non_blocking=True) if clean is not None else None
        torch.manual_seed(step_seed(self.job.seed, s, self.rank, 1))  # dropout and friends
        generator = make_generator(self.device, step_seed(self.job.seed, s, self.rank, 2))
        self.net.train()
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            loss, parts = self.spec.training_loss(self.net, noisy, clean, generator)
        self._unreported.append(loss.detach().float())
        deferred = self.defer_losses and (s + 1) % SYNC_EVERY and (s + 1) % self.validate_every and s + 1 < self.total
        if not deferred:
            self._report_losses(s)
        loss.backward()
        if self.recipe.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.recipe.grad_clip)
        self.optimizer.step()
        if self.ema is not None:
            self._update_ema()
        self.step += 1
        if deferred:
            return None, {}
        return self.losses[-1], {k: float(v) for k, v in parts.items()}

    def _report_losses(self, step: int) -> None:
        """Bring the losses since the last report to the host (one transfer); stop on a NaN."""
        import torch

        values = torch.stack(self._unreported).tolist()
        self._unreported.clear()
        for offset, value in enumerate(values):
            if not math.isfinite(value):
                raise TrainingDiverged(f"the loss became {value} at step {step + 2 - len(values) + offset}")
        self.losses.extend(values)

    def _autocast(self) -> Any:
        """bfloat16 autocast on CUDA (Hopper and Ampere run it at full rate); float32 elsewhere."""
        import contextlib

        import torch

        if self.device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _update_ema(self) -> None:
        import torch

        assert self.ema is not None and self.recipe.ema_decay is not None
        # The usual warm-up: early on the average follows the weights closely.
        decay = min(self.recipe.ema_decay, (1.0 + self.step) / (10.0 + self.step))
        with torch.no_grad():
            for pe, p in zip(self.ema.parameters(), self.model.parameters()):
                pe.mul_(decay).add_(p.detach(), alpha=1.0 - decay)
            for be, b in zip(self.ema.buffers(), self.model.buffers()):
                be.copy_(b)

    # ------------------------------------------------------------------------------ validation

    def eval_model(self) -> nn.Module:
        """The network validated and saved: the EMA when the recipe keeps one."""
        return self.ema if self.ema is not None else self.model

    def validate(self, state: dict[str, torch.Tensor] | None = None) -> float | None:
        """Mean PSNR (dB) on the validation crops; ``state`` evaluates other weights instead."""
        import torch

        if self.validation is None:
            return None
        model = self.eval_model()
        if state is not None:
            model = copy.deepcopy(model)
            model.load_state_dict(state)
        was_training = model.training
        model.eval()
        values = []
        req = self.spec.size_requirements
        with torch.no_grad():
            for i, (noisy, clean) in enumerate(zip(self.validation.noisy, self.validation.clean)):
                padded, pad = pad_to_requirements(noisy, req)
                x = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1))).unsqueeze(0).to(self.device)
                y = self.spec.denoise(model, x, make_generator(self.device, 1000 + i))
                out = crop_padding(y[0].float().cpu().numpy().transpose(1, 2, 0), pad)
                values.append(psnr(np.clip(out, 0.0, 1.0), clean))
        model.train(was_training)
        return float(np.mean(values))

    def _state_of_eval_model(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.eval_model().state_dict().items()}

    # ------------------------------------------------------------------------------ checkpoints

    def checkpoint_state(self, elapsed_minutes: float) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "method": self.job.method_id,
            "config": self.job.config,
            "channels": self.channels,
            "seed": self.job.seed,
            "step": self.step,
            "total": self.total,
            "fitted": self.fitted,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "best_state": self.best_state,
            "best_psnr": self.best_psnr,
            "best_step": self.best_step,
            "losses": list(self.losses),
            "val_history": [[s, v] for s, v in self.val_history],
            "minutes": elapsed_minutes,
            "processes": self.processes,
        }

    def save_checkpoint(self, path: Path, elapsed_minutes: float) -> None:
        """Write a checkpoint atomically (rank 0 only)."""
        import torch

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save(self.checkpoint_state(elapsed_minutes), tmp)
        os.replace(tmp, path)

    def load_checkpoint(self, path: Path) -> None:
        """Continue from a checkpoint of the same method, configuration and seed."""
        import torch

        try:
            ckpt = torch.load(path, map_location=self.device, weights_only=True)
        except FileNotFoundError:
            raise TrainingError(f"{path}: no such checkpoint") from None
        except Exception as exc:  # noqa: BLE001 - a damaged or foreign file: pickle, zip and torch errors alike
            raise TrainingError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
        if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
            raise TrainingError(f"{path}: not a Denoise Studio checkpoint")
        for key, want in (("method", self.job.method_id), ("config", self.job.config), ("channels", self.channels)):
            if ckpt[key] != want:
                raise TrainingError(f"{path}: the checkpoint is for {key} {ckpt[key]!r}, not {want!r}")
        if ckpt["seed"] != self.job.seed:
            raise TrainingError(f"{path}: the checkpoint was trained with seed {ckpt['seed']}; resume with --seed {ckpt['seed']}")
        self.model.load_state_dict(ckpt["model"])
        if self.ema is not None and ckpt["ema"] is not None:
            self.ema.load_state_dict(ckpt["ema"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.step = int(ckpt["step"])
        self.best_state = ckpt["best_state"]
        self.best_psnr = ckpt["best_psnr"]
        self.best_step = int(ckpt["best_step"])
        self.losses = list(ckpt["losses"])
        self.val_history = [(int(s), float(v)) for s, v in ckpt["val_history"]]
        self.elapsed_before = float(ckpt["minutes"])
        self.processes = max(self.world, int(ckpt.get("processes", 1)))
        if self.job.steps is None:
            self.total = int(ckpt["total"])
            self.fitted = bool(ckpt.get("fitted", False))

    # ------------------------------------------------------------------------------ the run

    def _should_stop(self, started: float) -> bool:
        """Rank 0 decides (budget or stop request) and, when distributed, tells the others."""
        stop = self.step >= self.total or self.stop_event.is_set()
        if self.job.minutes is not None and (time.monotonic() - started) / 60.0 >= self.job.minutes:
            stop = True
        if self.world > 1:
            import torch
            import torch.distributed as dist

            flag = torch.tensor([1.0 if (stop and self.rank == 0) or self.step >= self.total else 0.0], device=self.device)
            dist.broadcast(flag, src=0)
            stop = bool(flag.item() > 0)
        return stop

    def _record_validation(self) -> float | None:
        value = self.validate()
        if value is None:
            return None
        self.val_history.append((self.step, value))
        if self.best_psnr is None or value > self.best_psnr:
            self.best_psnr, self.best_step = value, self.step
            self.best_state = self._state_of_eval_model()
        return value

    def run(self) -> Iterator[TrainProgress]:
        """Train to the budget; yield a report after every step and end with ``final=True``.

        The final report comes after the weights (and a checkpoint) are written; the result is
        then in :attr:`result`.
        """
        started = time.monotonic()
        checkpoint = self.job.checkpoint or (self.job.out.with_suffix(".ckpt") if self.job.out is not None else None)
        first_step = self.step
        diverged: str | None = None
        while not self._should_stop(started):
            try:
                loss, parts = self.train_step()
            except TrainingDiverged as exc:
                if self.world > 1:
                    raise TrainingError(f"{exc}; lower the learning rate") from None
                # Stop and keep the last good result: the best validated weights (and the last
                # checkpoint, which is not overwritten with the broken weights).
                if self.best_state is None:
                    raise TrainingError(f"{exc} before any validation, so there are no good weights to keep; lower the learning rate") from None
                diverged = f"{exc}; kept the best weights (step {self.best_step}, {self.best_psnr:.2f} dB); lower the learning rate to go further"
                self.diverged = True
                break
            elapsed = (time.monotonic() - started) / 60.0
            done = self.step - first_step
            if self.fit_schedule and (done == FIT_AFTER_STEPS or (done > FIT_AFTER_STEPS and self.step % self.validate_every == 0)):
                # Refitted at every validation: the speed of a shared machine changes.
                self._fit_schedule(elapsed, done)
            val = None
            if self.rank == 0 and (self.step % self.validate_every == 0):
                val = self._record_validation()
                if checkpoint is not None:
                    self.save_checkpoint(checkpoint, self.elapsed_before + elapsed)
            yield TrainProgress(
                self.step,
                self.total,
                loss=loss,
                parts=parts,
                learning_rate=learning_rate_at(self.recipe, self.step - 1, self.total),
                elapsed=elapsed,
                val_psnr=val,
                best_psnr=self.best_psnr,
            )
        if self._unreported and diverged is None:  # a budget ended the run between two reports
            try:
                self._report_losses(self.step - 1)
            except TrainingDiverged as exc:
                diverged, self.diverged = f"{exc}; kept the best weights (step {self.best_step})", True
        stopped = self.step < self.total
        minutes = self.elapsed_before + (time.monotonic() - started) / 60.0
        weights: Path | None = None
        card: ModelCard | None = None
        if self.rank == 0:
            if diverged is None and (not self.val_history or self.val_history[-1][0] != self.step):
                self._record_validation()
            if checkpoint is not None and diverged is None:
                self.save_checkpoint(checkpoint, minutes)
            if self.job.out is not None:
                weights, card = self.write_weights(self.job.out, minutes)
        if self.world > 1:
            import torch.distributed as dist

            # Finish together: a rank that leaves the group while rank 0 is still writing the
            # weights can abort in gloo (seen once, as a SIGABRT, on a loaded machine).
            dist.barrier()
        message = f"wrote {weights}" if weights is not None else "done"
        if diverged is not None:
            message = f"stopped: {diverged}" + (f"; wrote {weights}" if weights is not None else "")
        self.result = TrainResult(weights, card, self.step, list(self.losses), list(self.val_history), stopped, diverged)
        yield TrainProgress(self.step, self.total, elapsed=minutes, best_psnr=self.best_psnr, message=message, final=True)

    def _fit_schedule(self, elapsed_minutes: float, steps_done: int) -> None:
        """Shorten the schedule to the steps that fit the time budget at the measured speed.

        Rank 0 measures and decides; the others receive the same length, so every process
        follows the same learning rate.
        """
        assert self.job.minutes is not None
        per_step = elapsed_minutes / max(steps_done, 1)
        remaining = max(self.job.minutes - elapsed_minutes, 0.0)
        total = min(self.recipe_steps, self.step + int(FIT_MARGIN * remaining / max(per_step, 1e-9)))
        if self.world > 1:
            import torch
            import torch.distributed as dist

            value = torch.tensor([float(total)], device=self.device)
            dist.broadcast(value, src=0)
            total = int(value.item())
        self.total = max(total, self.step + 1)
        self.fitted = True

    def close(self) -> None:
        """Leave the process group this trainer created (distributed runs)."""
        if self._owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()
            self._owns_group = False

    # ------------------------------------------------------------------------------ output

    def final_state(self) -> dict[str, torch.Tensor]:
        """The weights to ship: the best validated ones if kept (always after a divergence), else the current ones."""
        if (self.job.keep_best or self.diverged) and self.best_state is not None:
            return self.best_state
        return self._state_of_eval_model()

    def write_weights(self, out: Path, minutes: float) -> tuple[Path, ModelCard]:
        """Save the final weights as safetensors (float16 where that costs < 0.01 dB) + card."""
        state = self.final_state()
        if self.validation is not None:
            half = half_precision_costs_nothing(state, evaluate=lambda s: self.validate(s) or 0.0)
        else:
            half = half_precision_costs_nothing(state)
        src = self.images.source
        card = ModelCard(
            method=self.job.method_id,
            config=self.job.config,
            channels=self.channels,
            architecture=type(self.model).__name__,
            parameters=count_parameters(self.model),
            recipe_command=self.job.command,
            recipe=self.recipe.to_json() | {"steps": self.total} | ({"noise": src.noise, "sigma": list(src.sigma)} if src.kind == CLEAN else {}),
            training_data=src.name,
            training_images=self.images.count,
            noise=src.noise if src.kind == CLEAN else ("real pairs" if src.kind == "pairs" else "as found in the images"),
            sigma=[float(s) for s in src.sigma] if src.kind == CLEAN else [],
            supervision=self.recipe.supervision,
            steps=self.step,
            minutes=round(minutes, 2),
            device=self.device,
            processes=self.processes,
            validation_psnr=round(self.best_psnr, 3) if self.best_psnr is not None else None,
            validation_images=len(self.validation) if self.validation is not None else 0,
            best_step=self.best_step,
            limitations=str(getattr(self.spec, "limitations", "")),
            extra={"validation_history": [[s, round(v, 3)] for s, v in self.val_history], "seed": self.job.seed}
            | ({"fine_tuned_from": {"file": Path(self.job.init_from).name, "sha256": self.init_card.sha256}} if self.init_card is not None and self.job.init_from is not None else {}),
        )
        card = save_weights(out, state, card, dtype="float16" if half else "float32")
        return out, card
