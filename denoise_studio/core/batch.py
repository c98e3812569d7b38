"""A folder of photos through one method: the command line's ``denoise DIR`` and the window's
"Apply to folder…" both walk it here.

Every readable image is denoised with the same method and parameters (defaults that follow the
image, such as an estimated σ, are chosen again for each) and written under its own name into
the output folder, with its sidecar and its own bit depth and alpha. An output that exists is
skipped unless asked to overwrite, so a stopped run resumes; a file that cannot be read or
denoised is reported, and the walk goes on. ``stop`` ends the walk after the current file.
"""

from __future__ import annotations

import glob
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from denoise_studio.core.errors import UserError
from denoise_studio.core.export import export_result
from denoise_studio.core.image import READ_FORMATS, load_image, output_name
from denoise_studio.core.method import Method, RunContext, run_to_end
from denoise_studio.core.params import Params
from denoise_studio.core.result import Result

IMAGE_SUFFIXES = READ_FORMATS  # every format the loader reads
WRITTEN, SKIPPED, FAILED = "written", "skipped", "failed"


@dataclass
class FileOutcome:
    """What happened to one input file."""

    input: Path
    output: Path
    status: str  # WRITTEN, SKIPPED or FAILED
    message: str = ""
    seconds: float = 0.0


def list_inputs(source: str | Path) -> list[Path]:
    """The image files of a folder, or those a glob pattern matches, sorted by name."""
    folder = Path(source)
    paths = sorted(folder.iterdir()) if folder.is_dir() else sorted(Path(p) for p in glob.glob(str(source)))
    return [p for p in paths if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]


def process_folder(
    method: Method[Any],
    inputs: list[Path],
    out_dir: Path,
    params_for: Callable[[np.ndarray], Params],
    *,
    seed: int = 0,
    device: str = "cpu",
    overwrite: bool = False,
    stop: threading.Event | None = None,
) -> Iterator[FileOutcome]:
    """Denoise each of ``inputs`` into ``out_dir``; yields one outcome per file, in order.

    ``params_for(pixels)`` gives the parameters of one image. ``stop`` set: no new file starts.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in inputs:
        if stop is not None and stop.is_set():
            return
        target = out_dir / output_name(path)
        if target.exists() and not overwrite:
            yield FileOutcome(path, target, SKIPPED, "already there")
            continue
        started = time.perf_counter()
        try:
            _denoise_file(method, path, target, params_for, seed, device)
        except UserError as exc:
            yield FileOutcome(path, target, FAILED, str(exc))
        except Exception as exc:  # noqa: BLE001 - one bad file must not end the walk; it is reported
            yield FileOutcome(path, target, FAILED, f"{type(exc).__name__}: {exc}")
        else:
            yield FileOutcome(path, target, WRITTEN, seconds=time.perf_counter() - started)


def _denoise_file(method: Method[Any], path: Path, target: Path, params_for: Callable[[np.ndarray], Params],
                  seed: int, device: str) -> None:
    if target.exists() and target.resolve() == path.resolve():
        raise UserError("the output would replace the input; choose another output folder")
    image = load_image(str(path))
    method.check_input(image.pixels.shape)
    params = params_for(image.pixels)
    started = time.perf_counter()
    final = run_to_end(method, image.pixels, params, RunContext(seed=seed, device=device))
    assert final.image is not None
    result = Result(method.id, method.title, params, np.clip(final.image, 0.0, 1.0).astype(np.float32), seed=seed, device=device,
                    elapsed=time.perf_counter() - started, final_step=final.step, info=dict(final.info), input_source=str(path))
    export_result(result, target, bit_depth=image.bit_depth, alpha=image.alpha, protected=(str(path),),
                  metadata=image.metadata)
