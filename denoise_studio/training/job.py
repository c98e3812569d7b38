"""What a training run is given and what it reports: the job, the progress, the result, the
errors; and the small pure helpers of the loop (the learning-rate schedule, the per-step seeds,
the distributed environment). ``training/loop.py`` runs the job.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from denoise_studio.core.errors import UserError
from denoise_studio.core.network import NetworkSpec, TrainRecipe
from denoise_studio.core.weights import ModelCard


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: the current weights are unusable."""


class TrainingError(UserError, ValueError):
    """Training cannot start or continue as asked (a message for the user)."""


@dataclass
class TrainJob:
    """Everything one training run needs; the command line and the Train dock fill it in.

    ``steps`` is the length of the learning-rate schedule and the step budget (the recipe's
    count when ``None``); ``minutes`` a wall-clock budget that may end the run earlier.
    ``recipe_overrides`` replaces recipe fields (``patch_size``, ``batch_size``, ...; the tests
    use it for tiny runs).
    """

    method_id: str
    config: str
    source: Any  # training.data.DataSource
    out: Path | None = None
    steps: int | None = None
    minutes: float | None = None
    seed: int = 0
    device: str = "auto"
    resume: Path | None = None
    checkpoint: Path | None = None
    validate_every: int | None = None
    recipe_overrides: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    keep_best: bool = True
    # Fine-tuning: start from these weights (same method, configuration and channels) at a tenth
    # of the recipe's learning rate, for example to adapt shipped weights to one noisy image.
    init_from: Path | None = None
    # Cut and degrade the patches on the training device (training/device_data.py): None = on
    # CUDA, where the host would otherwise be the bottleneck; True forces it (tests on the CPU).
    device_data: bool | None = None


FINE_TUNE_LR_SCALE = 0.1


@dataclass
class TrainProgress:
    """A report after a training step (or a validation): what the curve dock plots."""

    step: int
    total: int
    loss: float | None = None
    parts: dict[str, float] = field(default_factory=dict)
    learning_rate: float = 0.0
    elapsed: float = 0.0
    val_psnr: float | None = None
    best_psnr: float | None = None
    message: str = ""
    final: bool = False


@dataclass
class TrainResult:
    """What a finished run produced."""

    weights: Path | None
    card: ModelCard | None
    steps: int
    losses: list[float]
    validation: list[tuple[int, float]]
    stopped: bool
    diverged: str | None = None  # why the run stopped early on a NaN/infinite loss


def spec_for(method_id: str) -> tuple[NetworkSpec, str]:
    """The network spec and family of a registered network method."""
    from denoise_studio.methods import get_entry

    entry = get_entry(method_id)
    cls = entry.load()
    spec_of = getattr(cls, "spec", None)
    if spec_of is None:
        raise TrainingError(f"{method_id} is not a trainable network method")
    spec: NetworkSpec = spec_of()
    return spec, entry.family


def learning_rate_at(recipe: TrainRecipe, step: int, total: int) -> float:
    """The recipe's learning rate at (0-based) ``step`` of a schedule ``total`` steps long."""
    base = recipe.learning_rate
    if recipe.schedule == "constant" or total <= 0:
        return base
    if recipe.schedule == "cosine":
        t = min(step / total, 1.0)
        return recipe.min_learning_rate + (base - recipe.min_learning_rate) * 0.5 * (1.0 + math.cos(math.pi * t))
    passed = sum(1 for m in recipe.milestones if step >= m * total)
    return base * recipe.gamma**passed


def step_seed(seed: int, step: int, rank: int, stream: int = 0) -> int:
    """A 63-bit seed derived from the run seed, the step, the rank and a stream number."""
    return int(np.random.SeedSequence([seed, step, rank, stream]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def distributed_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))
