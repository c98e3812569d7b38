"""``denoise-studio train``: train a network method and write its weights and model card.

    denoise-studio train METHOD (--clean DIR | --noisy DIR_OR_IMAGE | --pairs DIR)
        [--noise MODEL --sigma A[:B]] --config lite|paper [--minutes N] [--steps N]
        --out FILE [--resume CKPT] [--threads N]

Distributed, one process per device (gloo on CPUs, nccl on GPUs)::

    torchrun --nproc_per_node 4 -m denoise_studio train invdn --clean DIR --config paper ...
"""

from __future__ import annotations

import argparse
import shlex
import sys
import threading
import time
from pathlib import Path

from denoise_studio.core.device import DeviceError
from denoise_studio.core.errors import UserError
from denoise_studio.core.noise import NOISE_MODELS
from denoise_studio.core.weights import default_user_weights_path
from denoise_studio.training.data import CLEAN, NOISY, PAIRS, DataError, DataSource
from denoise_studio.training.loop import Trainer, TrainingError, TrainJob, TrainProgress, distributed_env, spec_for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("method", help="a network method id (see `denoise-studio methods`)")
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--clean", metavar="DIR", help="folder of clean images; noise is added on the fly")
    data.add_argument("--noisy", metavar="DIR_OR_IMAGE", help="noisy images alone (self-supervised methods)")
    data.add_argument("--pairs", metavar="DIR", help="folder with noisy/ and clean/ sub-folders of same-named images")
    parser.add_argument("--noise", choices=sorted(NOISE_MODELS), help="noise model for --clean (default: the recipe's)")
    parser.add_argument("--sigma", metavar="A[:B]", help="noise strength on the 0–255 scale, or a range drawn per patch (default: the recipe's)")
    parser.add_argument("--config", default="lite", help="network configuration: lite (CPU-sized) or paper (default lite)")
    parser.add_argument("--minutes", type=float, help="wall-clock budget; the run ends after this many minutes")
    parser.add_argument("--steps", type=int, help="number of steps (the schedule's length; default: the recipe's)")
    parser.add_argument("--out", metavar="FILE", help="weights file to write (.safetensors; default: the user data folder)")
    parser.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint")
    parser.add_argument("--learning-rate", type=float, metavar="LR", help="override the recipe's (peak) learning rate")
    parser.add_argument("--init", metavar="WEIGHTS", help="fine-tune: start from these weights (a name such as ap_bsn-lite, or a .safetensors path) at a tenth of the learning rate")
    parser.add_argument("--checkpoint", metavar="FILE", help="checkpoint to write at each validation (default: OUT with .ckpt)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch in each process")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, MPS, then CPU), cpu, cuda, cuda:N or mps")
    parser.add_argument("--validate-every", type=int, help="steps between validations (default: the recipe's)")
    parser.add_argument("--val-images", type=int, help="images held out for validation (default: 5%%, at most 8)")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=3, help="train a colour (3) or grey (1) network")
    parser.add_argument("--patch-size", type=int, help="override the recipe's patch size")
    parser.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, only a line at each validation")


def parse_sigma(text: str) -> tuple[float, float]:
    """``"25"`` → (25, 25); ``"5:55"`` → (5, 55)."""
    parts = text.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"--sigma: expected A or A:B, got {text!r}") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or values[0] < 0 or values[1] < values[0]:
        raise ValueError(f"--sigma: expected A or A:B with 0 ≤ A ≤ B, got {text!r}")
    return values[0], values[1]


def _user_error(message: str) -> Exception:
    return UserError(message)


def build_job(args: argparse.Namespace) -> TrainJob:
    """Turn parsed arguments into a :class:`TrainJob` (raises the CLI's UserError on mistakes)."""
    try:
        spec, _family = spec_for(args.method)
        spec.check_config(args.config)
        recipe = spec.recipe(args.config)
    except (TrainingError, ValueError) as exc:
        raise _user_error(str(exc)) from None
    kind, path = (CLEAN, args.clean) if args.clean else (NOISY, args.noisy) if args.noisy else (PAIRS, args.pairs)
    if kind != CLEAN and (args.noise or args.sigma):
        raise _user_error("--noise and --sigma go with --clean (the noise is synthesised)")
    try:
        sigma = parse_sigma(args.sigma) if args.sigma else tuple(recipe.sigma)
        source = DataSource(kind, Path(path), noise=args.noise or recipe.noise, sigma=sigma, channels=args.channels, validation_images=args.val_images)  # type: ignore[arg-type]
    except (DataError, ValueError) as exc:
        raise _user_error(str(exc)) from None
    if not source.path.exists():
        raise _user_error(f"{path}: no such file or folder")
    if args.steps is not None and args.steps < 1:
        raise _user_error("--steps must be at least 1")
    if args.minutes is not None and args.minutes <= 0:
        raise _user_error("--minutes must be positive")
    out = Path(args.out) if args.out else default_user_weights_path(args.method, args.config)
    if out.suffix != ".safetensors":
        raise _user_error(f"--out: the weights file must end in .safetensors, not {out.suffix or '(nothing)'}")
    overrides = {}
    if args.patch_size:
        overrides["patch_size"] = args.patch_size
    if args.batch_size:
        overrides["batch_size"] = args.batch_size
    if args.learning_rate is not None:
        if not args.learning_rate > 0:
            raise _user_error("--learning-rate must be positive")
        overrides["learning_rate"] = args.learning_rate
    return TrainJob(
        method_id=args.method,
        config=args.config,
        source=source,
        out=out,
        steps=args.steps,
        minutes=args.minutes,
        seed=args.seed,
        device=args.device,
        resume=Path(args.resume) if args.resume else None,
        init_from=_initial_weights(args),
        checkpoint=Path(args.checkpoint) if args.checkpoint else None,
        validate_every=args.validate_every,
        recipe_overrides=overrides,
        command=recipe_command(args, source),
    )


def _initial_weights(args: argparse.Namespace) -> Path | None:
    """The file ``--init`` names (a shipped or user weights name, or a path)."""
    if not args.init:
        return None
    from denoise_studio.core.weights import WeightsError, find_weights

    try:
        return find_weights(args.method, args.init).path
    except WeightsError as exc:
        raise _user_error(f"--init: {exc}") from None


def recipe_command(args: argparse.Namespace, source: DataSource) -> str:
    """The canonical command line that reproduces this training (for the model card)."""
    words = ["denoise-studio", "train", args.method]
    if source.kind == CLEAN:
        words += ["--clean", str(args.clean), "--noise", source.noise, "--sigma", f"{source.sigma[0]:g}:{source.sigma[1]:g}"]
    else:
        words += [f"--{source.kind}", str(args.noisy or args.pairs)]
    words += ["--config", args.config]
    if getattr(args, "init", None):
        words += ["--init", str(args.init)]
    for flag, value in (("--minutes", args.minutes), ("--steps", args.steps), ("--patch-size", args.patch_size), ("--batch-size", args.batch_size), ("--learning-rate", getattr(args, "learning_rate", None)), ("--val-images", args.val_images), ("--validate-every", args.validate_every), ("--threads", args.threads)):
        if value is not None:
            words += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    if args.channels != 3:
        words += ["--channels", str(args.channels)]
    words += ["--seed", str(args.seed)]
    if args.out:
        words += ["--out", str(args.out)]
    _rank, world, _ = distributed_env()
    if world > 1:
        words = ["torchrun", "--nproc_per_node", str(world), "-m", "denoise_studio", *words[1:]]
    return shlex.join(words)


def validation_line(p: TrainProgress) -> str:
    """What ``--quiet`` still prints at each validation."""
    best = f" (best {p.best_psnr:.2f})" if p.best_psnr is not None else ""
    return f"step {p.step}/{p.total}  val {p.val_psnr:.2f} dB{best}  {p.elapsed:.1f} min"


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most 4 times a second."""

    def __init__(self, minutes: float | None, stream=sys.stderr, width: int = 24) -> None:  # type: ignore[no-untyped-def]
        self.minutes = minutes
        self.stream = stream
        self.width = width
        self._last = 0.0
        self._val = ""

    def update(self, p: TrainProgress) -> None:
        if p.val_psnr is not None:
            self._val = f"  val {p.val_psnr:.2f} dB (best {p.best_psnr:.2f})"
        tty = self.stream.isatty()
        now = time.monotonic()
        # A terminal gets a live bar; a log file (nohup) a line every 30 s and at validations.
        if not p.final and p.val_psnr is None and now - self._last < (0.25 if tty else 30.0):
            return
        self._last = now
        frac = p.step / p.total if p.total else 0.0
        if self.minutes:
            frac = max(frac, min(1.0, p.elapsed / self.minutes))
        filled = int(round(frac * self.width))
        bar = "█" * filled + "·" * (self.width - filled)
        loss = f"  loss {p.loss:.5f}" if p.loss is not None else ""
        budget = f"/{self.minutes:g}" if self.minutes else ""
        line = f"[{bar}] step {p.step}/{p.total}{loss}  lr {p.learning_rate:.2e}{self._val}  {p.elapsed:.1f}{budget} min"
        self.stream.write(("\r" + line + ("\n" if p.final else "")) if tty else line + "\n")
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    """Run ``denoise-studio train``."""
    import torch

    if args.threads is not None:
        if args.threads < 1:
            raise _user_error("--threads must be at least 1")
        torch.set_num_threads(args.threads)
    job = build_job(args)
    stop = threading.Event()
    try:
        trainer = Trainer(job, stop)
    except (TrainingError, DataError, DeviceError) as exc:
        raise _user_error(str(exc)) from None
    rank = trainer.rank
    show = rank == 0 and not args.quiet
    if rank == 0:
        print(
            f"training {job.method_id} ({job.config}, {sum(p.numel() for p in trainer.model.parameters()):,} parameters) on "
            f"{trainer.images.count} images of {trainer.images.source.name}, {len(trainer.validation or [])} held out; "
            f"{trainer.total} steps{f' or {job.minutes:g} min' if job.minutes else ''} on {trainer.device}"
            + (f" × {trainer.world} processes" if trainer.world > 1 else ""),
            file=sys.stderr,
        )
    bar = ProgressBar(job.minutes)

    def report(progress: TrainProgress) -> None:
        if show:
            bar.update(progress)
        elif rank == 0 and progress.val_psnr is not None:  # quiet (a log file): one line a validation
            print(validation_line(progress), file=sys.stderr, flush=True)

    try:
        for progress in trainer.run():
            report(progress)
    except KeyboardInterrupt:
        # Ctrl-C once: stop at the next step and still write the best weights.
        stop.set()
        for progress in trainer.run():
            report(progress)
    except TrainingError as exc:
        raise _user_error(str(exc)) from None
    finally:
        trainer.close()
    result = trainer.result
    if rank == 0 and result is not None and result.diverged:
        print(f"training stopped: {result.diverged}", file=sys.stderr)
    if rank == 0 and result is not None and result.weights is not None and result.card is not None:
        card = result.card
        psnr = f", validation PSNR {card.validation_psnr:.2f} dB (step {card.best_step})" if card.validation_psnr is not None else ""
        print(f"wrote {result.weights} ({card.dtype}, {result.steps} steps, {card.minutes:.1f} min{psnr})")
    return 0
