"""``denoise-studio zoo``: the shipped models as one zoo: list them, train them, check them.

    denoise-studio zoo list [--json]
    denoise-studio zoo train [--models ID,…] [--config lite|paper] [--device auto|cpu|cuda]
                             [--budget-minutes N] [--from-shipped] --data DIR --out DIR
    denoise-studio zoo check [--models ID,…] [--images N] [--testset DIR] [--record] [--json]
    denoise-studio zoo land DIR [--models ID,…]

``land`` puts the weights of ``DIR`` (continued from the shipped ones) in their place in
``resources/weights``, with every training period counted in the card.

``train`` never writes into ``resources/`` unless ``--out`` names it; a run stopped part-way is
resumed by the same command (finished models are skipped, a checkpoint is continued).
``check`` exits with 1 when a figure drifted or a model made an image worse than its input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from denoise_studio.commands.common import jsonable
from denoise_studio.core.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="every shipped model: method, configuration, noise, training, figures")
    listing.add_argument("--json", action="store_true", help="one JSON object")
    train = sub.add_parser("train", help="train the shipped models from their recipes within one budget")
    train.add_argument("--models", help="comma-separated weights names or method ids (default: all)")
    train.add_argument("--config", help="lite, paper or another configuration (default: each model's own)")
    train.add_argument("--device", default="auto", help="auto (CUDA, MPS, then CPU), cpu, cuda, cuda:N")
    train.add_argument("--budget-minutes", type=float, default=30.0, help="wall-clock minutes for all models together (default 30)")
    train.add_argument("--from-shipped", action="store_true", help="continue from the shipped weights (same configuration)")
    train.add_argument("--data", required=True, help="folder of clean training images (for example ../shared/data/train/BSDS-train)")
    train.add_argument("--out", required=True, help="folder for the weights and cards")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, help="CPU threads for torch")
    train.add_argument("--batch-size", type=int, help="override every recipe's batch size")
    train.add_argument("--patch-size", type=int, help="override every recipe's patch size")
    check = sub.add_parser("check", help="re-measure every shipped model; fail on drift or on a result worse than its input")
    check.add_argument("--models", help="comma-separated weights names or method ids (default: all)")
    check.add_argument("--images", type=int, default=1, help="first N images of the test set (default 1)")
    check.add_argument("--testset", default="../shared/data/testsets/CBSD68", help="folder of clean test images")
    check.add_argument("--record", action="store_true", help="store the figures in the cards (after retraining)")
    check.add_argument("--json", action="store_true", help="one JSON object")
    landing = sub.add_parser("land", help="replace shipped weights by ones continued from them (a training period's output)")
    landing.add_argument("folder", help="folder holding NAME.safetensors and NAME.json, NAME a shipped model")
    landing.add_argument("--models", help="comma-separated weights names or method ids (default: every one found in the folder)")


def run(args: argparse.Namespace) -> int:
    from denoise_studio.training.zoo_train import zoo_models

    models = zoo_models(args.models.split(",") if getattr(args, "models", None) else None)
    if args.action == "list":
        return _list(models, args.json)
    if args.action == "train":
        return _train(models, args)
    if args.action == "land":
        return _land(models, Path(args.folder), explicit=bool(args.models))
    return _check(models, args)


def describe(model: Any) -> dict[str, Any]:
    card = model.entry.card
    return {
        "weights": model.name, "method": card.method, "config": card.config, "parameters": card.parameters,
        "noise": card.noise, "sigma": list(card.sigma), "supervision": card.supervision,
        "training": {"steps": card.steps, "minutes": card.minutes, "device": card.device, "data": card.training_data,
                     "periods": len(card.extra.get("periods") or []) or 1},
        "validation_psnr": card.validation_psnr, "benchmark": dict(card.benchmark), "check": dict(card.extra.get("check") or {}),
    }


def _list(models: list[Any], as_json: bool) -> int:
    rows = [describe(m) for m in models]
    if as_json:
        print(json.dumps({"models": jsonable(rows)}, indent=2, ensure_ascii=False))
        return 0
    for row in rows:
        sigma = "–".join(f"{s:g}" for s in dict.fromkeys(row["sigma"])) or "?"
        t = row["training"]
        print(f"{row['weights']:<24} {row['method']:<16} {row['config']:<6} {row['noise']} σ {sigma:<6} "
              f"{t['steps']:>6} steps {t['minutes']:>6.0f} min on {t['device']}")
        for label, value in row["benchmark"].items():
            print(f"    {label}: {value:.2f} dB")
    return 0


def _train(models: list[Any], args: argparse.Namespace) -> int:
    from denoise_studio.training.zoo_train import train_zoo

    if args.budget_minutes <= 0:
        raise UserError("--budget-minutes must be positive")
    data = Path(args.data)
    if not data.is_dir():
        raise UserError(f"--data {data}: no such folder")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    overrides = {k: v for k, v in (("batch_size", args.batch_size), ("patch_size", args.patch_size)) if v}

    def report(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    written = train_zoo(models, data=data, out=Path(args.out), config=args.config, device=args.device,
                        minutes=args.budget_minutes, from_shipped=args.from_shipped, seed=args.seed, report=report,
                        overrides=overrides)
    for path in written:
        print(path)
    return 0


def _land(models: list[Any], folder: Path, explicit: bool) -> int:
    from denoise_studio.core.weights import read_card
    from denoise_studio.training.zoo_land import land

    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    found = [m for m in models if (folder / f"{m.name}.safetensors").is_file()]
    missing = [m.name for m in models if m not in found]
    if explicit and missing:
        raise UserError(f"{folder}: no weights for {', '.join(missing)}")
    if not found:
        raise UserError(f"{folder}: no weights named after a shipped model")
    for model in found:
        target = land(model, folder / f"{model.name}.safetensors")
        card = read_card(target)
        print(f"{model.name}: landed in {target.parent.name}/{target.name} ({len(card.extra['periods'])} periods, "
              f"{card.steps} steps, {card.minutes:.0f} min); measure it again with "
              f"`denoise-studio zoo check --models {model.name} --record` and the card's benchmark_commands")
    return 0


def _check(models: list[Any], args: argparse.Namespace) -> int:
    from denoise_studio.training.zoo_check import check_model, record_check

    folder = Path(args.testset)
    if args.images < 1:
        raise UserError("--images must be at least 1")
    rows = []
    for model in models:
        try:
            row = check_model(model.entry, folder, args.images)
        except FileNotFoundError as exc:
            raise UserError(str(exc)) from None
        if args.record:
            record_check(model.entry, row, folder)
        rows.append(row)
        if not args.json:
            verdict = "ok" if not row.problems else "FAILED: " + "; ".join(row.problems)
            recorded = f" (recorded {row.recorded:.2f})" if row.recorded is not None else ""
            noisy = sum(row.noisy_psnr) / len(row.noisy_psnr)
            cast = "/".join(f"{v:+.1f}" for v in row.cast)
            print(f"{row.name:<24} {folder.name} {row.label}: {row.mean:.2f} dB{recorded}, input {noisy:.2f} dB, flat-grey cast {cast}  {verdict}")
    if args.json:
        print(json.dumps({"testset": folder.name, "models": jsonable([r.to_json() for r in rows])}, indent=2, ensure_ascii=False))
    return 1 if any(r.problems for r in rows) else 0
