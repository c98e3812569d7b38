"""``zoo check``: every shipped model against its own figures, and against its noisy input.

Each card names the noise its weights are for (``noise``, ``sigma`` range). The check measures
the weights on the first images of a test set at the middle of that range, with the noise of
``denoise-studio bench`` (the same seeded generator per image, so the figures are the ones
``bench`` prints), and fails when

* a figure recorded in the card (``extra["check"]``) drifts by more than ``TOLERANCE_DB``, or
* the result is worse than the noisy input on any image (a network must never do that at the
  noise it is sold for), or
* on a flat mid-grey patch with that noise, the mean of a colour channel moves by more than
  ``MAX_CAST`` (an 8-bit level): a network must keep the colour of what it denoises.

``record_check`` stores the figures in the card the first time (and after retraining).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from denoise_studio.core.image import READ_FORMATS
from denoise_studio.core.weights import WeightsEntry, write_card

TOLERANCE_DB = 0.05
MAX_CAST = 1.0 / 255.0
FLAT_SIDE = 96
DEFAULT_TESTSET = Path("../shared/data/testsets/CBSD68")


@dataclass
class CheckRow:
    """One model's check: the figures per image and what went wrong."""

    name: str
    method: str
    noise: str
    sigma: float
    images: list[str] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    noisy_psnr: list[float] = field(default_factory=list)
    recorded: float | None = None
    #: Per-channel mean of the output minus that of the input on a flat mid-grey patch (0–255).
    cast: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return float(np.mean(self.psnr)) if self.psnr else float("nan")

    @property
    def label(self) -> str:
        return f"{self.noise} σ{self.sigma:g} ({len(self.images)} image{'s' if len(self.images) != 1 else ''})"

    def to_json(self) -> dict[str, Any]:
        return {"weights": self.name, "method": self.method, "noise": self.noise, "sigma": self.sigma, "images": self.images,
                "psnr": self.psnr, "noisy_psnr": self.noisy_psnr, "mean_psnr": self.mean, "recorded": self.recorded, "cast": self.cast,
                "problems": self.problems, "ok": not self.problems}


def check_sigma(entry: WeightsEntry) -> float:
    """The strength a model is checked at: the middle of its training range, rounded to 5."""
    low, high = (list(entry.card.sigma) + [25.0, 25.0])[:2] if entry.card.sigma else (25.0, 25.0)
    return float(max(5.0, 5.0 * round((low + high) / 10.0)))


def first_images(folder: Path, count: int) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no test set there (the evaluation images live in ../shared/data/testsets)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in READ_FORMATS and not p.name.startswith("."))
    return files[:count]


def check_model(entry: WeightsEntry, folder: Path, count: int, seed: int = 0) -> CheckRow:
    """Run ``entry``'s weights on the first ``count`` images of ``folder`` at the noise they are for."""
    from denoise_studio.core.image import load_image
    from denoise_studio.core.method import RunContext, run_to_end
    from denoise_studio.core.metrics import psnr
    from denoise_studio.core.noise import add_noise
    from denoise_studio.methods import create_method

    card = entry.card
    noise = card.noise or "gaussian"
    sigma = check_sigma(entry)
    row = CheckRow(entry.path.stem, card.method, noise, sigma)
    method = create_method(card.method)
    params = method.Params.from_strings({"weights": str(entry.path)}, base=method.Params())
    for index, path in enumerate(first_images(folder, count)):
        clean = load_image(path).pixels
        # The noise of `denoise-studio bench` for image `index` of a sorted folder at this σ.
        rng = np.random.default_rng([seed, int(round(1000 * sigma)), index])
        noisy = add_noise(clean, noise, sigma, rng, **({"clip": False} if noise == "gaussian" else {}))
        result = run_to_end(method, noisy, params, RunContext(seed=seed, device="cpu")).image
        assert result is not None
        row.images.append(path.name)
        row.psnr.append(psnr(result, clean))
        row.noisy_psnr.append(psnr(np.clip(noisy, 0, 1), clean))
        if row.psnr[-1] < row.noisy_psnr[-1]:
            row.problems.append(f"{path.name}: {row.psnr[-1]:.2f} dB, worse than its noisy input ({row.noisy_psnr[-1]:.2f} dB)")
    flat = np.full((FLAT_SIDE, FLAT_SIDE, card.channels or 3), 0.5, np.float32)
    flat_noisy = add_noise(flat, noise, sigma, np.random.default_rng([seed, 1]), **({"clip": False} if noise == "gaussian" else {}))
    flat_out = run_to_end(method, flat_noisy, params, RunContext(seed=seed, device="cpu")).image
    assert flat_out is not None
    row.cast = [round(float(v) * 255.0, 2) for v in flat_out.mean(axis=(0, 1)) - np.clip(flat_noisy, 0, 1).mean(axis=(0, 1))]
    if max(abs(v) for v in row.cast) > MAX_CAST * 255.0:
        row.problems.append(f"a colour cast on flat grey: channel means move by {row.cast} (of 255)")
    recorded = (card.extra.get("check") or {}).get(f"{folder.name} {row.label}")
    if recorded is not None:
        row.recorded = float(recorded)
        if abs(row.mean - row.recorded) > TOLERANCE_DB:
            row.problems.append(f"mean {row.mean:.2f} dB drifted from the recorded {row.recorded:.2f} dB (tolerance {TOLERANCE_DB} dB)")
    return row


def record_check(entry: WeightsEntry, row: CheckRow, folder: Path) -> None:
    """Store the check's mean in the card (the figure later checks compare with)."""
    entry.card.extra.setdefault("check", {})[f"{folder.name} {row.label}"] = round(row.mean, 3)
    write_card(entry.path, entry.card)
