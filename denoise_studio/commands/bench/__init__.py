"""``denoise-studio bench``: mean PSNR, SSIM and seconds per method over a folder of images.

Two modes:

* ``--data DIR``: clean images; each gets seeded synthetic noise (``--noise``, ``--sigma``) and
  every method runs on the same noisy image. Gaussian noise is added **unclipped** (the noisy
  image may leave [0, 1]), as in the published tables of BM3D, DnCNN, FFDNet and SwinIR;
  other noise models are clipped as they define. Methods clip their results to [0, 1].
* ``--pairs DIR``: real noisy/clean pairs in ``DIR/noisy`` and ``DIR/clean``, matched by file
  name (or by name without extension).

The noise of image *i* at σ comes from ``numpy.random.default_rng([seed, round(1000·σ), i])``,
so a run is reproducible and a ``--limit`` run sees the same noise as the full one. Results are
rewritten (atomically) after every image, so a long run that is interrupted keeps its
partial tables; ``"complete": false`` marks them.

With synthetic Gaussian noise, every method that has a ``sigma`` parameter is told the true σ
(non-blind, the protocol of the published tables); ``--blind`` makes them estimate it instead.

Every row also carries ``estimated_psnr``: the PSNR estimated without the clean image by
Monte-Carlo SURE (``core/quality.py``; two more runs of the method per image, ``--no-estimate``
skips them), and the tables show its gap to the true PSNR; ``--eight-bit`` stores the noisy
image as an 8-bit PNG would (clipped, rounded). See ``bench/estimate.py``.

``--json FILE`` writes ``{"results": [{"method", "noise", "sigma", "images", "psnr", "ssim",
"seconds", "estimated_psnr", ...}, ...], ...}`` with means over the images; ``--markdown FILE``
a table per noise level, and the check of the estimated PSNR against the true one.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from denoise_studio.commands.bench import estimate
from denoise_studio.commands.bench.tables import _format_sigma, parse_difference, render_tables
from denoise_studio.commands.common import Progress, check_text_output, jsonable, parse_key_values, write_text
from denoise_studio.core.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
CLASSICAL_ALIASES = ("classical", "all-classical")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", metavar="DIR", help="folder of clean images; seeded noise is added")
    source.add_argument("--pairs", metavar="DIR", help="folder with noisy/ and clean/ subfolders of real pairs, matched by name")
    source.add_argument(
        "--merge", metavar="JSON", nargs="+",
        help="combine the --json files of earlier (possibly partial or parallel) runs and write the tables again",
    )
    parser.add_argument("--noise", default="gaussian", help="noise model for --data (default gaussian, added unclipped)")
    parser.add_argument("--sigma", default="25", help="comma-separated noise strengths on the 0–255 scale (default 25)")
    parser.add_argument("--methods", default="all", help="comma-separated method ids, 'classical', or 'all' (default all)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images (sorted by name)")
    parser.add_argument(
        "--offset", type=int, default=0,
        help="skip the first N images (with --limit: a slice, to split a long run; each image keeps its noise)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise and of the methods (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device for network methods (default cpu)")
    parser.add_argument(
        "-p", "--param", action="append", default=[], metavar="METHOD.KEY=VALUE",
        help="set a parameter of one method, e.g. -p bm3d.profile=refilter (repeatable)",
    )
    parser.add_argument(
        "--blind", action="store_true",
        help="let methods estimate σ from each image; by default, with Gaussian noise, every method with a sigma parameter is given the true σ (the protocol of the published tables)",
    )
    parser.add_argument("--json", metavar="FILE", help="write the means (and per-image figures) as JSON")
    parser.add_argument("--markdown", metavar="FILE", help="write the tables as Markdown")
    parser.add_argument(
        "--by-noise", action="store_true",
        help="one table for all noise models instead of one per model: a row per noise and σ, a column per method",
    )
    parser.add_argument(
        "--difference", metavar="A,B",
        help="with --by-noise: add a column with method A's PSNR minus method B's (e.g. masked,masked_baseline)",
    )
    parser.add_argument(
        "--no-estimate", action="store_true",
        help="skip the estimated PSNR (Monte-Carlo SURE: two more runs of each method per image)",
    )
    parser.add_argument("--eight-bit", action="store_true", help="store the noisy image as an 8-bit PNG would: clipped to [0, 1], rounded")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


@dataclass
class Cell:
    """The per-image figures of one method at one noise level."""

    method: str
    noise: str
    sigma: float | None
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    #: Per image: the estimated PSNR with σ given and with σ estimated (see ``bench/estimate.py``).
    estimates: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, psnr: float, ssim: float, seconds: float, estimates: dict[str, Any] | None = None) -> None:
        """The figures of one more image."""
        self.names.append(name)
        self.psnr.append(psnr)
        self.ssim.append(ssim)
        self.seconds.append(seconds)
        self.estimates.append(estimates or {})

    def summary(self) -> dict[str, Any]:
        figures = {
            "method": self.method,
            "noise": self.noise,
            "sigma": self.sigma,
            "images": len(self.psnr),
            "psnr": float(np.mean(self.psnr)) if self.psnr else None,
            "ssim": float(np.mean(self.ssim)) if self.ssim else None,
            "seconds": float(np.mean(self.seconds)) if self.seconds else None,
        }
        for key in (estimate.GIVEN, estimate.ESTIMATED):
            if any(e.get(key) for e in self.estimates):
                figures.update(estimate.summary(self.psnr, [e.get(key) for e in self.estimates], key))
        return figures


def list_images(folder: Path) -> list[Path]:
    """Image files of a folder, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def find_pairs(folder: Path) -> list[tuple[str, Path, Path]]:
    """(name, noisy, clean) for each file of ``folder/noisy`` with a match in ``folder/clean``."""
    noisy_dir, clean_dir = folder / "noisy", folder / "clean"
    for sub in (noisy_dir, clean_dir):
        if not sub.is_dir():
            raise UserError(f"--pairs {folder}: expected subfolders noisy/ and clean/ ({sub} is missing)")
    clean = list_images(clean_dir)
    by_name = {p.name: p for p in clean}
    by_stem = {p.stem: p for p in clean}
    pairs = []
    for n in list_images(noisy_dir):
        match = by_name.get(n.name) or by_stem.get(n.stem)
        if match is not None:
            pairs.append((n.name, n, match))
    if not pairs:
        raise UserError(f"--pairs {folder}: no file of noisy/ has a match of the same name in clean/")
    return pairs


def parse_sigmas(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--sigma expects numbers separated by commas, got {text!r}") from None
    if not values or any(not (0 <= v <= 255) for v in values):
        raise UserError(f"--sigma values must lie in [0, 255], got {text!r}")
    return values


def select_methods(text: str) -> list[str]:
    from denoise_studio.methods import REGISTRY, get_entry

    chosen: list[str] = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if item == "all":
            ids = list(REGISTRY)
        elif item in CLASSICAL_ALIASES:
            ids = [k for k, e in REGISTRY.items() if e.family == "Classical"]
        else:
            ids = [get_entry(item).id]
        chosen.extend(i for i in ids if i not in chosen)
    if not chosen:
        raise UserError("--methods names no method")
    return chosen


def machine_description() -> str:
    """CPU model, core count and the thread setting, for the tables' captions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    return f"{cpu}, {os.cpu_count()} logical cores, OMP_NUM_THREADS={threads}, Python {platform.python_version()}"


def merge_runs(paths: list[str]) -> dict[str, Any]:
    """Combine the JSON outputs of several runs (per-image figures; later files win on duplicates)."""
    per_image: dict[tuple[Any, ...], dict[str, Any]] = {}
    noisy: dict[tuple[Any, ...], dict[str, Any]] = {}
    commands, machines, complete = [], [], True
    given: set[Any] = set()
    folders: dict[str, str] = {}
    for path in paths:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            rows = data["per_image"]
        except FileNotFoundError:
            raise UserError(f"--merge {path}: no such file") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"--merge {path}: not a bench JSON file with per-image figures ({exc})") from None
        for row in rows:
            per_image[(row["method"], row["noise"], row["sigma"], row["image"])] = row
        for row in data.get("noisy_input", []):
            key = (row["noise"], row["sigma"])
            if key not in noisy or row["images"] > noisy[key]["images"]:
                noisy[key] = row
        folder = data.get("data")
        if folder is not None:
            folders.setdefault(Path(folder).name, path)
            if len(folders) > 1:
                first, other = list(folders.items())[:2]
                raise UserError(
                    f"--merge: {other[1]} measured {other[0]}, {first[1]} measured {first[0]}; "
                    "images are matched by name, so merge the runs of one data set at a time"
                )
        commands.append(data.get("command"))
        machines.append(data.get("machine"))
        given.add(data.get("sigma_given_to_methods"))
        complete = complete and bool(data.get("complete"))
    cells: dict[tuple[Any, ...], Cell] = {}
    for (method, noise, sigma, image), row in per_image.items():
        cell = cells.setdefault((method, noise, sigma), Cell(method, noise, sigma))
        cell.names.append(image)
        cell.psnr.append(row["psnr"])
        cell.ssim.append(row["ssim"])
        cell.seconds.append(row["seconds"])
        cell.estimates.append({k: row[k] for k in (estimate.GIVEN, estimate.ESTIMATED) if k in row})
    return {
        "results": [c.summary() for c in cells.values()],
        "noisy_input": list(noisy.values()),
        "per_image": list(per_image.values()),
        "complete": complete,
        "merged_from": [{"file": str(p), "command": c, "machine": m} for p, c, m in zip(paths, commands, machines)],
        "sigma_given_to_methods": given.pop() if len(given) == 1 else None,
    }


def _run_merge(args: argparse.Namespace) -> int:
    for path in (args.json, args.markdown):
        if path:
            check_text_output(path)
    merged = merge_runs(args.merge)
    if args.json:
        write_text(args.json, json.dumps(jsonable(merged), indent=1, ensure_ascii=False) + "\n")
    lines = [f"- `{m['command']}`" for m in merged["merged_from"] if m["command"]]
    machines = sorted({m["machine"] for m in merged["merged_from"] if m["machine"]})
    caption = "Merged from:\n\n" + "\n".join(lines) + ("\n\nMachine: " + "; ".join(machines) if machines else "")
    flag = merged["sigma_given_to_methods"]
    if flag is not None:
        caption += "\n\nσ given to the methods: " + ("yes (non-blind)" if flag else "no (estimated from each image)")
    if not merged["complete"]:
        caption += "\n\n**Some runs were not finished: see the image counts.**"
    table = render_tables(args, merged["results"], merged["noisy_input"], caption) + estimate.validation_markdown(merged["per_image"])
    if args.markdown:
        write_text(args.markdown, table + "\n")
    else:
        print(table)
    return 0


def run(args: argparse.Namespace) -> int:
    parse_difference(args.difference, args.by_noise)  # a mistake there is reported before any work
    if args.merge:
        return _run_merge(args)
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, not {args.limit}")
    if args.offset < 0:
        raise UserError(f"--offset must not be negative, not {args.offset}")
    for path in (args.json, args.markdown):
        if path:
            check_text_output(path)
    method_ids = select_methods(args.methods)
    bench = _Bench(args, method_ids, _overrides(args, method_ids), *_work(args))
    bench.warm_up()
    for lvl in bench.levels:
        for index, item in bench.indexed:
            bench.run_image(lvl, index, item)
            bench.save(complete=False)
    bench.progress.close()
    bench.save(complete=True)
    bench.report()
    return 0


def _overrides(args: argparse.Namespace, method_ids: list[str]) -> dict[str, dict[str, str]]:
    """``-p METHOD.KEY=VALUE`` as ``{method: {key: value}}``."""
    overrides: dict[str, dict[str, str]] = {}
    for key, value in parse_key_values(args.param).items():
        mid, dot, name = key.partition(".")
        if not dot or mid not in method_ids:
            raise UserError(f"-p {key}={value}: expected METHOD.KEY=VALUE with METHOD one of {', '.join(method_ids)}")
        overrides.setdefault(mid, {})[name] = value
    return overrides


#: One image of the work: its name, the noisy file (real pairs) or None, the clean file.
WorkItem = tuple[str, "Path | None", Path]


def _work(args: argparse.Namespace) -> tuple[Path, list[float | None], str, list[tuple[int, WorkItem]]]:
    """The folder, the noise levels, the noise model and the images, each with its index.

    Each image keeps its index in the sorted folder, which seeds its noise: a slice of a run
    sees exactly the noise of the full run.
    """
    from denoise_studio.core.noise import NOISE_MODELS

    if args.pairs:
        folder = Path(args.pairs)
        if not folder.is_dir():
            raise UserError(f"--pairs {folder}: no such folder")
        items: list[WorkItem] = [(name, noisy, clean) for name, noisy, clean in find_pairs(folder)]
        levels: list[float | None] = [None]
        noise_model = "real"
    else:
        folder = Path(args.data)
        if not folder.is_dir():
            raise UserError(f"--data {folder}: no such folder")
        if args.noise not in NOISE_MODELS:
            raise UserError(f"unknown noise model {args.noise!r}; models: {', '.join(NOISE_MODELS)}")
        items = [(p.name, None, p) for p in list_images(folder)]
        if not items:
            raise UserError(f"--data {folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
        levels = list(parse_sigmas(args.sigma))
        noise_model = args.noise
    indexed = list(enumerate(items))[args.offset :]
    if args.limit is not None:
        indexed = indexed[: args.limit]
    if not indexed:
        raise UserError(f"--offset {args.offset} skips all {len(items)} images")
    return folder, levels, noise_model, indexed


class _Bench:
    """One benchmark run: the methods with their parameters, the cells of figures, the outputs."""

    def __init__(self, args: argparse.Namespace, method_ids: list[str], overrides: dict[str, dict[str, str]],
                 folder: Path, levels: list[float | None], noise_model: str, indexed: list[tuple[int, WorkItem]]) -> None:
        from denoise_studio.methods import create_method

        self.args, self.method_ids, self.overrides = args, method_ids, overrides
        self.folder, self.levels, self.noise_model, self.indexed = folder, levels, noise_model, indexed
        self.methods, self.params = {}, {}
        for mid in method_ids:
            method = create_method(mid)
            reason = method.availability()
            if reason is not None:
                raise UserError(f"{mid} cannot run here: {reason}")
            self.methods[mid] = method
            self.params[mid] = method.Params.from_strings(overrides.get(mid, {}), base=method.Params())
        # Non-blind protocol: a method that takes σ is told the true σ of synthetic Gaussian noise.
        self.give_sigma = noise_model == "gaussian" and not args.blind
        self.cells = {(mid, lvl): Cell(mid, noise_model, lvl) for lvl in levels for mid in method_ids}
        self.noisy_cells = {lvl: Cell("noisy", noise_model, lvl) for lvl in levels}
        self.command = "denoise-studio bench " + " ".join(_quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["bench"] else None
        self.started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.machine = machine_description()
        self.progress = Progress(enabled=not args.quiet, label="bench")
        self.total = len(indexed) * len(levels) * len(method_ids)
        self.done = 0
        self._clean: dict[str, np.ndarray] = {}

    def warm_up(self) -> None:
        """Run each one-shot method on a small crop first, so that the first image's time does
        not include imports and one-off set-up (the bm3d library, scipy, a network's weights)."""
        from denoise_studio.core.image import load_image
        from denoise_studio.core.method import RunContext, run_to_end

        warm = load_image(self.indexed[0][1][2]).pixels[:32, :32]
        for mid in self.method_ids:
            if not self.methods[mid].iterative:  # an iterative method would run all its iterations
                run_to_end(self.methods[mid], warm, self.params[mid], RunContext(seed=self.args.seed, device=self.args.device))

    def _images(self, lvl: float | None, index: int, item: WorkItem) -> tuple[np.ndarray, np.ndarray]:
        """The noisy and the clean image of one item at noise ``lvl``."""
        from denoise_studio.core.image import load_image
        from denoise_studio.core.noise import add_noise

        name, noisy_path, clean_path = item
        key = str(clean_path)
        if key not in self._clean:
            self._clean[key] = load_image(clean_path).pixels
        clean = self._clean[key]
        if noisy_path is not None:
            noisy = load_image(noisy_path).pixels
            if noisy.shape != clean.shape:
                raise UserError(f"{name}: the noisy image is {noisy.shape} but the clean one is {clean.shape}")
            return noisy, clean
        assert lvl is not None
        rng = np.random.default_rng([self.args.seed, int(round(1000 * lvl)), index])
        options = {"clip": False} if self.noise_model == "gaussian" and not self.args.eight_bit else {}
        noisy = add_noise(clean, self.noise_model, lvl, rng, **options)
        if self.args.eight_bit:
            noisy = (np.rint(np.clip(noisy, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)
        return noisy, clean

    def run_image(self, lvl: float | None, index: int, item: WorkItem) -> None:
        """Every method on one image at one noise level; the figures go into the cells."""
        from denoise_studio.core.method import RunContext, run_to_end
        from denoise_studio.core.metrics import psnr, ssim

        name = item[0]
        noisy, clean = self._images(lvl, index, item)
        self.noisy_cells[lvl].add(name, psnr(np.clip(noisy, 0, 1), clean), ssim(np.clip(noisy, 0, 1), clean), 0.0)
        for mid in self.method_ids:
            method, p = self.methods[mid], self.params[mid]
            if self.give_sigma and lvl is not None and "sigma" in p.to_dict() and "sigma" not in self.overrides.get(mid, {}):
                p = p.replace(sigma=float(lvl))
            t0 = time.perf_counter()
            final = run_to_end(method, noisy, p, RunContext(seed=self.args.seed, device=self.args.device))
            seconds = time.perf_counter() - t0
            assert final.image is not None
            estimates = None
            if not self.args.no_estimate:
                estimates = estimate.estimate_row(method, p, noisy, final.image, seed=self.args.seed, device=self.args.device,
                                                  sigma=lvl, noise_model=self.noise_model, source=str(item[1] or item[2]))
            self.cells[(mid, lvl)].add(name, psnr(final.image, clean), ssim(final.image, clean), seconds, estimates)
            self.done += 1
            self.progress.update(self.done, self.total, f"σ {_format_sigma(lvl)} {mid} {name}")

    def summaries(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return ([c.summary() for c in self.cells.values() if c.psnr], [c.summary() for c in self.noisy_cells.values() if c.psnr])

    def save(self, complete: bool) -> None:
        """Rewrite the JSON and Markdown outputs (atomically) with the figures so far."""
        args = self.args
        results, noisy_rows = self.summaries()
        if args.json:
            payload = {
                "results": results,
                "noisy_input": noisy_rows,
                "per_image": self.per_image(),
                "complete": complete,
                "command": self.command,
                "machine": self.machine,
                "started": self.started_at,
                "data": str(self.folder),
                "seed": args.seed,
                "sigma_given_to_methods": self.give_sigma,
                "noise_clipped": self.noise_model != "gaussian" or args.eight_bit,
                "noise_stored_8bit": args.eight_bit,
                "estimated_psnr": not args.no_estimate,
                "params": {mid: p.to_dict() for mid, p in self.params.items()},
            }
            write_text(args.json, json.dumps(jsonable(payload), indent=1, ensure_ascii=False) + "\n")
        if args.markdown:
            caption = f"Command: `{self.command}`\n\nMachine: {self.machine}" if self.command else f"Machine: {self.machine}"
            caption += "\n\nσ given to the methods: " + ("yes (non-blind)" if self.give_sigma else "no (estimated from each image)")
            if not complete:
                caption += "\n\n**Partial results: the run is not finished.**"
            if args.eight_bit:
                caption += "\n\nNoisy images stored as 8-bit PNGs would be: clipped to [0, 1] and rounded."
            tables = render_tables(args, results, noisy_rows, caption) + estimate.validation_markdown(self.per_image())
            write_text(args.markdown, tables + "\n")

    def per_image(self) -> list[dict[str, Any]]:
        """One row per method, noise level and image, with its estimates."""
        return [
            {"method": c.method, "noise": c.noise, "sigma": c.sigma, "image": n, "psnr": p, "ssim": s, "seconds": t, **e}
            for c in self.cells.values()
            for n, p, s, t, e in zip(c.names, c.psnr, c.ssim, c.seconds, c.estimates)
        ]

    def report(self) -> None:
        """The tables on stdout, or (with --json) one line per figure on stderr."""
        results, noisy_rows = self.summaries()
        if not self.args.json:
            print(render_tables(self.args, results, noisy_rows, "") + estimate.validation_markdown(self.per_image()))
            return
        for r in results:
            est = f", est. {r['estimated_psnr']:.2f} dB" if r.get("estimated_psnr") is not None else ""
            print(f"{r['method']:<12} {r['noise']} σ {_format_sigma(r['sigma']):>5}: {r['psnr']:.2f} dB{est}, SSIM {r['ssim']:.4f}, "
                  f"{r['seconds']:.2f} s", file=sys.stderr)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
