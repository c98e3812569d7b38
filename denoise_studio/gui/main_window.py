"""The Studio window: the docks around the image viewer, and the wiring between them.

The rooms: the session (input, noisy image, reference) is a :class:`~denoise_studio.core.session.Session`;
runs are started, stopped and retired by the :class:`~denoise_studio.gui.run_controller.RunController`;
the Method dock, the comparison of A and B, the time machine's iterates, the exports and the
session on disk each have their own module. Methods are reached only through the registry.
Errors become message boxes, never crashes.

Every user action has a plain method taking explicit arguments (``open_image``, ``add_noise``,
``start_run``, ``export_result``, ...) that the menus call after their dialogs; the tests and
``denoise-studio gui --screenshot`` drive those methods directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox, QVBoxLayout, QWidget

from denoise_studio.core.errors import UserError
from denoise_studio.core.image import DEFAULT_SAMPLE, SAMPLE_PREFIX, ImageData, load_image
from denoise_studio.core.params import Params
from denoise_studio.core.result import Region, Result
from denoise_studio.core.session import Session
from denoise_studio.core.session_store import SessionStore
from denoise_studio.gui.compare import INPUT, REFERENCE, Compare, result_key
from denoise_studio.gui.curve_dock import CurveDock
from denoise_studio.gui.device_picker import DevicePicker
from denoise_studio.gui.exports import Exports
from denoise_studio.gui.first_use import FirstUseAdvice
from denoise_studio.gui.folder_runs import FolderRuns
from denoise_studio.gui.grid_runs import GridRuns
from denoise_studio.gui.image_viewer import ImageViewer
from denoise_studio.gui.iterates import Iterates
from denoise_studio.gui.loading import ImageLoading, MethodLoading
from denoise_studio.gui.menus import build_menus
from denoise_studio.gui.method_dock import MethodDock
from denoise_studio.gui.method_selector import MethodChoice, placeholder_choices
from denoise_studio.gui.metrics_view import MetricsView
from denoise_studio.gui.qt_compat import install_refcount_guard
from denoise_studio.gui.results import ResultsPanel
from denoise_studio.gui.run_controller import RunController
from denoise_studio.gui.run_setup import cost_is_acceptable, new_history, prepare_run
from denoise_studio.gui.run_view import RunView
from denoise_studio.gui.session_keeper import SessionKeeper
from denoise_studio.gui.time_machine import TimeMachine
from denoise_studio.gui.train_dock import TrainDock
from denoise_studio.gui.worker import MethodWorker

APP_NAME = "Denoise Studio"
ORGANIZATION = "DenoiseStudio"
MAX_RECENT = 10


class MainWindow(QMainWindow):
    """The Studio window.

    Signals
    -------
    run_finished()
        A run ended (result, cancel or error); the worker's thread has stopped.
    result_added(int)
        A result entry was added (its id).
    image_loaded(str)
        A new input image is shown (its source).
    """

    run_finished = Signal()
    result_added = Signal(int)
    image_loaded = Signal(str)

    def __init__(
        self,
        settings: QSettings | None = None,
        choices: dict[str, MethodChoice] | None = None,
        initial: str | None = SAMPLE_PREFIX + DEFAULT_SAMPLE,
        restore_layout: bool = True,
        session_dir: Path | str | None = None,
    ) -> None:
        super().__init__()
        install_refcount_guard()  # PySide6 6.12.0 drops references to None and True
        self.settings = settings if settings is not None else QSettings(ORGANIZATION, APP_NAME)
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.resize(1480, 940)

        self.session = Session()
        self.last_error: str | None = None
        self._error_box: QMessageBox | None = None
        self.run_region: Region | None = None  # the region of the current run, None for the whole image
        # Ask before runs that need much memory or time (off in screenshots and scripted use).
        self.confirm_costly_runs = True

        # The device and threads of runs, in the status bar (the devices follow once torch loaded).
        self.device_picker = DevicePicker(self.settings, devices=None if choices is not None else ["cpu"])
        self.choices = choices if choices is not None else placeholder_choices()  # loaded behind the window
        self.exports = Exports(self)
        self.folders = FolderRuns(self)
        self.run_view = RunView(self)
        self.iterates = Iterates(self)
        self.compare_state = Compare(self)
        self.session_keeper = SessionKeeper(self, SessionStore(session_dir) if session_dir is not None else None)

        self._build_central()
        self._build_docks()
        self.runs = RunController(training_busy=self.train_dock.is_training, parent=self)
        self._connect_runs()
        self.grid_runs = GridRuns(self)  # Run → Compare in a grid: its queue, and its tab beside the viewer
        self._build_status_bar()
        self.first_use = FirstUseAdvice(self)  # the weights' noise and a region before a long run, in the Method dock
        self.menu_actions = build_menus(self)
        self.method_loading, self.image_loading = MethodLoading(self), ImageLoading(self)
        if choices is None:
            self.method_loading.start()
        self.viewer.mode_changed.connect(self._on_viewer_mode)
        self._default_state = self.saveState()
        if restore_layout:
            self._restore_settings()
        self.method_dock.select_initial()
        if initial:
            self.open_image(initial)

    # ================================================================================ building

    def _build_central(self) -> None:
        self.viewer = ImageViewer()
        self.viewer.region_selected.connect(self._on_region_selected)
        self.setCentralWidget(self.viewer)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        dock = self.method_dock = MethodDock(self.choices, self.settings)
        dock.method_changed.connect(self._on_method_changed)
        dock.run_button.clicked.connect(self.on_run_clicked)
        dock.whole_button.clicked.connect(self.run_whole_image)
        # The Method dock's controls, by the names the tests and scripts use.
        self.selector, self.seed_spin, self.region_check = dock.selector, dock.seed_spin, dock.region_check
        self.run_button, self.whole_button = dock.run_button, dock.whole_button
        self.method_dock_widget = self._dock("Method", "method_dock", dock, Qt.DockWidgetArea.LeftDockWidgetArea)

        self.metrics_view = MetricsView()
        self.metrics_dock = self._dock("Metrics", "metrics_dock", self.metrics_view, Qt.DockWidgetArea.RightDockWidgetArea)
        self.results_dock = self._dock("Results", "results_dock", self._results_widget(), Qt.DockWidgetArea.RightDockWidgetArea)
        self.splitDockWidget(self.metrics_dock, self.results_dock, Qt.Orientation.Vertical)
        self._build_curve_dock()
        self._build_train_dock()
        self.resizeDocks([self.method_dock_widget], [330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.metrics_dock], [340], Qt.Orientation.Horizontal)
        self.resizeDocks([self.metrics_dock, self.results_dock], [360, 420], Qt.Orientation.Vertical)
        self.resizeDocks([self.curve_dock], [290], Qt.Orientation.Vertical)

    def _results_widget(self) -> QWidget:
        widget = QWidget()
        layout = QVBoxLayout(widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.compare_state.row())
        self.a_combo, self.b_combo = self.compare_state.a_combo, self.compare_state.b_combo
        self.results = ResultsPanel(self.session.results)
        self.results.show_requested.connect(self.show_result)
        self.results.compare_requested.connect(self._on_compare_results)
        self.results.export_requested.connect(self.exports.export_ids_dialog)
        self.results.removed.connect(self._on_result_removed)
        self.results.apply_requested.connect(self.folders.ask_and_apply)
        layout.addWidget(self.results, 1)
        return widget

    def _build_curve_dock(self) -> None:
        self.curve_dock = CurveDock("Iteration curve", self)
        self.curve_dock.setFeatures(self.metrics_dock.features())
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.curve_dock)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)  # metrics: full height
        self.curve = self.curve_dock.panel
        self.curve.pause_toggled.connect(self._on_pause_toggled)
        self.time_machine = TimeMachine()
        self.curve.step_clicked.connect(self.time_machine.go_to)
        self.time_machine.step_chosen.connect(self.iterates.show_step)
        self.time_machine.keep_requested.connect(self.iterates.keep_step)
        self.curve.add_row(self.time_machine)
        self.curve.add_control(self.run_view.keep_label)
        self.curve.add_control(self.run_view.keep_combo)

    def _build_train_dock(self) -> None:
        """The Train dock (hidden until View → Train): network methods, trained in a TrainWorker."""
        dock = self.train_dock = TrainDock(self.choices, lambda: self.session.noisy, self, busy=self._training_blocked)
        dock.setFeatures(self.metrics_dock.features())
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.tabifyDockWidget(self.results_dock, dock)
        self.results_dock.raise_()
        dock.hide()
        view = self.run_view
        dock.training_started.connect(view.on_training_started)
        dock.training_progress.connect(view.on_training_progress)
        dock.weights_added.connect(view.on_weights_added)
        dock.training_ended.connect(view.on_training_ended)
        dock.training_failed.connect(view.on_training_failed)

    def _connect_runs(self) -> None:
        for name in ("yielded", "returned", "estimated", "errored", "aborted", "finished"):
            getattr(self.runs, name).connect(getattr(self.run_view, f"on_{name}"))

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.image_label = QLabel("")
        view = self.run_view
        self.progress, self.eta_label, self.keep_combo = view.progress, view.eta_label, view.keep_combo
        self.stop_button, self.cancel_button = view.job_buttons.stop_button, view.job_buttons.cancel_button
        bar.addWidget(self.image_label)
        for widget in (self.eta_label, self.progress, view.job_buttons, self.device_picker):
            bar.addPermanentWidget(widget)
        self.run_view.set_running(False)

    # ================================================================================ state

    device = property(lambda self: self.device_picker.device(), doc="The device of the next runs (the status bar's picker).")

    @property
    def source(self) -> str | None:
        return self.session.source

    @property
    def noisy(self) -> np.ndarray | None:
        return self.session.noisy

    @property
    def reference(self) -> np.ndarray | None:
        return self.session.reference

    @property
    def worker(self) -> MethodWorker | None:
        """The current run's worker (``None`` when nothing runs)."""
        return self.runs.worker

    @property
    def session_store(self) -> SessionStore | None:
        return self.session_keeper.store

    def is_running(self) -> bool:
        return self.runs.is_running()

    # ================================================================================ settings

    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def save_settings(self) -> None:
        """Window layout, last method and every method's parameters."""
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.method_dock.save_settings()
        self.settings.sync()

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [str(v) for v in ([value] if isinstance(value, str) else (value or []))]

    def last_folder(self) -> str:
        return str(self.settings.value("last_folder", str(Path.home())))

    def remember_folder(self, path: str) -> None:
        self.settings.setValue("last_folder", str(Path(path).parent))

    @Slot()
    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        for dock in (self.method_dock_widget, self.metrics_dock, self.results_dock, self.curve_dock):
            dock.setFloating(False)
            dock.show()

    def show_error(self, message: str, title: str = "Denoise Studio") -> None:
        """A non-blocking message box; the first paragraph is shown, the rest as details."""
        self.last_error = message
        head, _, details = message.partition("\n\n")
        box = QMessageBox(QMessageBox.Icon.Warning, title, head, QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self._error_box = box
        self.statusBar().showMessage(head.splitlines()[0] if head else "", 8000)

    # ================================================================================ images

    def open_image(self, source: str, wait: bool = False) -> bool:
        """Load a file or ``sample:NAME`` as the new input; on failure show why and change nothing.

        A large file is decoded in the background unless ``wait``; True then says it is on its way
        (``image_loaded`` follows, or an error box) and the old image stays until then."""
        return self.image_loading.open(source, wait)

    def show_opened(self, data: ImageData, source: str, noise_sigma: float | None = None) -> None:
        """The decoded image becomes the new input (its σ estimate given when it is known)."""
        self._retire_run()
        self.session.open(data, source, noise_sigma)
        self.results.set_store(self.session.results)  # a new image, a new list
        if not source.startswith(SAMPLE_PREFIX):
            self.remember_folder(source)
        recent = [source] + [r for r in self.recent_files() if r != source]
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self.setWindowTitle(f"{self.session.display_name()} — {APP_NAME}")
        self._input_changed(INPUT, None, fit=True)
        self.metrics_view.clear()
        self.curve.reset()
        self.image_loaded.emit(source)

    def add_noise(self, model: str = "gaussian", sigma: float = 25.0, seed: int = 0) -> None:
        """Add synthetic noise. The clean image becomes the reference (re-adding replaces the noise)."""
        if self.session.noisy is None:
            return
        try:
            self.session.add_noise(model, sigma, seed)
        except UserError as exc:
            self.show_error(f"Cannot add noise: {exc}")
            return
        self._retire_run()
        self._input_changed(INPUT, REFERENCE)

    def load_reference(self, source: str) -> bool:
        """Set a clean reference for a real noisy input (same size required)."""
        try:
            self.session.set_reference(load_image(source), source)
        except UserError as exc:
            self.show_error(str(exc), "Cannot open the reference")
            return False
        self.remember_folder(source)
        self._input_changed(self.compare_state.a_key, self.compare_state.b_key or REFERENCE)
        return True

    def restore_input(self, data: ImageData, noisy: np.ndarray, reference: np.ndarray | None,
                      reference_source: str | None, noise: dict[str, Any] | None) -> None:
        """The input of a restored session (the session keeper adds its results)."""
        self._retire_run()
        self.session.restore(data, noisy, reference, reference_source, noise)
        self.results.set_store(self.session.results)
        self.compare_state.set_keys(INPUT, REFERENCE if reference is not None else None)
        self.setWindowTitle(f"{self.session.display_name()} (restored) — {APP_NAME}")
        self.image_label.setText(self.session.describe())
        self._update_baseline()

    def _input_changed(self, a_key: str, b_key: str | None, fit: bool = False) -> None:
        self.compare_state.set_keys(a_key, b_key)
        self.iterates.withdraw()
        self.image_label.setText(self.session.describe())
        self._update_baseline()
        self.refresh_viewer(fit=fit)
        self.session_keeper.input_changed()

    def _update_baseline(self) -> None:
        if self.session.noisy is not None:
            self.metrics_view.set_baseline(*self.session.baseline())

    # ================================================================================ viewer

    def refresh_viewer(self, fit: bool = False) -> None:
        """Show A and B (plus the reference in side-by-side mode) and refresh the pickers."""
        images, region = self.compare_state.images()
        self.viewer.paint_like(self.session.input_data)
        self.viewer.set_region_hidden(region is not None)
        self.viewer.set_images(images)
        if fit:
            self.viewer.fit()
        self.compare_state.fill_combos()

    def compare(self, a_key: str, b_key: str | None) -> None:
        """Compare two images by key: ``input``, ``reference`` or ``result:ID``."""
        self.compare_state.set_keys(a_key, b_key)
        self.refresh_viewer()

    def show_live(self, label: str, image: np.ndarray, region: Region | None = None) -> None:
        """Put a live image in place of B, keeping zoom (the previous result stays until then).

        A region run's image is pasted into the input at its place, so it is seen in context.
        """
        noisy = self.session.noisy
        if noisy is None:
            return
        if region is not None:
            x, y, w, h = region
            if image.shape != (h, w, noisy.shape[2]):
                return
            shown = self.viewer.images()
            if shown and shown[0][1].shape == image.shape:  # the viewer shows the region already
                self.viewer.set_image(1, label, image)
                return
            frame = noisy.copy()
            frame[y : y + h, x : x + w] = image
            image = frame
        if image.shape == noisy.shape:
            self.viewer.set_image(1, label, image)

    def add_result(self, result: Result, message: str) -> None:
        """A new result: listed, shown as B against the input, its metrics shown, the session saved."""
        self.results.add(result)
        self.compare(INPUT, result_key(result.id))
        self._show_result_metrics(result)
        self.statusBar().showMessage(message, 10000)
        self.iterates.offer_whole_image(result)
        self.session_keeper.save()
        self.result_added.emit(result.id)

    def _show_result_metrics(self, result: Result) -> None:
        self.metrics_view.set_metrics(result.psnr, result.ssim)
        self.metrics_view.set_estimate(result.estimate)
        self.metrics_view.set_heatmap(result.heatmap, result.heatmap_kind)
        self.metrics_view.set_sigma(result.sigma_noisy, result.sigma_result)

    @Slot(int)
    def show_result(self, result_id: int) -> None:
        """Show a result as B against the input, with its metrics."""
        self.compare(INPUT, result_key(result_id))
        self._show_result_metrics(self.results.get(result_id))

    @Slot(int, int)
    def _on_compare_results(self, a_id: int, b_id: int) -> None:
        self.compare(result_key(a_id), result_key(b_id))

    @Slot(int)
    def _on_result_removed(self, result_id: int) -> None:
        self.session_keeper.result_removed(result_id)
        self.compare_state.forget(result_id)
        self.refresh_viewer()

    @Slot(object)
    def _on_region_selected(self, region: object) -> None:
        self.method_dock.set_region(region)  # type: ignore[arg-type]

    @Slot(QAction)
    def on_mode_action(self, action: QAction) -> None:
        self.viewer.set_mode(str(action.data()))

    @Slot(str)
    def _on_viewer_mode(self, mode: str) -> None:
        action = self.mode_actions.get(mode)
        if action is not None:
            action.setChecked(True)

    # ================================================================================ methods

    @Slot(str)
    def _on_method_changed(self, method_id: str) -> None:
        method = self.choices[method_id].method
        if self.runs.worker is None:
            self.curve_dock.fit_height(self, method is not None and method.iterative)
            if method is not None:
                self.run_view.set_keep_choices(method.Params, self.method_dock.field_value(method_id, "keep"))

    def current_method_id(self) -> str | None:
        return self.method_dock.current_id()

    def select_method(self, method_id: str) -> bool:
        """Make ``method_id`` the current method (False if unknown or unavailable)."""
        return self.method_dock.select(method_id)

    def param_panel(self, method_id: str | None = None) -> Any:
        return self.method_dock.param_panel(method_id)

    @Slot()
    def on_run_clicked(self) -> None:
        self.start_run()

    def start_run(self, method_id: str | None = None, params: Params | None = None, seed: int | None = None,
                  region: Region | None = None) -> bool:
        """Start the current (or given) method on the input; False (with a message) if it cannot.

        ``region`` ``(x, y, width, height)`` runs on that rectangle only (by default the viewer's
        selection when "Region only" is ticked); its live images are shown in place.
        """
        busy = self.runs.busy_reason()
        if busy is not None:
            self.statusBar().showMessage(busy, 5000)
            return False
        prepared = prepare_run(self, method_id, params)
        if prepared is None:
            return False
        method, params = prepared
        seed = self.seed_spin.value() if seed is None else seed
        if region is None and self.method_dock.region_wanted():
            region = self.viewer.selected_region()
        noisy, reference = self.session.region(region)
        assert noisy is not None
        if noisy.size == 0:
            self.show_error("The selected region is empty.")
            return False
        if not cost_is_acceptable(self, method, noisy.shape, params):
            return False
        self.run_region = region
        history = new_history(self, method, params, seed, region)
        self.runs.start(method, noisy, params, seed=seed, device=self.device, reference=reference, history=history,
                        noise=self.session.noise, source=self.session.source,
                        origin=(region[1], region[0]) if region is not None else (0, 0))
        self.run_view.set_keep_choices(type(params), params.to_dict().get("keep"))
        self.run_view.started(method.title, method.iterative, region=region is not None)
        return True

    @Slot()
    def stop_run(self) -> None:
        """End the run early and keep its result."""
        if self.runs.stop():
            self.statusBar().showMessage("Stopping… (the result so far is kept)")

    def cancel_run(self, wait: bool = False) -> None:
        """Cancel the run and discard its result; with ``wait`` block until its thread ended."""
        if self.runs.is_running():
            self.statusBar().showMessage("Cancelling…")
            self.runs.cancel(wait=wait)

    def _retire_run(self) -> None:
        """The input changes under a run: cancel it for good and let it end in the background."""
        if self.runs.retire():
            self.run_view.set_running(False)
            self.time_machine.refresh()
            self.statusBar().showMessage(f"{self.run_view.title}: cancelled (it ends in the background)", 6000)

    def wait_for_retired_runs(self) -> None:
        """Block until every retired run has ended (on close, and in tests)."""
        self.runs.wait_for_retired()

    @property
    def _retired(self) -> list[MethodWorker]:
        return self.runs.retired

    @Slot()
    def toggle_pause(self) -> None:
        if self.runs.is_running():
            self.curve.pause_button.setChecked(not self.runs.paused)

    @Slot(bool)
    def _on_pause_toggled(self, paused: bool) -> None:
        if self.runs.is_running():
            self.runs.pause(paused)
            self.statusBar().showMessage("Paused" if paused else f"Running {self.run_view.title}…")

    @Slot()
    def run_whole_image(self) -> bool:
        """Run the offered region result's method on the whole image, stopping where it was kept."""
        return self.iterates.run_whole_image()

    # -- training (the Train dock) ----------------------------------------------------------------

    def show_train_dock(self) -> None:
        """Show the Train dock in front of its tab group."""
        self.train_dock.show()
        self.train_dock.raise_()

    def _training_blocked(self) -> str | None:
        return "A method is running: wait for it or cancel it first." if self.runs.is_running() else None

    # ================================================================================ Qt events

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_image(url.toLocalFile())
                event.acceptProposedAction()
                return

    def closeEvent(self, event: QCloseEvent) -> None:
        """Cancel and wait for a running job, save the layout and the session, then close."""
        self.cancel_run(wait=True)
        self.train_dock.cancel_training()
        self.train_dock.wait()
        self.wait_for_retired_runs()
        self.method_loading.join()
        self.image_loading.join()
        self.model_import.wait()
        self.save_settings()
        self.session_keeper.close()
        super().closeEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(1480, 940)
