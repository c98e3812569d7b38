"""A folder of photos through one method: the command line's ``denoise DIR`` and the window's
"Apply to folder…" both walk it here.

Every readable image is denoised with the same method and parameters (defaults that follow the
image, such as an estimated σ, are chosen again for each) and written under its own name into
the output folder, with its sidecar and its own bit depth and alpha. An output that exists is
skipped unless asked to overwrite, so a stopped run resumes; a file that cannot be read or
denoised is reported, and the walk goes on. ``stop`` ends the walk after the current file.

With ``jobs`` above one, that many worker processes denoise one image each at a time, every
one on a single CPU thread (torch and OpenCV), so N images take the cores a single image would
otherwise spread over; the outputs are the same files. Worker processes are *spawned* (a fork
of a process whose torch already started its thread pool can hang), and they ignore Ctrl-C:
the caller stops the walk through ``stop`` and, to end at once, closes the generator.
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
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
    estimated_psnr: dict[str, Any] | None = None  # core.quality.QualityEstimate.to_dict(), when asked for


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
    jobs: int = 1,
    bit_depth: int | None = None,
    linear_raw: bool = False,
    estimate: bool = False,
    noise_sigma: float | None = None,
) -> Iterator[FileOutcome]:
    """Denoise each of ``inputs`` into ``out_dir``; yields one outcome per file.

    Each output keeps its input's bit depth unless ``bit_depth`` (8, 16, or 32 for a float
    TIFF) asks for another, as far as the format holds it. A camera RAW input opens as the
    camera-rendered image, or as linear sRGB with ``linear_raw``.

    ``params_for(pixels)`` gives the parameters of one image. ``stop`` set: no new file starts.
    With ``jobs`` > 1 the files go to that many worker processes and the outcomes come in the
    order the files finish; ``params_for`` must then be picklable (a module-level function or
    a dataclass instance, not a lambda), and so must the method's class.

    ``estimate``: each written file's outcome carries the estimated PSNR of its result
    (``core.quality.estimate_method_run``, σ ``noise_sigma`` or estimated; two more runs).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = FileSettings(seed, device, bit_depth, linear_raw, estimate, noise_sigma)
    if jobs > 1:
        yield from _process_in_parallel(type(method), inputs, out_dir, params_for, settings, overwrite, stop, jobs)
        return
    for path in inputs:
        if stop is not None and stop.is_set():
            return
        target = out_dir / output_name(path)
        if target.exists() and not overwrite:
            yield FileOutcome(path, target, SKIPPED, "already there")
            continue
        yield _denoise_file(method, path, target, params_for, settings)


@dataclass(frozen=True)
class FileSettings:
    """What every file of a walk is run and written with (picklable, for the worker processes)."""

    seed: int = 0
    device: str = "cpu"
    bit_depth: int | None = None  # None: each input's own
    linear_raw: bool = False
    estimate: bool = False
    noise_sigma: float | None = None


def _process_in_parallel(method_class: type[Method[Any]], inputs: list[Path], out_dir: Path,
                         params_for: Callable[[np.ndarray], Params], settings: FileSettings, overwrite: bool,
                         stop: threading.Event | None, jobs: int) -> Iterator[FileOutcome]:
    """``process_folder`` over ``jobs`` worker processes; at most ``jobs`` files are in flight,
    so that a stop leaves only the files already started to finish."""
    waiting: list[tuple[Path, Path]] = []
    for path in inputs:
        target = out_dir / output_name(path)
        if target.exists() and not overwrite:
            yield FileOutcome(path, target, SKIPPED, "already there")
        else:
            waiting.append((path, target))
    pool = futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker)
    running: dict[futures.Future[FileOutcome], tuple[Path, Path]] = {}
    try:
        while waiting or running:
            while waiting and len(running) < jobs and not (stop is not None and stop.is_set()):
                path, target = waiting.pop(0)
                running[pool.submit(_denoise_in_worker, method_class, path, target, params_for, settings)] = (path, target)
            if not running:
                return
            done, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
            for future in done:
                path, target = running.pop(future)
                try:
                    yield future.result()
                except Exception as exc:  # noqa: BLE001 - a worker that died (killed, out of memory) fails its file only
                    yield FileOutcome(path, target, FAILED, f"the worker process ended: {type(exc).__name__}: {exc}")
    finally:
        # Normally nothing runs any more; after an interrupt (the generator closed early) the
        # files in flight are abandoned: their outputs are written atomically, so none is half there.
        _end_workers(pool)


def _start_worker() -> None:
    """A worker process: one CPU thread for torch and OpenCV, and Ctrl-C left to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"  # read by torch and numpy's BLAS when they load, later in this process
    import cv2

    cv2.setNumThreads(1)


def _end_workers(pool: futures.ProcessPoolExecutor) -> None:
    """Shut the pool down without waiting, and end the processes of files still under way."""
    # Python 3.14 has ProcessPoolExecutor.terminate_workers(); before it, the processes are
    # reachable only through the private mapping, which shutdown() drops: read it first.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()


def _denoise_in_worker(method_class: type[Method[Any]], path: Path, target: Path,
                       params_for: Callable[[np.ndarray], Params], settings: FileSettings) -> FileOutcome:
    return _denoise_file(method_class(), path, target, params_for, settings)


def _denoise_file(method: Method[Any], path: Path, target: Path, params_for: Callable[[np.ndarray], Params],
                  settings: FileSettings) -> FileOutcome:
    """Denoise one file into ``target``; what went wrong is the outcome's message."""
    started = time.perf_counter()
    try:
        estimated = _write_denoised(method, path, target, params_for, settings)
    except UserError as exc:
        return FileOutcome(path, target, FAILED, str(exc))
    except Exception as exc:  # noqa: BLE001 - one bad file must not end the walk; it is reported
        return FileOutcome(path, target, FAILED, f"{type(exc).__name__}: {exc}")
    return FileOutcome(path, target, WRITTEN, seconds=time.perf_counter() - started, estimated_psnr=estimated)


def _write_denoised(method: Method[Any], path: Path, target: Path, params_for: Callable[[np.ndarray], Params],
                    settings: FileSettings) -> dict[str, Any] | None:
    """Write the result; its estimated PSNR when the settings ask for it."""
    seed, device = settings.seed, settings.device
    if target.exists() and target.resolve() == path.resolve():
        raise UserError("the output would replace the input; choose another output folder")
    image = load_image(str(path), linear_raw=settings.linear_raw)
    method.check_input(image.pixels.shape)
    params = params_for(image.pixels)
    started = time.perf_counter()
    final = run_to_end(method, image.pixels, params, RunContext(seed=seed, device=device))
    assert final.image is not None
    result = Result(method.id, method.title, params, np.clip(final.image, 0.0, 1.0).astype(np.float32), seed=seed, device=device,
                    elapsed=time.perf_counter() - started, final_step=final.step, info=dict(final.info), input_source=str(path))
    export_result(result, target, bit_depth=settings.bit_depth or image.bit_depth, alpha=image.alpha, protected=(str(path),),
                  metadata=image.metadata)
    if not settings.estimate:
        return None
    from denoise_studio.core.quality import estimate_method_run

    # The unclipped output, like the probe runs' outputs it is compared with.
    return estimate_method_run(method, image.pixels, final.image, params, seed=seed, device=device,
                               sigma=settings.noise_sigma, source=str(path)).to_dict()
