"""``zoo land``: put weights trained outside ``resources/`` in place of the shipped ones.

A training period writes its weights and card into a folder of its own (``train --init NAME
--out DIR/NAME.safetensors`` or ``zoo train --from-shipped --out DIR``). Landing them:

* refuses weights of another method, configuration, noise or channel count than the shipped
  file of that name, and weights that were not continued from exactly the shipped ones (their
  ``fine_tuned_from`` checksum): the hours counted on the shipped card would be lost;
* counts every training period in the card (``extra["periods"]``; ``steps`` and ``minutes``
  are the totals), once, even when ``zoo train`` has already added them;
* rewrites the recipe's ``--out`` to the shipped path, so that the command runs from any
  checkout and names no folder of the machine it ran on;
* keeps what people wrote and measured on the shipped card (limitations, notes, benchmark
  figures and their commands, the recorded check) until they are measured again: ``zoo check
  --models NAME --record`` and the card's ``benchmark_commands`` do that.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

from denoise_studio.core.errors import UserError
from denoise_studio.core.weights import WEIGHTS_SUFFIX, ModelCard, WeightsEntry, card_path, file_sha256, read_card, write_card
from denoise_studio.training.zoo_train import ZooModel, add_up_periods

KEPT_EXTRA = ("benchmark_commands", "benchmark_ssim", "check")
SAME = ("method", "config", "channels", "noise")


def land(model: ZooModel, trained: Path) -> Path:
    """Replace ``model``'s shipped weights and card by ``trained`` (a ``.safetensors`` file)."""
    shipped: WeightsEntry = model.entry
    if not trained.is_file():
        raise UserError(f"{trained}: no such weights file")
    new, old = read_card(trained), shipped.card
    differs = [f"{name} {getattr(new, name)!r} (shipped: {getattr(old, name)!r})" for name in SAME if getattr(new, name) != getattr(old, name)]
    if differs:
        raise UserError(f"{trained.name} is not a continuation of {model.name}: " + ", ".join(differs))
    if new.sha256 and file_sha256(trained) != new.sha256:
        raise UserError(f"{trained}: the weights do not match their card's checksum")
    parent = new.extra.get("fine_tuned_from") or {}
    if not isinstance(parent, dict) or parent.get("sha256") != old.sha256:
        raise UserError(f"{trained.name} was not continued from the shipped {model.name} (train with --init {model.name} "
                        "or zoo train --from-shipped): landing it would lose the shipped training")
    target = shipped.path
    staged = trained.with_name(f".{trained.stem}.landing{WEIGHTS_SUFFIX}")
    shutil.copyfile(trained, staged)
    write_card(staged, dataclasses.replace(new, recipe_command=shipped_command(new.recipe_command, target)))
    if "periods" not in new.extra:
        add_up_periods(staged, shipped)
    card = read_card(staged)
    write_card(staged, _keep_written(card, old))
    shutil.copyfile(staged, target)
    shutil.copyfile(card_path(staged), card_path(target))
    staged.unlink()
    card_path(staged).unlink()
    return target


def shipped_command(command: str, target: Path) -> str:
    """``command`` with its ``--out`` naming the shipped file, relative to the checkout."""
    relative = f"resources/weights/{target.name}"
    if re.search(r"--out\s+\S+", command):
        return re.sub(r"--out\s+\S+", lambda _: f"--out {relative}", command)
    return command


def _keep_written(card: ModelCard, old: ModelCard) -> ModelCard:
    extra = dict(card.extra)
    for key in KEPT_EXTRA:
        if key in old.extra:
            extra[key] = old.extra[key]
    for period in extra.get("periods", []):
        period["command"] = re.sub(r"--out\s+\S+", lambda m: f"--out {_relative(m.group(0).split()[-1])}", str(period.get("command", "")))
    return dataclasses.replace(card, limitations=old.limitations, notes=old.notes, benchmark=dict(old.benchmark), extra=extra)


def _relative(path: str) -> str:
    """A period's output path without the folders of the machine it ran on."""
    return path if path == "OUT" or path.startswith("resources/") else f"resources/weights/{Path(path).name}"
