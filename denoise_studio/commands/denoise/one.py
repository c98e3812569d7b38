"""One image: ``denoise-studio denoise IN -o OUT -m METHOD [-p key=value ...] [--reference CLEAN]``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

from denoise_studio.commands.common import (
    Progress,
    check_cost,
    check_output_path,
    check_text_output,
    jsonable,
    parse_key_values,
    shape_text,
    write_text,
)
from denoise_studio.commands.denoise.estimate import estimated_psnr
from denoise_studio.core.curves import LOSS, PSNR_REF, PSNR_REF_AVG
from denoise_studio.core.errors import UserError


def run_one(args: argparse.Namespace, method_id: str, recipe: dict[str, Any] | None) -> int:
    """Denoise one image (``recipe``: the method and parameters of a sidecar, see ``--recipe``)."""
    from denoise_studio.core.image import load_image
    from denoise_studio.core.result import measure
    from denoise_studio.methods import get_entry

    entry = get_entry(method_id)
    out = check_output_path(args.output, args.input, args.reference)
    if args.curve:
        check_text_output(args.curve, args.input, args.reference, args.output)
    image = load_image(args.input, linear_raw=args.raw == "linear")
    reference = None
    if args.reference:
        reference = load_image(args.reference).pixels
        if reference.shape != image.pixels.shape:
            raise UserError(
                f"the reference is {shape_text(reference.shape)} but the input is {shape_text(image.pixels.shape)}"
            )
    region = parse_region(args.region, image.pixels.shape) if args.region else None
    if region is not None:
        from dataclasses import replace

        from denoise_studio.core.result import crop

        image, reference = replace(image, pixels=crop(image.pixels, region), alpha=crop(image.alpha, region)), crop(reference, region)
    method = entry.create()
    reason = method.availability()
    if reason is not None:
        raise UserError(f"{entry.id} cannot run here: {reason}")
    method.check_input(image.pixels.shape)
    params = method_params(args, method, image.pixels, recipe)
    check_cost(method, image.pixels.shape, params, args.device)
    origin = (region[1], region[0]) if region is not None else (0, 0)
    final, seconds, rows, interrupted = run_method(args, method, image.pixels, params, reference, origin=origin)
    assert final.image is not None
    if final.image.shape != image.pixels.shape:
        raise UserError(f"{entry.id} returned an image of shape {final.image.shape} for an input of {image.pixels.shape}")
    metrics: dict[str, Any] = {"seconds": seconds}
    if reference is not None:
        measured = measure(final.image, image.pixels, reference)
        metrics.update(psnr=measured.psnr, ssim=measured.ssim, **peak_metrics(rows))
    sidecar = write_result(args, out, image, final, params, metrics, region, entry.id, args.input, args.seed)
    if args.curve:
        write_text(args.curve, curve_csv(rows))
    if args.json:
        report: dict[str, Any] = dict(final.info)
        report.update(method=entry.id, params=params.to_dict(), output=str(out), sidecar=str(sidecar), **metrics)
        report["estimated_psnr"] = estimated_psnr(args, method, params, image.pixels, final.image, origin)
        print(json.dumps(jsonable(report), ensure_ascii=False))
    elif not args.quiet:
        quality = f", PSNR {metrics['psnr']:.2f} dB" if reference is not None else ""
        quality += f", SSIM {metrics['ssim']:.4f}" if metrics.get("ssim") is not None else ""
        print(f"wrote {out} ({entry.id}, {seconds:.2f} s{quality})", file=sys.stderr)
    if interrupted:
        print(f"interrupted: wrote the result at step {final.step} of {final.total}", file=sys.stderr)
        return 130
    return 0


def parse_region(text: str, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """``X,Y,W,H`` inside an image of ``shape``."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--region expects X,Y,W,H in pixels, got {text!r}") from None
    if w < 1 or h < 1 or x < 0 or y < 0 or x + w > shape[1] or y + h > shape[0]:
        raise UserError(f"--region {text}: not inside the {shape[1]}×{shape[0]} image")
    return x, y, w, h


def method_params(args: argparse.Namespace, method: Any, pixels: Any, recipe: dict[str, Any] | None = None) -> Any:
    """The method's defaults for this image (or the recipe's parameters), with ``-p`` and ``--stop`` applied."""
    return ImageParams.from_args(args, method, recipe)(pixels)


@dataclass(frozen=True)
class ImageParams:
    """The parameters of each image of a run: the recipe's, or the method's first try for that
    image (``Method.starting_params``: an estimated σ, DIP's stop rule), with ``-p`` and
    ``--stop`` applied.

    A plain picklable value, so that ``denoise DIR --jobs N`` hands it to worker processes.
    """

    method_class: type
    pairs: dict[str, str]
    recipe_params: dict[str, Any] | None = None
    device: str = "cpu"

    @classmethod
    def from_args(cls, args: argparse.Namespace, method: Any, recipe: dict[str, Any] | None = None) -> ImageParams:
        pairs = parse_key_values(args.param)
        if args.stop is not None:
            if "stop_rule" not in {spec.name for spec in method.Params.specs()}:
                raise UserError(f"--stop: method {method.id} has no early-stopping rule")
            pairs["stop_rule"] = args.stop
        recipe_params = (recipe.get("params") or {}) if recipe is not None else None
        return cls(type(method), pairs, recipe_params, getattr(args, "device", "cpu"))

    def __call__(self, pixels: Any) -> Any:
        """The parameters for an image of ``pixels`` (``None``: the image-independent defaults)."""
        params_class = self.method_class.Params
        if self.recipe_params is not None:
            base = params_class.from_dict(self.recipe_params)
        else:
            base = self.method_class().starting_params(pixels, self.device)
        return params_class.from_strings(self.pairs, base=base)


def run_method(args: argparse.Namespace, method: Any, pixels: Any, params: Any, reference: Any,
               catch_interrupt: bool = True, origin: tuple[int, int] = (0, 0)) -> tuple[Any, float, list[dict[str, Any]], bool]:
    """Run to the end with a progress line; returns the final snapshot, the seconds, the curve
    rows and whether Ctrl-C stopped it.

    The first Ctrl-C asks the method to stop, as the window's Stop does: an iterative method
    ends with its result so far, which is written. A second Ctrl-C interrupts at once.
    """
    import signal

    from denoise_studio.core.method import RunContext, Snapshot, run_to_end

    rows: list[dict[str, Any]] = []
    progress = Progress(enabled=not args.quiet and not args.json, label=method.id)

    def on_snapshot(snap: Snapshot) -> None:
        if snap.final and rows and snap.loss is None and not snap.scalars and not snap.events:
            return  # an iterative method's result: no new point on its curve
        row: dict[str, Any] = {"step": snap.step, LOSS: snap.loss}
        row.update(snap.scalars)
        if snap.events:
            row["events"] = ";".join(snap.events)
        rows.append(row)
        if snap.total > 1:
            progress.update(snap.step, snap.total)

    # Methods satisfy their own size requirements (core.tiling pads and crops inside them), so
    # the command line, the window and `replay` hand every method the same unpadded image.
    started = time.perf_counter()
    ctx = RunContext(seed=args.seed, device=args.device, reference=reference, origin=origin)

    def stop_on_interrupt(signum: int, frame: Any) -> None:
        if ctx.stop_requested:
            raise KeyboardInterrupt
        ctx.request_stop()
        print("\nstopping at the next step (Ctrl-C again to abandon the result)", file=sys.stderr, flush=True)

    import threading

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, stop_on_interrupt) if method.iterative and main_thread and catch_interrupt else None
    try:
        final = run_to_end(method, pixels, params, ctx, on_snapshot=on_snapshot)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    seconds = time.perf_counter() - started
    progress.close()
    return final, seconds, rows, ctx.stop_requested


def write_result(args: argparse.Namespace, out: Any, image: Any, final: Any, params: Any, metrics: dict[str, Any],
                 region: tuple[int, int, int, int] | None, method_id: str, input_path: str, seed: int) -> Any:
    """The result (same bit depth and alpha as the input) and its sidecar; returns the sidecar's path."""
    from pathlib import Path

    from denoise_studio.core.image import output_depth, save_image
    from denoise_studio.core.metadata import kept
    from denoise_studio.core.result import chosen_values
    from denoise_studio.core.sidecar import build_record, write_sidecar

    depth = args.bit_depth or image.bit_depth
    save_image(out, final.image, bit_depth=depth, alpha=image.alpha, protected=(input_path, args.reference), metadata=image.metadata)
    info = dict(final.info)
    weights = info.get("weights") if isinstance(info.get("weights"), dict) else None
    record = build_record(
        input_path=input_path, method_id=method_id, params=params.to_dict(), seed=seed, device=args.device,
        metrics=metrics, weights=weights, info=info,
        extra={"bit_depth": output_depth(Path(out).suffix.lower(), depth), "metadata_kept": kept(image.metadata, Path(out).suffix),
               "reference": args.reference, "info": info, "region": list(region) if region else None,
               "chosen": chosen_values(params.to_dict(), info),
               "stopped_early": final.step < final.total if final.total > 1 else False},
    )
    try:
        return write_sidecar(out, record)
    except OSError as exc:
        raise UserError(f"the result was written but its sidecar was not: {exc}") from None


def peak_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Peak PSNR against the reference along the curve, and where it was reached.

    An iterative method that reports both its raw and its averaged output (DIP: ``psnr_ref`` and
    ``psnr_ref_avg``) keeps the averaged one by default, so ``peak_psnr`` follows that curve and
    ``peak_psnr_raw`` the raw one.
    """
    out: dict[str, Any] = {}
    averaged = any(PSNR_REF_AVG in r for r in rows)
    for key, suffix in ((PSNR_REF_AVG, ""), (PSNR_REF, "_raw")) if averaged else ((PSNR_REF, ""),):
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

    keys: list[str] = ["step", LOSS]
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
