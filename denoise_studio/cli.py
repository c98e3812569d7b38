"""The ``denoise-studio`` command line.

Sub-commands live in modules imported only when used; each defines
``add_arguments(parser)`` and ``run(args) -> int``. A table entry is either a module
(``"denoise_studio.replay"``) or ``"module:object"`` naming an object that has those two
functions (the built-in commands below). User errors print one line on stderr and exit with
code 2; they never show a traceback.

Built-in commands: ``methods``, ``noise``, ``denoise`` (here) and ``bench`` (``bench.py``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# name → (module, one-line help). Modules are imported lazily: `denoise-studio methods` must not
# pay for torch or Qt.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "methods": ("denoise_studio.cli:MethodsCommand", "list every method, its family and its parameters"),
    "noise": ("denoise_studio.cli:NoiseCommand", "add seeded synthetic noise to an image"),
    "denoise": ("denoise_studio.cli:DenoiseCommand", "denoise an image with one method and write the result"),
    "bench": ("denoise_studio.bench", "benchmark methods on a folder of clean images or noisy/clean pairs"),
    "replay": ("denoise_studio.replay", "reproduce an exported result from its JSON sidecar"),
    "generate-noise": ("denoise_studio.noisegen", "new noisy versions of a noisy image by redrawing its InvDN latent"),
    "gui": ("denoise_studio.app", "open the Studio window"),
    "train": ("denoise_studio.training.command", "train a network method and write its weights and model card"),
    "bench-dip": ("denoise_studio.bench_dip", "benchmark Deep Image Prior: speed, stopping rules, fast preset, memory"),
}


class UserError(Exception):
    """A mistake in what the user asked for; printed as one line, exit code 2."""


def _user_error_types() -> tuple[type[BaseException], ...]:
    from denoise_studio.core.image import ImageError
    from denoise_studio.core.method import MethodError
    from denoise_studio.core.params import ParamError
    from denoise_studio.core.sidecar import SidecarError
    from denoise_studio.methods import UnknownMethodError

    return (UserError, ImageError, ParamError, MethodError, UnknownMethodError, SidecarError)


def _load_command(target: str) -> Any:
    """The module (or ``module:object``) that implements a sub-command."""
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only ``command``'s arguments are loaded (the others stay unimported)."""
    from denoise_studio import __version__

    parser = argparse.ArgumentParser(prog="denoise-studio", description="An interactive image-denoising workbench.")
    parser.add_argument("--version", action="version", version=f"denoise-studio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (target, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        sub_parser.set_defaults(_target=target)
        if name == command:
            _load_command(target).add_arguments(sub_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``denoise-studio`` script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    try:
        parser = build_parser(command)
    except ImportError as exc:
        print(f"denoise-studio {command}: error: this command is unavailable ({exc})", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    implementation = _load_command(args._target)
    try:
        code = int(implementation.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except _user_error_types() as exc:
        print(f"denoise-studio {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"denoise-studio {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`denoise-studio methods | head`): stop quietly, like other tools.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass  # not a real file: nothing will flush it at exit either
        return 0
    except MemoryError:
        print(f"denoise-studio {args.command}: error: out of memory (try a smaller image or a tiled method)", file=sys.stderr)
        return 1
    except Exception as exc:
        # A bug, not a user error: one line unless the traceback is asked for.
        if os.environ.get("DENOISE_STUDIO_DEBUG"):
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"denoise-studio {args.command}: internal error: {type(exc).__name__}: {message} "
            "(set DENOISE_STUDIO_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


# --------------------------------------------------------------------------------------------
# Helpers shared by the commands (and by bench.py)
# --------------------------------------------------------------------------------------------


def parse_key_values(pairs: Sequence[str] | None, option: str = "-p") -> dict[str, str]:
    """``["a=1", "b=x"]`` → ``{"a": "1", "b": "x"}``; a malformed item is a :class:`UserError`."""
    out: dict[str, str] = {}
    for item in pairs or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{option} expects key=value, got {item!r}")
        out[key.strip()] = value
    return out


def check_output_path(output: str | os.PathLike[str], *protected: str | os.PathLike[str] | None) -> Path:
    """Fail early, before any computation, for an output that cannot be written.

    Checks the format, that the folder exists and is writable, and that the target is not one of
    ``protected`` (the input, the reference).
    """
    from denoise_studio.core.image import WRITE_FORMATS, _same_file, resolve_source

    target = Path(os.fspath(output))
    if target.suffix.lower() not in WRITE_FORMATS:
        raise UserError(f"{target}: cannot write {target.suffix or 'a file without extension'}; use one of {', '.join(WRITE_FORMATS)}")
    for position, other in enumerate(protected):
        if other is None:
            continue
        try:
            source = resolve_source(other)
        except Exception:  # an unknown sample: the load reports it
            continue
        if _same_file(target, source):
            which = "the input image" if position == 0 else "an input file (the reference)"
            raise UserError(f"{target}: refusing to overwrite {which}; choose another output name")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"{target}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{target}: the folder {folder} is not writable")
    if target.is_dir():
        raise UserError(f"{target}: is a folder")
    return target


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write a text output atomically; a failure is a :class:`UserError`."""
    from denoise_studio.core.image import write_text_atomically

    try:
        return write_text_atomically(path, text)
    except OSError as exc:
        raise UserError(str(exc)) from None


def jsonable(value: Any) -> Any:
    """Plain JSON values (numpy scalars → Python, NaN/inf → None)."""
    from denoise_studio.core.sidecar import _jsonable

    return _jsonable(value)


# --------------------------------------------------------------------------------------------
# methods
# --------------------------------------------------------------------------------------------


class MethodsCommand:
    """``denoise-studio methods [--json]``."""

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of a listing")
        parser.add_argument("--family", help="only the methods of this family (Classical, 'Deep Image Prior', ...)")

    @staticmethod
    def describe(entry: Any) -> dict[str, Any]:
        """One method as a JSON-compatible dictionary; a method that cannot load says why."""
        out: dict[str, Any] = {"id": entry.id, "title": entry.title, "family": entry.family}
        try:
            cls = entry.load()
            method = cls()
            out["description"] = getattr(cls, "description", "")
            out["iterative"] = bool(getattr(cls, "iterative", False))
            out["available"] = method.availability() is None
            if method.availability() is not None:
                out["unavailable_reason"] = method.availability()
            out["params"] = [spec.to_json() for spec in cls.Params.specs()]
        except Exception as exc:  # a method module being written or missing a dependency
            out.update(available=False, unavailable_reason=f"cannot load: {type(exc).__name__}: {exc}", params=[])
        return out

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from denoise_studio.methods import REGISTRY

        entries = [e for e in REGISTRY.values() if args.family is None or e.family.lower() == args.family.lower()]
        if args.family is not None and not entries:
            families = sorted({e.family for e in REGISTRY.values()})
            raise UserError(f"no method of family {args.family!r}; families: {', '.join(families)}")
        described = [MethodsCommand.describe(e) for e in entries]
        if args.json:
            print(json.dumps({"methods": jsonable(described)}, indent=2, ensure_ascii=False))
            return 0
        family = None
        for item in described:
            if item["family"] != family:
                family = item["family"]
                print(f"\n{family}")
            flag = "" if item.get("available") else f"  [unavailable: {item.get('unavailable_reason')}]"
            print(f"  {item['id']:<16} {item['title']}{flag}")
            for spec in item["params"]:
                print(f"      {_describe_spec(spec)}")
        return 0


def _describe_spec(spec: dict[str, Any]) -> str:
    default = "auto" if spec["default"] is None else spec["default"]
    text = f"{spec['name']}={default}"
    if "choices" in spec:
        text += f"  {{{', '.join(spec['choices'])}}}"
    elif "minimum" in spec or "maximum" in spec:
        text += f"  [{spec.get('minimum', '')} … {spec.get('maximum', '')}]"
    if spec.get("description"):
        text += f"  {spec['description']}"
    return text


# --------------------------------------------------------------------------------------------
# noise
# --------------------------------------------------------------------------------------------


class NoiseCommand:
    """``denoise-studio noise IN -o OUT --model M --sigma S --seed N [--jpeg-quality Q]``."""

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        from denoise_studio.core.noise import NOISE_DESCRIPTIONS, NOISE_MODELS

        models = "; ".join(f"{k}: {v}" for k, v in NOISE_DESCRIPTIONS.items())
        parser.add_argument("input", help="clean image file, or sample:NAME")
        parser.add_argument("-o", "--output", required=True, help="where to write the noisy image")
        parser.add_argument("--model", default="gaussian", choices=list(NOISE_MODELS), help=f"noise model ({models})")
        parser.add_argument("--sigma", type=float, default=25.0, help="strength on the 0–255 scale (default 25)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the noise generator (default 0)")
        parser.add_argument(
            "--jpeg-quality", type=int, default=None,
            help="camera model: JPEG-compress at this quality; jpeg model: override the quality 100−2σ",
        )

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from denoise_studio.core.image import load_image, save_image
        from denoise_studio.core.noise import add_noise

        if not (0 <= args.sigma <= 255):
            raise UserError(f"--sigma must lie in [0, 255], not {args.sigma:g}")
        if args.jpeg_quality is not None:
            if not 1 <= args.jpeg_quality <= 100:
                raise UserError(f"--jpeg-quality must lie in [1, 100], not {args.jpeg_quality}")
            if args.model not in ("camera", "jpeg"):
                raise UserError("--jpeg-quality applies only to the camera and jpeg models")
        out = check_output_path(args.output, args.input)
        image = load_image(args.input)
        options: dict[str, Any] = {}
        if args.jpeg_quality is not None:
            options["jpeg_quality" if args.model == "camera" else "quality"] = args.jpeg_quality
        noisy = add_noise(image.pixels, args.model, args.sigma, args.seed, **options)
        save_image(out, noisy, bit_depth=image.bit_depth, alpha=image.alpha, protected=(image.source,))
        print(f"wrote {out} ({args.model} noise, σ {args.sigma:g}, seed {args.seed})", file=sys.stderr)
        return 0


# --------------------------------------------------------------------------------------------
# denoise
# --------------------------------------------------------------------------------------------


class DenoiseCommand:
    """``denoise-studio denoise IN -o OUT -m METHOD [-p key=value ...] [--reference CLEAN] ...``."""

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("input", help="noisy image file, or sample:NAME")
        parser.add_argument("-o", "--output", required=True, help="where to write the result (PNG, TIFF, JPEG, BMP, WebP)")
        parser.add_argument("-m", "--method", required=True, help="method id (see `denoise-studio methods`)")
        parser.add_argument(
            "-p", "--param", action="append", default=[], metavar="KEY=VALUE",
            help="set a parameter (repeatable); 'none' or 'auto' empties an optional one",
        )
        parser.add_argument("--reference", help="clean image to measure PSNR/SSIM against (never used by the method)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the run (default 0)")
        parser.add_argument("--device", default="cpu", help="torch device for network methods: cpu, cuda, cuda:1, mps (default cpu)")
        parser.add_argument("--json", action="store_true", help="print one JSON object with the run's figures")
        parser.add_argument("--stop", metavar="RULE", help="early-stopping rule of an iterative method (sets its stop_rule parameter)")
        parser.add_argument("--curve", metavar="CSV", help="write one row per snapshot: step, loss and every scalar reported")
        parser.add_argument("--quiet", action="store_true", help="no progress or summary on stderr")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from denoise_studio.core.image import load_image, save_image
        from denoise_studio.core.method import RunContext, Snapshot, run_to_end
        from denoise_studio.core.metrics import psnr, ssim
        from denoise_studio.core.sidecar import build_record, write_sidecar
        from denoise_studio.methods import get_entry

        entry = get_entry(args.method)
        out = check_output_path(args.output, args.input, args.reference)
        if args.curve:
            check_text_output(args.curve, args.input, args.reference, args.output)
        image = load_image(args.input)
        reference = None
        if args.reference:
            reference = load_image(args.reference).pixels
            if reference.shape != image.pixels.shape:
                raise UserError(
                    f"the reference is {_shape_text(reference.shape)} but the input is {_shape_text(image.pixels.shape)}"
                )
        method = entry.create()
        reason = method.availability()
        if reason is not None:
            raise UserError(f"{entry.id} cannot run here: {reason}")
        pairs = parse_key_values(args.param)
        if args.stop is not None:
            names = {spec.name for spec in method.Params.specs()}
            if "stop_rule" not in names:
                raise UserError(f"--stop: method {entry.id} has no early-stopping rule")
            pairs["stop_rule"] = args.stop
        params = method.Params.from_strings(pairs, base=method.default_params(image.pixels))
        check_cost(method, image.pixels.shape, params, args.device)

        ctx = RunContext(seed=args.seed, device=args.device, reference=reference)
        rows: list[dict[str, Any]] = []
        progress = Progress(enabled=not args.quiet and not args.json, label=entry.id)

        def on_snapshot(snap: Snapshot) -> None:
            if snap.final and rows and snap.loss is None and not snap.scalars and not snap.events:
                return  # an iterative method's result: no new point on its curve
            row: dict[str, Any] = {"step": snap.step, "loss": snap.loss}
            row.update(snap.scalars)
            if snap.events:
                row["events"] = ";".join(snap.events)
            rows.append(row)
            if snap.total > 1:
                progress.update(snap.step, snap.total)

        # Methods satisfy their own size requirements (core.tiling pads and crops inside them), so
        # the command line, the window and `replay` hand every method the same unpadded image.
        started = time.perf_counter()
        final = run_to_end(method, image.pixels, params, ctx, on_snapshot=on_snapshot)
        seconds = time.perf_counter() - started
        progress.close()
        assert final.image is not None
        result = final.image
        if result.shape != image.pixels.shape:
            raise UserError(f"{entry.id} returned an image of shape {result.shape} for an input of {image.pixels.shape}")

        metrics: dict[str, Any] = {"seconds": seconds}
        if reference is not None:
            metrics["psnr"] = psnr(result, reference)
            metrics["ssim"] = ssim(result, reference)
            metrics.update(peak_metrics(rows))

        save_image(out, result, bit_depth=image.bit_depth, alpha=image.alpha, protected=(image.source, args.reference))
        info = dict(final.info)
        weights = info.get("weights") if isinstance(info.get("weights"), dict) else None
        record = build_record(
            input_path=args.input, method_id=entry.id, params=params.to_dict(), seed=args.seed, device=args.device,
            metrics=metrics, weights=weights,
            extra={"bit_depth": image.bit_depth, "reference": args.reference, "info": info},
        )
        try:
            sidecar = write_sidecar(out, record)
        except OSError as exc:
            raise UserError(f"the result was written but its sidecar was not: {exc}") from None
        if args.curve:
            write_text(args.curve, curve_csv(rows))

        if args.json:
            report: dict[str, Any] = dict(info)
            report.update(method=entry.id, params=params.to_dict(), output=str(out), sidecar=str(sidecar), **metrics)
            print(json.dumps(jsonable(report), ensure_ascii=False))
        elif not args.quiet:
            quality = f", PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.4f}" if reference is not None else ""
            print(f"wrote {out} ({entry.id}, {seconds:.2f} s{quality})", file=sys.stderr)
        return 0


def check_text_output(path: str, *protected: str | None) -> Path:
    """Like :func:`check_output_path` for a text output (CSV, JSON, Markdown)."""
    from denoise_studio.core.image import _same_file, resolve_source

    target = Path(path)
    for other in protected:
        if other is None:
            continue
        try:
            if _same_file(target, resolve_source(other)):
                raise UserError(f"{target}: refusing to overwrite an input or output image")
        except UserError:
            raise
        except Exception:
            continue
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"{target}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{target}: the folder {folder} is not writable")
    return target


def peak_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Peak PSNR against the reference along the curve, and where it was reached.

    An iterative method that reports both its raw and its averaged output (DIP: ``psnr_ref`` and
    ``psnr_ref_avg``) keeps the averaged one by default, so ``peak_psnr`` follows that curve and
    ``peak_psnr_raw`` the raw one.
    """
    out: dict[str, Any] = {}
    curves = (("psnr_ref_avg", ""), ("psnr_ref", "_raw")) if any("psnr_ref_avg" in r for r in rows) else (("psnr_ref", ""),)
    for key, suffix in curves:
        points = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
        if points:
            step, best = max(points, key=lambda item: item[1])
            out[f"peak_psnr{suffix}"] = best
            out[f"peak_iteration{suffix}"] = step
    return out


def curve_csv(rows: list[dict[str, Any]]) -> str:
    """One CSV row per snapshot: step, loss, then every scalar key seen (in order of appearance)."""
    import csv
    import io

    keys: list[str] = ["step", "loss"]
    for row in rows:
        for key in row:
            if key not in keys:
                keys.append(key)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in keys})
    return buffer.getvalue()


def check_cost(method: Any, shape: tuple[int, ...], params: Any, device: str) -> None:
    """Refuse a run that cannot fit in memory; warn on stderr about a large or long one."""
    from denoise_studio.core.cost import assess
    from denoise_studio.core.device import DeviceError, resolve_device

    try:
        device = resolve_device(device)
    except DeviceError:
        return  # the run itself says what is wrong with the device
    verdict = assess(method, shape, params, device)
    if verdict.level == "refuse":
        raise UserError(verdict.message)
    if verdict.level == "warn":
        print(f"warning: {verdict.message}", file=sys.stderr)


def _shape_text(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}×{shape[0]}×{shape[2]}"


class Progress:
    """A one-line progress bar on stderr (redrawn in place on a terminal, else sparse lines)."""

    def __init__(self, enabled: bool = True, label: str = "", stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.label = label
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.perf_counter()
        self._last_draw = 0.0
        self._last_fraction = -1.0
        self._drawn = False

    def update(self, done: int, total: int, note: str = "") -> None:
        """Report ``done`` of ``total``; draws at most ~10 times a second (every 10 % off a terminal)."""
        if not self.enabled or total <= 0:
            return
        fraction = min(max(done / total, 0.0), 1.0)
        now = time.perf_counter()
        if self.tty:
            if now - self._last_draw < 0.1 and done < total:
                return
        elif fraction - self._last_fraction < 0.1 and done < total:
            return
        self._last_draw, self._last_fraction = now, fraction
        elapsed = now - self.started
        eta = elapsed / fraction - elapsed if fraction > 0 else 0.0
        width = 24
        filled = int(round(fraction * width))
        bar = "#" * filled + "." * (width - filled)
        text = f"{self.label} [{bar}] {done}/{total} {_clock(elapsed)} elapsed, {_clock(eta)} left {note}".rstrip()
        if self.tty:
            self.stream.write("\r" + text[:160].ljust(80))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


if __name__ == "__main__":
    raise SystemExit(main())
