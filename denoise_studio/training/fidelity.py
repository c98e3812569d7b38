"""Colour fidelity and mild noise: what every shipped network must do, whatever it was trained for.

Issue 15 asks two things of a trained denoiser:

* **It keeps the per-channel mean of its input on flat patches.** A flat patch has no detail to
  remove, and the noise of every model here averages to (nearly) zero over 64×64 pixels, so a
  change of a channel's mean is a colour cast. The limit is ``MAX_CAST``, one 8-bit level, as
  in ``zoo check``. The patches: mid-grey without noise, and two colours with mild noise.
* **It never makes mild noise worse.** On a crop of the built-in astronaut photograph with
  camera noise σ 2 and σ 5 and Gaussian σ 5 (a good camera in good light), the output's PSNR is
  at least the noisy input's, and, as on the flat patches, no channel's mean moves by more than
  ``MAX_CAST`` on this textured crop (the largest cast of the three is reported).

    python -m denoise_studio.training.fidelity [--models NAME,...] [--weights FILE ...] [--bare] [--input-mask] [--validation]

prints both for every shipped weights file (or the files given; ``docs/BENCHMARKS.md``, "Model
zoo check"). Two diagnoses: ``--bare`` runs the network's own forward pass (the pass its
training loss calls: for AP-BSN and LG-BPN, PD with the training stride and no R3) in eval
mode on clean flat patches, and reads the centre, away from every border: a cast there is in the
weights, not in tiling, PD, R3 or padding. ``--input-mask`` measures a masked-image-training
network on the flat patches with the input mask it was trained with (Chen et al. CVPR 2023,
Sec. 3.2): a cast that goes away there is a gap between the training input and the test input
that the weights have not bridged. ``--validation`` recomputes the validation PSNR that the
card records (its held-out training crops, the same seeded noise, ``spec.denoise`` as the trainer
calls it): the same figure means that inference computes what training validated.
``tests/methods/test_shipped_fidelity.py`` asserts the same figures.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from denoise_studio.core.errors import UserError

if TYPE_CHECKING:
    from denoise_studio.core.weights import WeightsEntry

MAX_CAST = 1.0  # on the 0–255 scale
# Networks whose ``forward`` is the pass their training loss calls (``--bare``).
BARE_METHODS = ("ap_bsn", "lg_bpn")
FLAT_SIDE = 64
DEFAULT_TRAIN_ROOT = Path("../shared/data/train")


@dataclass(frozen=True)
class FlatCase:
    """A flat patch of one colour, with mild noise or none."""

    label: str
    colour: tuple[float, float, float]
    noise: str | None = None
    sigma: float = 0.0


FLAT_CASES: tuple[FlatCase, ...] = (
    FlatCase("grey", (0.5, 0.5, 0.5)),
    FlatCase("warm, camera σ3", (0.6, 0.4, 0.3), "camera", 3.0),
    FlatCase("cool, gaussian σ5", (0.25, 0.45, 0.65), "gaussian", 5.0),
)
MILD_NOISE: tuple[tuple[str, float], ...] = (("camera", 2.0), ("camera", 5.0), ("gaussian", 5.0))


def flat_patch(case: FlatCase, seed: int = 3) -> np.ndarray:
    """The 64×64 patch of ``case``, noisy and clipped to [0, 1] as an image file holds it."""
    from denoise_studio.core.noise import add_noise

    flat = np.ones((FLAT_SIDE, FLAT_SIDE, 3), np.float32) * np.asarray(case.colour, np.float32)
    if case.noise is None:
        return flat
    return np.clip(add_noise(flat, case.noise, case.sigma, np.random.default_rng(seed)), 0.0, 1.0).astype(np.float32)


def channel_cast(output: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Per-channel mean of ``output`` minus that of ``given`` (H×W×C), on the 0–255 scale."""
    return np.asarray((output.mean(axis=(0, 1)) - given.mean(axis=(0, 1))) * 255.0, dtype=np.float64)


def mild_clean() -> np.ndarray:
    """The 128×128 crop of the astronaut sample the mild-noise check uses (face, suit, flag)."""
    from denoise_studio.core.image import load_image

    return np.ascontiguousarray(load_image("sample:astronaut").pixels[24:152, 160:288])


def mild_noisy(clean: np.ndarray, noise: str, sigma: float, seed: int = 7) -> np.ndarray:
    """``clean`` with the noise of ``denoise-studio bench`` (Gaussian unclipped, as published)."""
    from denoise_studio.core.noise import add_noise

    options = {"clip": False} if noise == "gaussian" else {}
    return add_noise(clean, noise, sigma, np.random.default_rng(seed), **options).astype(np.float32)


def denoise_with(method_id: str, weights: str, pixels: np.ndarray, seed: int = 0, **options: str) -> np.ndarray:
    """The method's default inference with ``weights`` (a name or a file) on the CPU; ``options``
    change parameters (``keep_colour="false"``: the network's output without the colour anchor)."""
    from denoise_studio.core.method import RunContext, run_to_end
    from denoise_studio.methods import create_method

    method = create_method(method_id)
    params = method.Params.from_strings({"weights": weights, **options}, base=method.Params())
    image = run_to_end(method, pixels, params, RunContext(seed=seed, device="cpu")).image
    if image is None:
        raise UserError(f"{weights}: the method returned no image")
    return image


@dataclass(frozen=True)
class MildResult:
    """One run on the textured crop with mild noise."""

    before: float  # input PSNR, dB
    after: float  # output PSNR, dB
    cast: np.ndarray  # per-channel mean of the output minus the input's, 0–255


def mild_run(method_id: str, weights: str, clean: np.ndarray, noise: str, sigma: float) -> MildResult:
    """The method on ``clean`` with mild ``noise``: its PSNR gain and the cast on a textured crop."""
    from denoise_studio.core.metrics import psnr

    noisy = mild_noisy(clean, noise, sigma)
    output = denoise_with(method_id, weights, noisy)
    return MildResult(psnr(np.clip(noisy, 0.0, 1.0), clean), psnr(output, clean), channel_cast(output, noisy))


def mild_gain(method_id: str, weights: str, clean: np.ndarray, noise: str, sigma: float) -> tuple[float, float]:
    """(input PSNR, output PSNR) in dB on ``clean`` with mild ``noise``."""
    result = mild_run(method_id, weights, clean, noise, sigma)
    return result.before, result.after


def largest_cast(casts: list[np.ndarray]) -> np.ndarray:
    """The cast whose largest channel moves most."""
    return max(casts, key=lambda cast: float(np.abs(cast).max()))


def input_mask_cast(path: Path, case: FlatCase, passes: int = 8) -> np.ndarray:
    """The cast of a masked-image-training network on ``case`` with its training-time input mask.

    Everything else stays in inference mode (the attention mask on, as at test time); the mean
    of ``passes`` draws of the input mask.
    """
    import torch

    from denoise_studio.core.weights import load_network, read_card
    from denoise_studio.methods.masked import NETWORK, MaskedSwinIR

    if read_card(path).method != NETWORK.method_id:
        raise UserError(f"{path.name}: --input-mask is for {NETWORK.method_id} weights")
    net, _ = load_network(path, NETWORK, device="cpu")
    assert isinstance(net, MaskedSwinIR)
    patch = flat_patch(case)
    x = torch.from_numpy(np.ascontiguousarray(patch.transpose(2, 0, 1))).unsqueeze(0)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        out = torch.stack([net(x, generator=generator, mask_input=True) for _ in range(passes)]).mean(dim=0)
    return channel_cast(out[0].numpy().transpose(1, 2, 0), patch)


def bare_cast(path: Path, colour: tuple[float, float, float], side: int = 120) -> np.ndarray:
    """The cast of the network's own forward pass on a clean flat ``side``² patch, read in the centre half."""
    import torch

    from denoise_studio.core.weights import load_network, read_card
    from denoise_studio.training.job import spec_for

    spec, _ = spec_for(read_card(path).method)
    net, _ = load_network(path, spec, device="cpu")
    x = torch.tensor(colour, dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, side, side).contiguous()
    with torch.no_grad():
        out = net(x)[0, :, side // 4 : side - side // 4, side // 4 : side - side // 4]
    return np.asarray((out.mean(dim=(1, 2)).numpy() - np.asarray(colour)) * 255.0, dtype=np.float64)


def validation_psnr(path: Path, train_root: Path = DEFAULT_TRAIN_ROOT) -> tuple[float, float | None]:
    """(today's, the card's) validation PSNR of the weights at ``path``, as ``Trainer.validate`` computes it."""
    import torch

    from denoise_studio.core.device import make_generator
    from denoise_studio.core.metrics import psnr
    from denoise_studio.core.tiling import crop_padding, pad_to_requirements
    from denoise_studio.core.weights import load_network, read_card
    from denoise_studio.training.data import CLEAN, DataSource, load_training_images, validation_set
    from denoise_studio.training.job import spec_for

    card = read_card(path)
    spec, _ = spec_for(card.method)
    source = DataSource(CLEAN, train_root / card.training_data, noise=card.noise, sigma=(card.sigma[0], card.sigma[-1]),
                        channels=card.channels, validation_images=card.validation_images or None)
    images = load_training_images(source, int(card.recipe.get("patch_size", 0)))
    crops = validation_set(images, multiple_of=spec.size_requirements.multiple_of)
    if crops is None:
        raise UserError(f"{path.name}: no validation images in {source.path}")
    net, _ = load_network(path, spec, device="cpu")
    values = []
    with torch.no_grad():
        for i, (noisy, clean) in enumerate(zip(crops.noisy, crops.clean)):
            padded, pad = pad_to_requirements(noisy, spec.size_requirements)
            x = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1))).unsqueeze(0)
            y = spec.denoise(net, x, make_generator("cpu", 1000 + i))
            values.append(psnr(np.clip(crop_padding(y[0].float().numpy().transpose(1, 2, 0), pad), 0.0, 1.0), clean))
    return float(np.mean(values)), card.validation_psnr


def _targets(models: str | None, files: list[Path]) -> list[tuple[str, str, Path]]:
    """(label, method, path) of the files to measure: the given ones, else the shipped ones."""
    from denoise_studio.core.weights import SHIPPED, list_weights, read_card

    if files:
        return [(p.stem, read_card(p).method, p) for p in files]
    entries: list[WeightsEntry] = [e for e in list_weights(None, include_user=False) if e.origin == SHIPPED]
    if models:
        wanted = set(models.split(","))
        entries = [e for e in entries if e.name in wanted]
        if missing := wanted - {e.name for e in entries}:
            raise UserError(f"no shipped weights named {', '.join(sorted(missing))}")
    return [(e.name, e.card.method, e.path) for e in entries]


def _cast_text(cast: np.ndarray) -> str:
    text = " / ".join(f"{v:+.1f}" for v in cast)
    return f"**{text}**" if np.abs(cast).max() > MAX_CAST else text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m denoise_studio.training.fidelity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", help="shipped weights names, comma-separated (default: all)")
    parser.add_argument("--weights", type=Path, nargs="*", default=[], help="weights files to measure instead")
    parser.add_argument("--bare", action="store_true", help="also the network's own forward pass on clean flat patches")
    parser.add_argument("--input-mask", action="store_true", help="masked weights: also the flat casts with the training-time input mask")
    parser.add_argument("--validation", action="store_true", help="also recompute the validation PSNR each card records")
    parser.add_argument("--train-root", type=Path, default=DEFAULT_TRAIN_ROOT, help="the folder of the cards' training_data")
    args = parser.parse_args(argv)
    clean = mild_clean()
    flat_head = " | ".join(f"cast R / G / B: {c.label}" for c in FLAT_CASES)
    mild_head = " | ".join(f"{n} σ{s:g}: gain dB" for n, s in MILD_NOISE)
    print(f"| weights | {flat_head} | {mild_head} | textured crop, mild noise: largest cast |")
    print("|---" * (2 + len(FLAT_CASES) + len(MILD_NOISE)) + "|")
    empty = " |" * (len(MILD_NOISE) + 1)
    for label, method_id, path in _targets(args.models, args.weights):
        casts = [_cast_text(channel_cast(denoise_with(method_id, str(path), flat_patch(c)), flat_patch(c))) for c in FLAT_CASES]
        runs = [mild_run(method_id, str(path), clean, noise, sigma) for noise, sigma in MILD_NOISE]
        gains = [f"{r.after - r.before:+.2f}" if r.after >= r.before else f"**{r.after - r.before:+.2f}**" for r in runs]
        textured = _cast_text(largest_cast([r.cast for r in runs]))
        print(f"| `{label}` | {' | '.join(casts)} | {' | '.join(gains)} | {textured} |", flush=True)
        if args.validation:
            now, recorded = validation_psnr(path, args.train_root)
            print(f"| `{label}`: validation PSNR today {now:.3f} dB, card {recorded if recorded is not None else '?'} |", flush=True)
        if args.bare and method_id in BARE_METHODS:
            bare = [_cast_text(bare_cast(path, c.colour)) for c in FLAT_CASES]
            print(f"| `{label}`, bare network, clean | {' | '.join(bare)} |{empty}", flush=True)
        if args.input_mask and method_id == "masked":
            masked = [_cast_text(input_mask_cast(path, c)) for c in FLAT_CASES]
            print(f"| `{label}`, training-time input mask | {' | '.join(masked)} |{empty}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
