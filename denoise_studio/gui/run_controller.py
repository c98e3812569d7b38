"""The lifecycle of the window's jobs: at most one method run, and the Train dock's training.

:class:`RunController` starts a :class:`~denoise_studio.gui.worker.MethodWorker`, forwards its
signals while it is the current run, and retires it when the input changes under it: a retired
run is cancelled for good and ends in the background (a one-shot method such as BM3D cannot stop
mid-way), and the UI thread never waits for it. Training runs in the Train dock's own
``TrainWorker``; the controller answers for both whether a new job may start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from denoise_studio.core.method import Method
from denoise_studio.core.params import Params
from denoise_studio.core.result import Result
from denoise_studio.gui.worker import BatchWorker, MethodWorker, RunUpdate


class RunController(QObject):
    """Owns the current :class:`MethodWorker` and the retired ones.

    Signals (of the current run only; a retired run's late signals are dropped)
    -------
    yielded(RunUpdate), returned(Result), estimated(QualityEstimate), errored(str), aborted()
        As the worker's.
    finished()
        The current run's thread has ended; :attr:`worker` is ``None`` again.
    """

    yielded = Signal(object)
    returned = Signal(object)
    estimated = Signal(object)
    errored = Signal(str)
    aborted = Signal()
    finished = Signal()

    def __init__(self, training_busy: Callable[[], bool] | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker: MethodWorker | None = None
        #: The "Apply to folder…" walk, when one runs (one job at a time, as for runs).
        self.batch: BatchWorker | None = None
        #: Cancelled runs still ending in the background; each is joined once it has finished.
        self.retired: list[MethodWorker] = []
        self._training_busy = training_busy or (lambda: False)

    # -- questions ----------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.worker is not None or self.batch is not None

    def busy_reason(self) -> str | None:
        """Why no new job may start now (a run, a folder or a training is going on), or ``None``."""
        if self.worker is not None:
            return "A run is already in progress: stop or cancel it first."
        if self.batch is not None:
            return "A folder is being processed: cancel it first."
        if self._training_busy():
            return "Training is running (Train dock): stop or cancel it first."
        return None

    @property
    def paused(self) -> bool:
        return self.worker is not None and self.worker.paused

    # -- control ------------------------------------------------------------------------------

    def start(self, method: Method[Any], noisy: np.ndarray, params: Params, *, seed: int, device: str,
              reference: np.ndarray | None, history: Any = None, noise: dict[str, Any] | None = None,
              source: str | None = None, origin: tuple[int, int] = (0, 0)) -> MethodWorker:
        """Start ``method`` in a new worker thread; the caller checked :meth:`busy_reason`.

        The result's PSNR is also estimated without the reference (``noise``: the session's
        synthetic noise, or None for a real photo; ``source``: the input's file). ``origin`` is
        where ``noisy`` starts in the image (a region's top and left).
        """
        if self.worker is not None:
            raise RuntimeError("a run is already in progress")
        worker = MethodWorker(method, noisy, params, seed=seed, device=device, reference=reference, history=history,
                              estimate=True, noise=noise, source=source, origin=origin)
        worker.yielded.connect(self._on_yielded)
        worker.returned.connect(self._on_returned)
        worker.estimated.connect(self._on_estimated)
        worker.errored.connect(self._on_errored)
        worker.aborted.connect(self._on_aborted)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        worker.start()
        return worker

    def start_batch(self, batch: BatchWorker) -> None:
        """Start a folder walk; its signals go to the caller, the end to :meth:`_on_batch_finished`."""
        if self.is_running():
            raise RuntimeError("a job is already in progress")
        batch.finished.connect(self._on_batch_finished)
        self.batch = batch
        batch.start()

    def stop(self) -> bool:
        """End the run early and keep its result (a folder: after the current file); False when nothing runs."""
        if self.batch is not None:
            self.batch.stop()
            return True
        if self.worker is None:
            return False
        self.worker.stop()
        return True

    def cancel(self, wait: bool = False) -> bool:
        """Cancel the run and discard its result; with ``wait`` block until its thread ended."""
        if self.batch is not None:  # a folder stops after its current file; what is written stays
            self.batch.stop()
            if wait:
                self.batch.wait()
                self._on_batch_finished()
            return True
        worker = self.worker
        if worker is None:
            return False
        worker.cancel()
        if wait:
            worker.wait()
            self._on_finished()
        return True

    def pause(self, paused: bool) -> None:
        if self.worker is not None:
            (self.worker.pause if paused else self.worker.resume)()

    def retire(self) -> bool:
        """Cancel the run for good and let it end in the background, without waiting for it."""
        worker = self.worker
        if worker is None:
            return False
        worker.cancel()
        for signal, slot in ((worker.yielded, self._on_yielded), (worker.returned, self._on_returned),
                             (worker.estimated, self._on_estimated), (worker.errored, self._on_errored), (worker.aborted, self._on_aborted),
                             (worker.finished, self._on_finished)):
            signal.disconnect(slot)
        worker.finished.connect(self._on_retired_finished)
        self.retired.append(worker)
        self.worker = None
        return True

    def wait_for_retired(self) -> None:
        """Block until every retired run has ended (on close, and in tests)."""
        for worker in self.retired:
            worker.wait()
        self.retired.clear()

    # -- the worker's signals (main thread) ------------------------------------------------------

    @Slot(object)
    def _on_yielded(self, update: RunUpdate) -> None:
        if self.worker is not None and not self.worker.cancelled:
            self.yielded.emit(update)

    @Slot(object)
    def _on_returned(self, result: Result) -> None:
        if self.sender() is self.worker:
            self.returned.emit(result)

    @Slot(object)
    def _on_estimated(self, estimate: object) -> None:
        if self.sender() is self.worker:
            self.estimated.emit(estimate)

    @Slot(str)
    def _on_errored(self, message: str) -> None:
        if self.sender() is self.worker:
            self.errored.emit(message)

    @Slot()
    def _on_aborted(self) -> None:
        if self.sender() is self.worker:
            self.aborted.emit()

    @Slot()
    def _on_finished(self) -> None:
        self._join("worker")

    @Slot()
    def _on_batch_finished(self) -> None:
        self._join("batch")

    def _join(self, attribute: str) -> None:
        """The current job (``worker`` or ``batch``) has finished: join its thread, then say so."""
        job = getattr(self, attribute)
        if job is None:
            return
        job.wait()  # finished is emitted just before the thread ends
        setattr(self, attribute, None)
        self.finished.emit()

    @Slot()
    def _on_retired_finished(self) -> None:
        for worker in [w for w in self.retired if w.is_done()]:
            worker.wait()
            self.retired.remove(worker)
