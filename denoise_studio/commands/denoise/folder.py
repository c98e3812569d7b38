"""A folder (or a glob) of photos with one method: ``denoise DIR_OR_GLOB -o OUTDIR``.

Every readable image is denoised and written to the output folder under its own name, with its
sidecar and its own bit depth. An output that exists is skipped (``--overwrite`` replaces it),
so a stopped run resumes where it was. A file that cannot be read or denoised is reported and
the run goes on; the list of failures ends the run (exit 1 when any). One progress line says
which file of how many, and the time left. The first Ctrl-C finishes the current file and
stops; a second stops at once.
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
    return _Batch(args, method, recipe, inputs, out_dir).run()


class _Batch:
    """The state of one folder run: what was written, skipped and what failed, and Ctrl-C."""

    def __init__(self, args: argparse.Namespace, method: Any, recipe: dict[str, Any] | None, inputs: list[Path], out_dir: Path) -> None:
        self.args, self.method, self.recipe, self.inputs, self.out_dir = args, method, recipe, inputs, out_dir
        self.written: list[Path] = []
        self.skipped: list[Path] = []
        self.failed: list[tuple[str, str]] = []
        self.stop = threading.Event()
        self.progress = Progress(enabled=not args.quiet, label=f"{method.id}")

    def run(self) -> int:
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, self._on_interrupt) if main_thread else None
        started = time.perf_counter()
        from denoise_studio.commands.denoise.one import method_params

        def params_for(pixels: Any) -> Any:
            return method_params(self.args, self.method, pixels, self.recipe)

        walk = process_folder(self.method, self.inputs, self.out_dir, params_for, seed=self.args.seed, device=self.args.device,
                              overwrite=self.args.overwrite, stop=self.stop)
        try:
            for index, outcome in enumerate(walk):
                self._record(outcome)
                self.progress.update(index + 1, len(self.inputs), outcome.input.name)
        finally:
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
        print("\nstopping after this file (Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

    def _record(self, outcome: FileOutcome) -> None:
        if outcome.status == WRITTEN:
            self.written.append(outcome.output)
            if self.args.json:
                print(json.dumps(jsonable({"input": str(outcome.input), "output": str(outcome.output), "seconds": outcome.seconds,
                                           "method": self.method.id})), flush=True)
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
