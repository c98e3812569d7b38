"""Run a method in a QThread: the only module of the project that touches QThread.

The method is a plain generator (``Method.run``); the worker pulls snapshots from it in its own
thread, computes the metrics there (PSNR, SSIM, the difference heatmap: the UI thread only
paints), batches the scalar curve points and throttles image updates to about 20 per second.
There is no Qt event loop in the worker's thread to hook into, so stopping works through the
method's :class:`~denoise_studio.core.method.RunContext`: the method checks
``ctx.stop_requested`` between steps and ends with a final snapshot.

*Stop* keeps that final snapshot (``returned`` is emitted); *cancel* discards it (``aborted``).
``finished`` is always emitted last, exactly once.

Connect the signals to bound ``@Slot`` methods of main-thread objects, never to lambdas: in
PySide6 6.x a lambda slot can run in the worker's thread.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import traceback
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from denoise_studio.core import curves, metrics
from denoise_studio.core.errors import UserError
from denoise_studio.core.method import Method, MethodError, RunContext, Snapshot, run_to_end
from denoise_studio.core.params import Params
from denoise_studio.core.result import CurvePoint, Result, measure

#: Images (and the metrics that go with them) reach the UI at most this often.
IMAGE_RATE_HZ = 20.0

#: How much nicer than the UI the worker's thread runs (Linux: niceness is per thread, and the
#: OpenMP threads torch starts from the worker inherit it). On a busy 2-core machine this lets
#: the UI thread preempt the computation; on an idle one it costs the computation nothing.
WORKER_NICENESS = 5

# Every QThread this module starts, so that tests can assert none is left running.
_THREADS: weakref.WeakSet[QThread] = weakref.WeakSet()


def running_threads() -> list[QThread]:
    """QThreads started by workers that have not finished yet (for tests and shutdown)."""
    alive = []
    for thread in list(_THREADS):
        try:
            if thread.isRunning():
                alive.append(thread)
        except RuntimeError:  # the C++ object is already gone: it cannot be running
            continue
    return alive


@dataclass
class RunUpdate:
    """What one ``yielded`` signal carries: the points since the last update and the latest image.

    ``image`` is the newest snapshot image (``None`` if none arrived since the last update);
    ``psnr``/``ssim``/``heatmap`` belong to that image.
    """

    step: int
    total: int
    elapsed: float
    points: list[CurvePoint] = field(default_factory=list)
    image: np.ndarray | None = None
    psnr: float | None = None
    ssim: float | None = None
    heatmap: np.ndarray | None = None
    message: str = ""
    snapshot: Snapshot | None = None

    @property
    def eta(self) -> float | None:
        """Seconds left, extrapolated from the progress so far (``None`` before any progress)."""
        if self.total <= 0 or self.step <= 0 or self.step >= self.total:
            return None if self.step < self.total else 0.0
        return self.elapsed * (self.total - self.step) / self.step


class ThreadWorker(QObject):
    """What both workers share: a QThread of their own, started once, and its state.

    A subclass defines the ``finished`` signal (emitted last, exactly once, by its ``run``), sets
    ``_done`` when ``run`` returns, and calls :meth:`_start_thread` from its ``start``.
    """

    finished: Any

    def __init__(self) -> None:
        super().__init__()
        self._thread: QThread | None = None
        self._done = threading.Event()
        self._cancelled = threading.Event()
        self._stopped = threading.Event()
        self.points: list[CurvePoint] = []

    def _start_thread(self, name: str) -> None:
        if self._thread is not None:
            raise RuntimeError("a worker runs once")
        thread = QThread()
        thread.setObjectName(name)
        self.moveToThread(thread)
        thread.started.connect(self.run)
        # quit() is thread-safe; a direct connection ends the thread's loop without waiting for
        # the UI thread to process an event.
        self.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread = thread
        _THREADS.add(thread)
        thread.start()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def is_running(self) -> bool:
        """True from ``start`` until the thread has ended."""
        return self._thread is not None and self._thread.isRunning()

    def is_done(self) -> bool:
        """True once ``run`` has returned (``finished`` was emitted)."""
        return self._done.is_set()

    def wait(self, msecs: int = -1) -> bool:
        """Block until the thread has ended (``msecs`` < 0: no limit); True if it has."""
        if self._thread is None:
            return True
        return bool(self._thread.wait() if msecs < 0 else self._thread.wait(msecs))

    def run(self) -> None:
        raise NotImplementedError


def _suggestions(snap: Snapshot) -> list[CurvePoint]:
    """A stopping rule that fired reports the iteration it suggests: a point marking that iteration."""
    marks = []
    for rule in curves.RULES:
        suggested = snap.info.get(curves.suggestion_key(rule)) if rule in snap.events else None
        if suggested is not None:
            marks.append(CurvePoint(step=int(suggested), events=(curves.suggestion_event(rule),)))
    return marks


class MethodWorker(ThreadWorker):
    """Drive ``method.run(noisy, params, ctx)`` in a worker thread.

    Signals
    -------
    yielded(RunUpdate)
        Throttled progress: batched curve points and the newest image with its metrics.
    returned(Result)
        The final result, measured; also after an early stop (:meth:`stop`).
    estimated(QualityEstimate)
        With ``estimate``, after ``returned``: the result's PSNR estimated without a reference
        (``core/quality.py``: two more runs of the method, here in the worker). The result is
        shown first; :meth:`stop` during these runs skips them, :meth:`cancel` drops the estimate.
    errored(str)
        A message (first line: what happened; then the traceback for a bug).
    aborted()
        The run was cancelled (:meth:`cancel`): its result is discarded.
    finished()
        Always last, exactly once.
    """

    yielded = Signal(object)
    returned = Signal(object)
    estimated = Signal(object)
    errored = Signal(str)
    aborted = Signal()
    finished = Signal()

    def __init__(
        self,
        method: Method[Any],
        noisy: np.ndarray,
        params: Params,
        *,
        seed: int = 0,
        device: str = "cpu",
        reference: np.ndarray | None = None,
        history: Any = None,
        image_rate_hz: float = IMAGE_RATE_HZ,
        ssim_live: bool = True,
        estimate: bool = False,
        noise: dict[str, Any] | None = None,
        source: str | None = None,
        origin: tuple[int, int] = (0, 0),
    ) -> None:
        super().__init__()
        self.method = method
        self.noisy = noisy
        self.params = params
        self.reference = reference if reference is not None and reference.shape == noisy.shape else None
        self.ctx = RunContext(seed=seed, device=device, reference=self.reference, history=history, origin=origin)
        self._interval = 1.0 / image_rate_hz if image_rate_hz > 0 else 0.0
        self._ssim_live = ssim_live
        #: Estimate the PSNR without a reference; ``noise`` is the session's synthetic noise
        #: (``{"model", "sigma", ...}``, None for a real photo) and ``source`` the input's file.
        self._estimate, self._noise, self._source = estimate, noise, source

    # -- control (called from the UI thread; thread-safe) -------------------------------------

    def start(self) -> None:
        """Move to a new QThread and start running there."""
        self._start_thread(f"worker-{self.method.id}")

    def stop(self) -> None:
        """End the run early and keep its result (the method yields a final snapshot)."""
        self._stopped.set()
        self.ctx.request_stop()

    def cancel(self) -> None:
        """End the run and discard its result."""
        self._cancelled.set()
        self.ctx.request_stop()

    def pause(self) -> None:
        self.ctx.pause()

    def resume(self) -> None:
        self.ctx.resume()

    @property
    def paused(self) -> bool:
        return self.ctx.paused

    # -- the run (in the worker thread) --------------------------------------------------------

    @Slot()
    def run(self) -> None:
        """Pull snapshots until the final one; emit updates, then one of returned/aborted/errored."""
        start = time.perf_counter()
        last_emit = -math.inf
        pending: list[CurvePoint] = []
        latest: Snapshot | None = None
        latest_psnr: float | None = None
        final: Snapshot | None = None
        _lower_thread_priority(WORKER_NICENESS)  # read at run time: the benchmark varies it
        try:
            sigma_noisy = metrics.estimate_noise_sigma(self.noisy) if self.reference is None else None
            for snap in self.method.run(self.noisy, self.params, self.ctx):
                point = CurvePoint(step=snap.step, loss=snap.loss, scalars=dict(snap.scalars), events=tuple(snap.events))
                if snap.image is not None and self.reference is not None and not snap.final:
                    # PSNR is cheap (a few ms at 512²): measured on every image for the label, and
                    # plotted unless the method reports its own PSNR against the reference.
                    latest_psnr = metrics.psnr(snap.image, self.reference)
                    if not any(curves.is_reference_psnr(key) for key in snap.scalars):
                        point.scalars.setdefault(curves.PSNR, latest_psnr)
                if snap.image is not None:
                    latest = snap
                if point.loss is not None or point.scalars or point.events:
                    pending.append(point)
                    self.points.append(point)
                for suggestion in _suggestions(snap):
                    pending.append(suggestion)
                    self.points.append(suggestion)
                if snap.final:
                    final = snap
                    break
                now = time.perf_counter()
                if now - last_emit >= self._interval and not self._cancelled.is_set():
                    last_emit = now
                    self.yielded.emit(self._update(snap, pending, latest, latest_psnr, now - start))
                    pending = []
                    latest = None
            elapsed = time.perf_counter() - start
            if self._cancelled.is_set():
                self.aborted.emit()
                return
            if final is None or final.image is None:
                raise MethodError(f"{self.method.id} ended without a result")
            if pending:
                self.yielded.emit(RunUpdate(final.step, final.total, elapsed, points=pending))
            result = self._result(final, elapsed, sigma_noisy)
            self.returned.emit(result)
            if self._estimate:
                estimate = self._estimate_quality(result.image, final, elapsed)
                if not self._cancelled.is_set():
                    self.estimated.emit(estimate)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message, never a crash
            if self._cancelled.is_set():
                self.aborted.emit()
            elif isinstance(exc, (MethodError, ValueError, MemoryError)):
                self.errored.emit(f"{self.method.title}: {exc}")
            else:
                self.errored.emit(f"{self.method.title} failed: {exc}\n\n{traceback.format_exc()}")
        finally:
            self._done.set()
            self.finished.emit()

    def _update(
        self,
        snap: Snapshot,
        points: list[CurvePoint],
        latest: Snapshot | None,
        latest_psnr: float | None,
        elapsed: float,
    ) -> RunUpdate:
        update = RunUpdate(snap.step, snap.total, elapsed, points=points, message=snap.message, snapshot=latest)
        if latest is not None and latest.image is not None:
            image = latest.image
            update.image = image
            measured = measure(image, self.noisy, self.reference, with_ssim=self._ssim_live)
            update.psnr = latest_psnr if self.reference is not None else None
            update.ssim, update.heatmap = measured.ssim, measured.heatmap
        return update

    def _estimate_quality(self, image: np.ndarray, final: Snapshot, elapsed: float) -> Any:
        """Monte-Carlo SURE of ``image`` (``core/quality.py``), in this thread: two more runs."""
        from denoise_studio.core import quality

        noise = self._noise or {}
        reason = quality.noise_validity(noise.get("model"), iterative=self.method.iterative, source=self._source)
        if reason is not None:
            return quality.not_valid(reason)
        self.yielded.emit(RunUpdate(final.step, final.total, elapsed, message="Estimating the PSNR without a reference (two more runs)…"))

        def denoiser(probed: np.ndarray) -> np.ndarray:
            # The same stop event: Stop or Cancel ends a probe run too, not only after it.
            probe_ctx = RunContext(seed=self.ctx.seed, device=self.ctx.device, stop_event=self.ctx.stop_event, origin=self.ctx.origin)
            snap = run_to_end(self.method, probed, self.params, probe_ctx)
            return np.clip(snap.image, 0.0, 1.0)  # type: ignore[arg-type]  # as the result is (run_to_end checks the image)

        try:
            return quality.estimate_psnr(self.noisy, image, denoiser, sigma=noise.get("sigma"), noise_model=noise.get("model"),
                                         source=self._source, seed=self.ctx.seed, should_continue=self._may_estimate)
        except (UserError, MethodError, ValueError, MemoryError) as exc:
            return quality.not_valid(f"the estimate failed: {exc}")

    def _may_estimate(self) -> bool:
        return not (self._cancelled.is_set() or self._stopped.is_set())

    def _run_info(self, final: Snapshot) -> dict[str, Any]:
        """The method's ``info`` and the torch threads the run had (its own, or the process's)."""
        from denoise_studio.core.device import torch_threads

        info = dict(final.info)
        info.setdefault("threads", self.method.threads_asked(self.params) or torch_threads())
        return info

    def _result(self, final: Snapshot, elapsed: float, sigma_noisy: float | None) -> Result:
        image = np.clip(final.image, 0.0, 1.0).astype(np.float32, copy=False)  # type: ignore[arg-type]
        result = Result(
            method_id=self.method.id,
            method_title=self.method.title,
            params=self.params,
            image=image,
            seed=self.ctx.seed,
            device=self.ctx.device,
            elapsed=elapsed,
            stopped_early=self._stopped.is_set(),
            sigma_noisy=sigma_noisy,
            final_step=final.step,
            info=self._run_info(final),
            message=final.message,
            maps=dict(final.maps),
            points=list(self.points),
        )
        result.apply(measure(image, self.noisy, self.reference, with_sigma=self.reference is None))
        return result


def _lower_thread_priority(niceness: int) -> None:
    """Raise the calling thread's niceness by ``niceness`` where the OS allows it (Linux)."""
    if niceness <= 0 or not hasattr(os, "setpriority") or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + niceness))
    except OSError:  # not permitted in some sandboxes: run at the normal priority
        pass


# ============================================================================== training


@dataclass
class TrainUpdate:
    """What one ``progressed`` signal of a :class:`TrainWorker` carries: batched curve points.

    Each point's ``loss`` is the training loss; validation PSNR comes as the scalar
    ``psnr_validation`` (plotted on the curve dock's quality plot).
    """

    step: int
    total: int
    elapsed: float  # seconds
    points: list[CurvePoint] = field(default_factory=list)
    best_psnr: float | None = None
    message: str = ""


class TrainWorker(ThreadWorker):
    """Drive ``Trainer(job, stop_event).run()`` (``training/loop.py``) in a worker thread.

    The trainer is built in the worker thread too (it decodes the images and builds the
    network), so the UI thread never waits.

    Signals
    -------
    progressed(TrainUpdate)
        Throttled progress with every loss and validation point since the last update.
    returned(object)
        The ``TrainResult`` (weights path and model card); also after :meth:`stop`, which keeps
        the best weights so far.
    errored(str)
        A user message (bad data, a supervised method without clean images) or a bug's traceback.
    aborted()
        :meth:`cancel`: nothing is written (a checkpoint written meanwhile is removed).
    finished()
        Always last, exactly once.
    """

    progressed = Signal(object)
    returned = Signal(object)
    errored = Signal(str)
    aborted = Signal()
    finished = Signal()

    def __init__(self, job: Any, *, update_rate_hz: float = 10.0) -> None:
        super().__init__()
        self.job = job
        self._interval = 1.0 / update_rate_hz if update_rate_hz > 0 else 0.0
        self._stop_event = threading.Event()

    def start(self) -> None:
        """Move to a new QThread and start training there."""
        self._start_thread(f"train-{self.job.method_id}")

    def stop(self) -> None:
        """End training at the next step and keep (write) the best weights so far."""
        self._stopped.set()
        self._stop_event.set()

    def cancel(self) -> None:
        """End training at the next step and write nothing.

        The stop event is not set: the trainer yields after every step, and the loop closes
        the generator there, before the trainer would reach its end and write the weights.
        """
        self._cancelled.set()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    @Slot()
    def run(self) -> None:
        from denoise_studio.training.loop import Trainer

        start = time.perf_counter()
        last_emit = -math.inf
        pending: list[CurvePoint] = []
        best: float | None = None
        _lower_thread_priority(WORKER_NICENESS)
        checkpoint = self.job.checkpoint or (self.job.out.with_suffix(".ckpt") if self.job.out is not None else None)
        trainer = None
        try:
            trainer = Trainer(self.job, self._stop_event)
            progress_iter = trainer.run()
            try:
                for progress in progress_iter:
                    if self._cancelled.is_set():
                        break  # closing the generator below skips the weights it would write
                    if progress.final:
                        break
                    scalars = {curves.PSNR_VALIDATION: float(progress.val_psnr)} if progress.val_psnr is not None else {}
                    point = CurvePoint(step=progress.step, loss=progress.loss, scalars=scalars)
                    pending.append(point)
                    self.points.append(point)
                    best = progress.best_psnr
                    now = time.perf_counter()
                    if now - last_emit >= self._interval:
                        last_emit = now
                        self.progressed.emit(TrainUpdate(progress.step, progress.total, now - start, pending, best))
                        pending = []
            finally:
                progress_iter.close()
            if self._cancelled.is_set():
                _discard(checkpoint, trainer.result.weights if trainer.result is not None else None)
                self.aborted.emit()
                return
            result = trainer.result
            if pending and result is not None:
                self.progressed.emit(TrainUpdate(result.steps, trainer.total, time.perf_counter() - start, pending, best))
            self.returned.emit(result)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message, never a crash
            if self._cancelled.is_set():
                _discard(checkpoint, None)
                self.aborted.emit()
            elif isinstance(exc, (ValueError, MemoryError)):  # TrainingError, DataError are ValueErrors
                self.errored.emit(f"Training {self.job.method_id}: {exc}")
            else:
                self.errored.emit(f"Training {self.job.method_id} failed: {exc}\n\n{traceback.format_exc()}")
        finally:
            if trainer is not None:
                trainer.close()
            self._done.set()
            self.finished.emit()


def _discard(checkpoint: Path | None, weights: Path | None) -> None:
    """Remove what a cancelled training run may have written (checkpoint; weights and card)."""
    paths = [checkpoint]
    if weights is not None:
        from denoise_studio.core.weights import card_path

        paths += [Path(weights), card_path(weights)]
    for path in paths:
        if path is not None:
            Path(path).unlink(missing_ok=True)


# ============================================================================== folders


class BatchWorker(ThreadWorker):
    """Walk ``core.batch.process_folder`` in a worker thread ("Apply to folder…").

    Signals
    -------
    progressed(object, int, int)
        A file's ``FileOutcome``, its index (1-based) and the number of files.
    returned(object)
        Every outcome, once the walk ended (also after :meth:`stop`, which lets the current
        file finish and starts no other).
    errored(str)
        A bug's message (a bad file is an outcome, not an error).
    finished()
        Always last, exactly once.
    """

    progressed = Signal(object, int, int)
    returned = Signal(object)
    errored = Signal(str)
    finished = Signal()

    def __init__(self, method: Method[Any], inputs: list[Path], out_dir: Path, params: Params, *, seed: int, device: str) -> None:
        super().__init__()
        self.method, self.inputs, self.out_dir, self.params = method, inputs, out_dir, params
        self.seed, self.device = seed, device
        self._stop_event = threading.Event()

    def start(self) -> None:
        self._start_thread(f"batch-{self.method.id}")

    def stop(self) -> None:
        """Finish the current file and start no other."""
        self._stopped.set()
        self._stop_event.set()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    @Slot()
    def run(self) -> None:
        from denoise_studio.core.batch import process_folder

        outcomes = []
        _lower_thread_priority(WORKER_NICENESS)
        try:
            walk = process_folder(self.method, self.inputs, self.out_dir, lambda _pixels: self.params, seed=self.seed,
                                  device=self.device, stop=self._stop_event)
            for index, outcome in enumerate(walk, start=1):
                outcomes.append(outcome)
                self.progressed.emit(outcome, index, len(self.inputs))
            self.returned.emit(outcomes)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message, never a crash
            self.errored.emit(f"Apply to folder failed: {exc}\n\n{traceback.format_exc()}")
        finally:
            self._done.set()
            self.finished.emit()

