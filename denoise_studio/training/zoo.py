"""The model zoo page: ``resources/weights/MODELS.md`` written from the shipped model cards.

    python -m denoise_studio.training.zoo [--bench-json FILE ...]

``--bench-json`` takes the ``--json`` output of ``denoise-studio bench`` and records its mean
PSNR for every method that has shipped weights into those weights' cards (the ``benchmark``
field; the checksum is of the weights file and stays valid), then rewrites ``MODELS.md``. The
benchmark runs a method with its default weights, i.e. the first shipped file of the method.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from denoise_studio.core.errors import UserError
from denoise_studio.core.weights import SHIPPED, WeightsEntry, list_weights, shipped_dirs, write_card

HEADER = """# Shipped models

Weights that Denoise Studio ships, one `.safetensors` file each with its model card (`.json`)
beside it. This page is generated from the cards by `python -m denoise_studio.training.zoo`; the
PSNR figures come from `denoise-studio bench` (each figure's command is in its card's `benchmark_commands`).
Retrain any of them with the recipe command in its card (`--config paper` for the published size).
"""


def shipped_entries() -> list[WeightsEntry]:
    return [e for e in list_weights(None, include_user=False) if e.origin == SHIPPED]


def record_benchmark(bench_json: Path) -> list[str]:
    """Copy mean PSNRs of ``bench_json`` into the cards of the shipped weights; the labels set."""
    data = json.loads(Path(bench_json).read_text(encoding="utf-8"))
    if not data.get("data") or not data.get("command"):
        raise UserError(f"{bench_json}: a bench record without its data set or its command cannot go into a card")
    dataset = Path(str(data["data"])).name
    by_method: dict[str, WeightsEntry] = {}
    by_name: dict[tuple[str, str], WeightsEntry] = {}
    for entry in shipped_entries():
        by_method.setdefault(entry.card.method, entry)  # the one `weights=auto` picks
        by_name[(entry.card.method, entry.name)] = entry
    written = []
    for row in data.get("results", []):
        chosen = str((data.get("params") or {}).get(row["method"], {}).get("weights", "auto"))
        entry = by_method.get(row["method"]) if chosen == "auto" else by_name.get((row["method"], Path(chosen).stem))
        if entry is None:
            continue
        label = f"{dataset} {row['noise']} σ{float(row['sigma']):g} ({row['images']} images)"
        entry.card.benchmark[label] = round(float(row["psnr"]), 2)
        entry.card.extra.pop("benchmark_command", None)  # the old single command, for all labels
        entry.card.extra.setdefault("benchmark_commands", {})[label] = portable_command(str(data["command"]))
        entry.card.extra.setdefault("benchmark_ssim", {})[label] = round(float(row.get("ssim", float("nan"))), 4)
        write_card(entry.path, entry.card)
        written.append(f"{row['method']}: {label} = {row['psnr']:.2f} dB")
    return written


def portable_command(command: str) -> str:
    """The command without its output files (``--json``/``--markdown``), which name folders of the
    machine it ran on: what remains runs as written from any checkout."""
    return re.sub(r" --(json|markdown) \S+", "", command)


def render() -> str:
    """The Markdown page for all shipped weights."""
    entries = shipped_entries()
    lines = [HEADER, "| weights | method | config | parameters | storage | trained | validation PSNR |", "|---|---|---|---|---|---|---|"]
    for e in entries:
        c = e.card
        val = f"{c.validation_psnr:.2f} dB" if c.validation_psnr is not None else "—"
        lines.append(f"| `{e.path.name}` | {c.method} | {c.config} | {c.parameters:,} | {c.dtype}, {e.path.stat().st_size / 1024:.0f} KiB | {c.steps} steps, {c.minutes:.0f} min on {c.device} | {val} |")
    for e in entries:
        c = e.card
        lines += ["", f"## {e.path.stem}", "", "```", c.summary(), "```"]
        if c.benchmark:
            lines += ["", "| benchmark | PSNR |", "|---|---|"]
            lines += [f"| {label} | {value:.2f} dB |" for label, value in c.benchmark.items()]
            commands = list(dict.fromkeys(c.extra.get("benchmark_commands", {}).values()))
            if len(commands) == 1:
                lines += ["", f"Measured with `{commands[0]}`."]
            elif commands:
                lines += ["", "Measured with:", ""] + [f"- `{command}`" for command in commands]
        if c.notes:
            lines += ["", c.notes]
        lines += ["", f"sha256 `{c.sha256}`"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m denoise_studio.training.zoo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench-json", nargs="*", default=[], help="denoise-studio bench --json outputs to record")
    args = parser.parse_args(argv)
    for path in args.bench_json:
        for line in record_benchmark(Path(path)):
            print(line)
    folders = shipped_dirs()
    if not folders:
        parser.error("no resources/weights folder")
    target = folders[-1] / "MODELS.md"
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
