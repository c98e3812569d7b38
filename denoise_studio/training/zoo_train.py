"""``zoo train``: train the shipped models from their recipes, one after the other, in one budget.

Each shipped card says what its weights were trained for (method, configuration, noise, σ
range, training data); ``train_zoo`` trains each chosen model for its share of the budget with
the recipe of the configuration asked for, on the data folder given, and writes the weights and
card into the output folder (never into ``resources/`` unless that is the folder named).

* ``from_shipped``: continue from the shipped weights (same configuration only), so that the
  training of successive periods adds up; the card then counts all periods (``extra["periods"]``,
  and ``steps``/``minutes`` are the totals).
* Stopped and resumed: a model whose weights are already in the output folder is done and
  skipped; one with a checkpoint there resumes from it (the rest of its share).

Importing this module imports neither Qt nor bm3d nor PyWavelets: it runs on an accelerator
machine's own Python (numpy, torch, OpenCV, safetensors).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from denoise_studio.core.errors import UserError
from denoise_studio.core.weights import SHIPPED, WeightsEntry, list_weights, read_card, write_card


@dataclass
class ZooModel:
    """One shipped weights file and what it was trained for."""

    entry: WeightsEntry

    @property
    def name(self) -> str:
        return self.entry.path.stem

    @property
    def method(self) -> str:
        return self.entry.card.method

    def sigma(self) -> tuple[float, float]:
        values = [float(v) for v in self.entry.card.sigma] or [25.0]
        return values[0], values[-1]

    def out_name(self, config: str) -> str:
        """``formresnet-lite`` trained at ``paper`` size is written as ``formresnet-paper``."""
        card = self.entry.card
        return self.name if config == card.config else self.name.replace(f"-{card.config}", f"-{config}", 1)


def zoo_models(names: Iterable[str] | None = None) -> list[ZooModel]:
    """The shipped models (all, or those named by weights name or method id), in name order."""
    models = [ZooModel(e) for e in list_weights(None, include_user=False) if e.origin == SHIPPED]
    if names is None:
        return models
    wanted = [n.strip() for n in names if n.strip()]
    chosen = [m for m in models if m.name in wanted or m.method in wanted]
    unknown = [n for n in wanted if not any(n in (m.name, m.method) for m in models)]
    if unknown:
        raise UserError(f"no shipped model {', '.join(unknown)}; shipped: {', '.join(m.name for m in models)}")
    return chosen


def split_budget(models: list[ZooModel], minutes: float) -> dict[str, float]:
    """Each model's share of the budget, in proportion to its parameter count (a bigger network
    needs more steps to move), at least a tenth of an equal share."""
    weights = {m.name: max(float(m.entry.card.parameters), 1.0) for m in models}
    floor = 0.1 / max(len(models), 1)
    total = sum(weights.values())
    shares = {name: max(w / total, floor) for name, w in weights.items()}
    norm = sum(shares.values())
    return {name: minutes * share / norm for name, share in shares.items()}


def train_zoo(
    models: list[ZooModel], *, data: Path, out: Path, config: str | None, device: str, minutes: float,
    from_shipped: bool, seed: int = 0, report: Callable[[str], None] = print, overrides: dict[str, Any] | None = None,
) -> list[Path]:
    """Train each model for its share of ``minutes``; returns the weights written."""
    out.mkdir(parents=True, exist_ok=True)
    shares = split_budget(models, minutes)
    written = []
    for model in models:
        chosen = config or model.entry.card.config
        target = out / f"{model.out_name(chosen)}.safetensors"
        if target.exists():
            report(f"{model.name}: {target.name} is already there, skipped")
            written.append(target)
            continue
        started = time.monotonic()
        result = _train_one(model, chosen, data, target, device, shares[model.name], from_shipped, seed, report, overrides or {})
        if result is not None:
            written.append(result)
        report(f"{model.name}: {time.monotonic() - started:.0f} s")
    return written


def _train_one(model: ZooModel, config: str, data: Path, target: Path, device: str, minutes: float,
               from_shipped: bool, seed: int, report: Callable[[str], None], overrides: dict[str, Any]) -> Path | None:
    from denoise_studio.training.data import CLEAN, DataSource
    from denoise_studio.training.loop import Trainer, TrainJob

    card = model.entry.card
    init = model.entry.path if from_shipped and config == card.config else None
    if from_shipped and init is None:
        report(f"{model.name}: the shipped weights are {card.config}, not {config}: trained from random weights")
    checkpoint = target.with_suffix(".ckpt")
    source = DataSource(CLEAN, data, noise=card.noise or "gaussian", sigma=model.sigma(), channels=card.channels)
    command = (f"denoise-studio zoo train --models {model.name} --config {config} --device {device} --budget-minutes {minutes:.3g}"
               + (" --from-shipped" if init is not None else "") + f" --data {data.name} --out OUT")
    if init is not None and "learning_rate" not in overrides:
        # Continuing a long schedule: the recipe's own rate, not a fine-tuning tenth.
        from denoise_studio.training.loop import spec_for

        overrides = {**overrides, "learning_rate": spec_for(card.method)[0].recipe(config).learning_rate * 0.5}
    job = TrainJob(method_id=card.method, config=config, source=source, out=target, minutes=minutes, seed=seed, device=device,
                   resume=checkpoint if checkpoint.exists() else None, checkpoint=checkpoint, command=command,
                   init_from=init if not checkpoint.exists() else None, recipe_overrides=dict(overrides))
    trainer = Trainer(job)
    report(f"{model.name}: {config}, {minutes:.1f} min on {trainer.device}, {trainer.total} steps planned"
           + (", continuing the shipped weights" if init is not None else ""))
    try:
        for progress in trainer.run():
            if progress.val_psnr is not None:
                report(f"{model.name}: step {progress.step}/{progress.total} validation {progress.val_psnr:.2f} dB (best {progress.best_psnr:.2f})")
    finally:
        trainer.close()
    result = trainer.result
    if result is None or result.weights is None:
        return None
    if init is not None:
        add_up_periods(result.weights, model.entry)
    checkpoint.unlink(missing_ok=True)
    return result.weights


def add_up_periods(weights: Path, previous: WeightsEntry) -> None:
    """Make the new card count every training period: the shipped card's and this one."""
    card = read_card(weights)
    old = previous.card
    periods = list(old.extra.get("periods") or [{"steps": old.steps, "minutes": old.minutes, "device": old.device,
                                                  "command": old.recipe_command, "created": old.created}])
    periods.append({"steps": card.steps, "minutes": card.minutes, "device": card.device, "command": card.recipe_command,
                    "created": card.created})
    card = dataclasses.replace(card, steps=sum(int(p["steps"]) for p in periods),
                               minutes=round(sum(float(p["minutes"]) for p in periods), 2))
    card.extra["periods"] = periods
    write_card(weights, card)
