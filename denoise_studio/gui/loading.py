"""What loads behind the window: the methods after it shows, and large images as they open.

Start-up: the window shows at once with every method listed by name, greyed out. A
:class:`MethodLoading` imports the method modules (and torch, bm3d, scikit-image, PyWavelets
with them) in a worker thread and pays torch's lazy start-up there (``warm_up``); then it fills
the method list and the Train dock and enables Run. Until then Run is disabled and says why, and
no run can start (``run_setup.prepare_run``).

Images: a file of more than :data:`LARGE_IMAGE_PIXELS` pixels is decoded, its noise σ estimated
and its display pixels made in a worker thread by :class:`ImageLoading`; the window keeps the old
image, with "Loading NAME…" in the status bar, until the new one arrives. Smaller images open at
once.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer, Signal, Slot
from PySide6.QtGui import QImageReader

from denoise_studio.core.errors import UserError
from denoise_studio.core.image import SAMPLE_PREFIX, ImageData, load_image
from denoise_studio.core.metrics import estimate_noise_sigma
from denoise_studio.gui.method_selector import MethodChoice, load_choices
from denoise_studio.gui.viewer_panes import to_display
from denoise_studio.gui.worker import ThreadWorker

if TYPE_CHECKING:
    from denoise_studio.gui.main_window import MainWindow

#: Images with more pixels than this are decoded in the background (4000×3000 takes about 1 s
#: to decode and estimate on the development machine; 8000×6000 took the window away for 10 s).
LARGE_IMAGE_PIXELS = 4_000_000
#: Files whose size Qt cannot read from the header (camera RAW) count as large above this.
LARGE_FILE_BYTES = 16 << 20

#: The methods start loading at the window's first paint, or this long after it was made.
LATEST_START_MS = 1000

LOADING_TOOLTIP = "The methods are still loading (torch and the method modules); Run waits for them"


class CallWorker(ThreadWorker):
    """Call ``job()`` once in a worker thread (the methods' loading, a large image's decoding).

    Signals: ``returned(object)`` what it returned, or ``failed(object)`` the exception it raised
    (the receiver words it for the user); then ``finished()``, always last, exactly once.
    """

    returned = Signal(object)
    failed = Signal(object)
    finished = Signal()

    def __init__(self, job: Callable[[], Any], name: str) -> None:
        super().__init__()
        self.job, self.name = job, name

    def start(self) -> None:
        self._start_thread(self.name)

    @Slot()
    def run(self) -> None:
        try:
            self.returned.emit(self.job())
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the UI thread
            self.failed.emit(exc)
        finally:
            self._done.set()
            self.finished.emit()


def loads_in_background(source: str) -> bool:
    """True for a file too large to decode on the UI thread (read from its header, not decoded)."""
    if source.startswith(SAMPLE_PREFIX):
        return False
    size = QImageReader(source).size()
    if size.isValid():
        return size.width() * size.height() > LARGE_IMAGE_PIXELS
    try:
        return Path(source).stat().st_size > LARGE_FILE_BYTES
    except OSError:
        return False  # opened at once, where the error is worded


def open_error(source: str, exc: BaseException) -> str:
    """What the user reads when ``source`` cannot be opened."""
    if isinstance(exc, UserError):
        return str(exc)
    return f"{source}: cannot open ({type(exc).__name__}: {exc})"  # a loader bug must not take the window down


@dataclass
class DecodedImage:
    """What an image's loading thread hands the window: each part takes seconds on 48 megapixels."""

    data: ImageData
    sigma: float  # its estimated noise σ (the Metrics dock's baseline)
    painted: np.ndarray  # the pixels the viewer paints (``to_display``)


def decode_image(source: str) -> DecodedImage:
    """In a worker thread: the image, its noise σ and its display pixels."""
    data = load_image(source)
    painted = to_display(data.pixels, data.metadata.get("icc_profile"), data.alpha)
    return DecodedImage(data, estimate_noise_sigma(data.pixels), painted)


@dataclass
class LoadedMethods:
    """What the methods' loading thread hands the window."""

    choices: dict[str, MethodChoice]
    devices: list[str]  # the compute devices torch found, best first


def load_methods() -> LoadedMethods:
    """In a worker thread: every registered method, loaded; the devices; torch's first optimiser
    step; the timing of this CPU for the cost estimates (``methods.calibrate_costs``).

    The garbage collector is off meanwhile: its collections over the objects torch creates hold
    the GIL, and froze the window for 0.4 s more while loading. What was loaded lives as long as
    the window, so it is frozen out of later collections (see ``freeze_startup_objects``).
    """
    from denoise_studio.core.device import available_devices
    from denoise_studio.gui.application import warm_up
    from denoise_studio.methods import calibrate_costs

    automatic = gc.isenabled()  # off for good where the event loop collects (gui/event_loop_gc.py)
    gc.disable()
    try:
        loaded = LoadedMethods(load_choices(), available_devices())
        warm_up()
        calibrate_costs()
    finally:
        gc.freeze()  # before enabling: else the first collection scans all of it at once
        if automatic:
            gc.enable()
    return loaded


class MethodLoading(QObject):
    """Loads the methods behind the window (see the module docstring).

    Signals
    -------
    loaded()
        Loading ended (the methods are listed; or it failed, and an error box said why).
    """

    loaded = Signal()

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.worker: CallWorker | None = None
        self._pending = False
        self._callbacks: list[Callable[[], Any]] = []
        self._run_tooltip = window.run_button.toolTip()
        self._start_timer = QTimer(self)  # a child: it goes with the window, never fires after it
        self._start_timer.setSingleShot(True)
        self._start_timer.timeout.connect(self._start_worker)

    def is_loading(self) -> bool:
        return self._pending

    def start(self) -> None:
        """Show the loading state; load once the window has painted (or within a second at most).

        On one busy core a loading thread that starts earlier takes half the CPU, and the GIL for
        whole C-level imports, from the window's own start-up: it then shows seconds later.
        """
        window = self.window
        self._pending = True
        window.method_dock.method_title.setText("Loading methods…")
        window.method_dock.method_description.setText("torch and the method modules load behind the window; Run is ready when they are.")
        window.method_dock.method_description.setVisible(True)
        window.run_button.setEnabled(False)
        window.run_button.setToolTip(LOADING_TOOLTIP)
        window.run_action.setEnabled(False)
        window.installEventFilter(self)
        self._start_timer.start(LATEST_START_MS)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Paint:
            self.window.removeEventFilter(self)
            self._start_timer.start(0)  # after this paint is on screen
        return False

    @Slot()
    def _start_worker(self) -> None:
        self._start_timer.stop()
        self.window.removeEventFilter(self)
        if self.worker is not None or not self._pending:
            return
        # Now, not before the window is visible: the status bar hides its image label only then.
        self.window.statusBar().showMessage("Loading torch and the methods…")
        worker = self.worker = CallWorker(load_methods, "load-methods")
        worker.returned.connect(self._on_returned)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(self._on_finished)
        worker.start()

    def when_loaded(self, callback: Callable[[], Any]) -> None:
        """Call ``callback`` once the methods are loaded (now, if they are)."""
        if self._pending:
            self._callbacks.append(callback)
        else:
            callback()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Run the event loop (the window answers) until loading ended; False after ``timeout_s``."""
        if self._pending:
            self._start_worker()
            loop = QEventLoop()
            self.loaded.connect(loop.quit)
            if timeout_s is not None:
                QTimer.singleShot(int(timeout_s * 1000), loop.quit)
            loop.exec()
        return not self._pending

    def join(self) -> None:
        """Block until the loading thread has ended (on close: a thread must not outlive the window).

        A loading that has not started yet never starts."""
        self._start_timer.stop()
        self.window.removeEventFilter(self)
        if self.worker is not None:
            self.worker.wait()

    @Slot(object)
    def _on_returned(self, loaded: LoadedMethods) -> None:
        window, choices = self.window, loaded.choices
        window.device_picker.set_devices(loaded.devices)
        window.choices.clear()
        window.choices.update(choices)  # the dict the Method dock and its selector hold
        window.method_dock.selector.reload()
        window.train_dock.set_choices(window.choices)
        window.method_dock.method_title.setText("")
        window.method_dock.method_description.setText("")
        window.run_button.setToolTip(self._run_tooltip)
        window.run_view.set_running(False)
        seed = window.seed_spin.value()  # select_initial reads the saved one: keep what the user chose meanwhile
        window.method_dock.select_initial()
        window.seed_spin.setValue(seed)
        ready = sum(choice.available for choice in choices.values())
        window.statusBar().showMessage(f"{ready} methods ready", 5000)
        self._settle()

    @Slot(object)
    def _on_failed(self, exc: object) -> None:
        self.window.method_dock.method_title.setText("The methods could not be loaded")
        self.window.show_error(f"The methods could not be loaded: {exc}")
        self._settle()

    def _settle(self) -> None:
        self._pending = False
        callbacks, self._callbacks = self._callbacks, []
        self.loaded.emit()
        for callback in callbacks:
            callback()

    @Slot()
    def _on_finished(self) -> None:
        if self.worker is not None:
            self.worker.wait()  # finished is emitted just before the thread ends


class ImageLoading(QObject):
    """Opens images for the window: large ones decoded in worker threads, only the newest shown."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.source: str | None = None  # the image on its way
        self._current: CallWorker | None = None
        self._workers: list[CallWorker] = []  # every thread not yet joined, superseded ones too

    def is_loading(self) -> bool:
        return self.source is not None

    def open(self, source: str, wait: bool = False) -> bool:
        """The window's ``open_image``: a large file in the background (unless ``wait``), others at once."""
        if not wait and loads_in_background(source):
            self.start(source)
            return True
        self.source = self._current = None  # a background load still under way is superseded
        try:
            data = load_image(source)
        except Exception as exc:  # noqa: BLE001 - a loader bug must not take the window down
            self.window.show_error(open_error(source, exc), "Cannot open the image")
            return False
        self.window.show_opened(data, source)
        return True

    def start(self, source: str) -> None:
        """Decode ``source`` in a worker thread; the window's ``show_opened`` follows (or an error box)."""
        worker = self._current = CallWorker(partial(decode_image, source), "load-image")
        worker.returned.connect(self._on_returned)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(self._on_finished)
        self._workers.append(worker)
        self.source = source
        self.window.statusBar().showMessage(f"Loading {Path(source).name}…")
        worker.start()

    def join(self) -> None:
        """Block until every decoding thread has ended (on close)."""
        for worker in self._workers:
            worker.wait()
        self._workers.clear()

    @Slot(object)
    def _on_returned(self, decoded: DecodedImage) -> None:
        source = self.source
        if self.sender() is not self._current or source is None:
            return  # a newer image was asked for meanwhile
        self.source = self._current = None
        self.window.statusBar().clearMessage()
        self.window.viewer.paint_ahead(decoded.data.pixels, decoded.painted)
        self.window.show_opened(decoded.data, source, noise_sigma=decoded.sigma)

    @Slot(object)
    def _on_failed(self, exc: BaseException) -> None:
        source = self.source
        if self.sender() is not self._current or source is None:
            return
        self.source = self._current = None
        self.window.show_error(open_error(source, exc), "Cannot open the image")

    @Slot()
    def _on_finished(self) -> None:
        for worker in [w for w in self._workers if w.is_done()]:
            worker.wait()
            self._workers.remove(worker)
