"""A folder (or a glob) of photos with one method: ``denoise DIR_OR_GLOB -o OUTDIR``.

Every readable image is denoised and written to the output folder under its own name, with its
sidecar and its own bit depth. An output that exists is skipped (``--overwrite`` replaces it),
so a stopped run resumes where it was. A file that cannot be read or denoised is reported and
the run goes on; the list of failures ends the run (exit 1 when any). One progress line says
which file of how many, and the time left. The first Ctrl-C finishes the current file (or the
files under way) and stops; a second stops at once. With ``--json`` each written file's line
carries its ``estimated_psnr`` (as for one file: SURE with ``--noise-sigma`` or an estimated σ,
two more runs of the method; ``--no-estimate`` leaves it out).

``--jobs N`` denoises N images at once in N worker processes of one CPU thread each: the same
files come out as with one job. It is clamped where it cannot help, with a line that says why:
to the CPU cores this process may use, to one for a GPU (the images would share its memory)
and to one for parameters that make the method spread over threads of its own.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from denoise_studio.commands.common import Progress, jsonable
from denoise_studio.commands.denoise.one import ImageParams
from denoise_studio.core.batch import IMAGE_SUFFIXES, SKIPPED, WRITTEN, FileOutcome, list_inputs, process_folder
from denoise_studio.core.errors import UserError

_GLOB_CHARACTERS = ("*", "?", "[")


def is_batch(source: str) -> bool:
    """A folder or a glob pattern (rather than one file or a sample)."""
    return Path(source).is_dir() or any(c in source for c in _GLOB_CHARACTERS)


def run_folder(args: argparse.Namespace, method_id: str, recipe: dict[str, Any] | None) -> int:
    from denoise_studio.methods import get_entry

    for option, name in ((args.reference, "--reference"), (args.curve, "--curve"), (args.region, "--region")):
        if option:
            raise UserError(f"{name} goes with one image, not a folder")
    inputs = list_inputs(args.input)
    if not inputs:
        raise UserError(f"{args.input}: no images ({', '.join(IMAGE_SUFFIXES)})")
    out_dir = Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"-o {out_dir}: for a folder of inputs, -o names a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    entry = get_entry(method_id)
    method = entry.create()
    reason = method.availability()
    if reason is not None:
        raise UserError(f"{entry.id} cannot run here: {reason}")
    image_params = ImageParams.from_args(args, method, recipe)
    jobs, why = usable_jobs(args.jobs, method, image_params(None), args.device, len(inputs))
    if why and not args.quiet:
        print(why, file=sys.stderr)
    return _Batch(args, method, image_params, inputs, out_dir, jobs).run()


def usable_jobs(requested: int, method: Any, params: Any, device: str, files: int) -> tuple[int, str]:
    """How many images to denoise at once for ``--jobs requested``, and why fewer ('' if not)."""
    if requested < 1:
        raise UserError(f"--jobs {requested}: give 1 or more images at once")
    if requested == 1:
        return 1, ""
    if device != "cpu" and _resolved(device) != "cpu":
        return 1, f"--jobs {requested}: on {device} the images would share one device and its memory; running one at a time"
    if not _can_travel(type(method)):
        return 1, f"--jobs {requested}: {method.id} is built when the studio starts and cannot be sent to other processes; running one image at a time"
    asked = method.threads_asked(params)
    if asked is not None and asked > 1:
        return 1, (f"--jobs {requested}: {method.id} with these parameters runs on {asked} threads of its own; "
                   "running one image at a time")
    cores = available_cores()
    if requested > cores:
        return cores, (f"--jobs {requested}: this process may use {cores} CPU core{'s' if cores > 1 else ''}, "
                       f"and more jobs than cores only share them; running {cores} at a time")
    return min(requested, files), ""


def _can_travel(method_class: type) -> bool:
    """Whether a worker process can receive the method's class (an imported model's is made at run time)."""
    import pickle

    try:
        pickle.dumps(method_class)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity, e.g. under ``taskset``)."""
    from denoise_studio.core.device import usable_cores

    return usable_cores()


def _resolved(device: str) -> str:
    from denoise_studio.core.device import DeviceError, resolve_device

    try:
        return resolve_device(device)
    except DeviceError as exc:
        raise UserError(str(exc)) from None


class _Batch:
    """The state of one folder run: what was written, skipped and what failed, and Ctrl-C."""

    def __init__(self, args: argparse.Namespace, method: Any, image_params: ImageParams, inputs: list[Path], out_dir: Path,
                 jobs: int) -> None:
        self.args, self.method, self.image_params, self.inputs, self.out_dir, self.jobs = args, method, image_params, inputs, out_dir, jobs
        self.written: list[Path] = []
        self.skipped: list[Path] = []
        self.failed: list[tuple[str, str]] = []
        self.stop = threading.Event()
        self.progress = Progress(enabled=not args.quiet, label=method.id + (f" ×{jobs}" if jobs > 1 else ""))

    def run(self) -> int:
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, self._on_interrupt) if main_thread else None
        started = time.perf_counter()
        walk = process_folder(self.method, self.inputs, self.out_dir, self.image_params, seed=self.args.seed, device=self.args.device,
                              overwrite=self.args.overwrite, stop=self.stop, jobs=self.jobs, bit_depth=self.args.bit_depth,
                              linear_raw=self.args.raw == "linear", estimate=bool(self.args.json) and not self.args.no_estimate,
                              noise_sigma=self.args.noise_sigma)
        try:
            for index, outcome in enumerate(walk):
                self._record(outcome)
                self.progress.update(index + 1, len(self.inputs), outcome.input.name)
        finally:
            walk.close()  # after a second Ctrl-C: ends the worker processes of --jobs
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            self.progress.close()
        self._summary(time.perf_counter() - started)
        if self.stop.is_set():
            return 130
        return 1 if self.failed else 0

    def _on_interrupt(self, signum: int, frame: Any) -> None:
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.stop.set()
        under_way = "the files under way" if self.jobs > 1 else "this file"
        print(f"\nstopping after {under_way} (Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

    def _record(self, outcome: FileOutcome) -> None:
        if outcome.status == WRITTEN:
            self.written.append(outcome.output)
            if self.args.json:
                line = {"input": str(outcome.input), "output": str(outcome.output), "seconds": outcome.seconds, "method": self.method.id}
                if outcome.estimated_psnr is not None:
                    line["estimated_psnr"] = outcome.estimated_psnr
                print(json.dumps(jsonable(line)), flush=True)
        elif outcome.status == SKIPPED:
            self.skipped.append(outcome.output)
        else:
            self.failed.append((outcome.input.name, outcome.message))

    def _summary(self, seconds: float) -> None:
        if self.args.json:
            print(json.dumps(jsonable({"written": [str(p) for p in self.written], "skipped": [str(p) for p in self.skipped],
                                       "failed": [{"input": n, "error": e} for n, e in self.failed],
                                       "interrupted": self.stop.is_set(), "seconds": seconds})))
        if self.args.quiet:
            return
        stopped = " (stopped by Ctrl-C; run the same command again to go on)" if self.stop.is_set() else ""
        print(f"{len(self.written)} written, {len(self.skipped)} skipped (already there), {len(self.failed)} failed "
              f"into {self.out_dir} in {seconds:.1f} s{stopped}", file=sys.stderr)
        for name, error in self.failed:
            print(f"  failed: {name}: {error}", file=sys.stderr)
