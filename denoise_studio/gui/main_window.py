"""The Studio window: docks around the image viewer, the session, and at most one running job.

The session is: the input image (a file or a built-in sample), the image the methods run on
(the input, or the input with synthetic noise), an optional clean reference, and the results
list. Methods are reached only through the registry; every run happens in a
:class:`~denoise_studio.gui.worker.MethodWorker`. Errors become message boxes, never crashes.

Every user action has a plain method taking explicit arguments (``open_image``, ``add_noise``,
``start_run``, ``export_result``, ...) that the menus call after their dialogs; the tests and
``denoise-studio gui --screenshot`` drive those methods directly.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QColor, QDragEnterEvent, QDropEvent, QFont, QImage, QKeySequence, QPainter
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from denoise_studio.core import metrics
from denoise_studio.core.image import (
    DEFAULT_SAMPLE,
    READ_FORMATS,
    SAMPLE_PREFIX,
    ImageData,
    ImageError,
    load_image,
    sample_names,
    save_image,
)
from denoise_studio.core.method import Method, MethodError
from denoise_studio.core.noise import NOISE_DESCRIPTIONS, NOISE_MODELS
from denoise_studio.core.noise import add_noise as apply_noise
from denoise_studio.core.params import ParamError, Params
from denoise_studio.core.session_store import SessionStore
from denoise_studio.core.sidecar import build_record, write_sidecar
from denoise_studio.gui.curve_dock import CurveDock
from denoise_studio.gui.image_viewer import ImageViewer
from denoise_studio.gui.method_selector import MethodChoice, MethodSelector, load_choices
from denoise_studio.gui.metrics_view import MetricsView
from denoise_studio.gui.param_panel import ParamPanel
from denoise_studio.gui.qt_compat import install_refcount_guard
from denoise_studio.gui.results import ResultEntry, ResultsPanel
from denoise_studio.gui.time_machine import TimeMachine, full_size
from denoise_studio.gui.train_dock import TrainDock
from denoise_studio.gui.worker import MethodWorker, RunResult, RunUpdate, TrainUpdate

APP_NAME = "Denoise Studio"
ORGANIZATION = "DenoiseStudio"
MAX_RECENT = 10
HISTORY_BUDGET_MB = 1024  # the time machine's memory budget (issue 4: 1 GB by default)
DEFAULT_METHOD = "nlm"
INPUT_LABEL = "Noisy input"
REFERENCE_LABEL = "Reference"

EXPORT_FILTERS = "PNG image (*.png);;TIFF image (*.tif *.tiff);;JPEG image (*.jpg *.jpeg)"


def device_description(device: str) -> str:
    """``CPU · 2 threads``, ``CUDA: NVIDIA H100`` or ``MPS`` for the status bar."""
    import torch

    if device.startswith("cuda"):
        index = int(device.split(":")[1]) if ":" in device else 0
        return f"CUDA: {torch.cuda.get_device_name(index)}"
    if device == "mps":
        return "MPS (Apple GPU)"
    return f"CPU · {torch.get_num_threads()} threads"


def weights_choices_for(method: Any) -> Callable[[], list[tuple[str, str, str]]] | None:
    """For a network method: a callable listing its weights for the panel's weights picker."""
    from denoise_studio.methods import is_network, weights_choices

    if not is_network(method):
        return None

    def choices() -> list[tuple[str, str, str]]:
        return weights_choices(method) or []

    return choices


def format_seconds(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "—"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


class NoiseDialog(QDialog):
    """Model, σ and seed for "Add noise…"."""

    def __init__(self, parent: QWidget | None = None, model: str = "gaussian", sigma: float = 25.0, seed: int = 0) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add noise")
        self.model = QComboBox()
        for name in NOISE_MODELS:
            self.model.addItem(name)
            self.model.setItemData(self.model.count() - 1, NOISE_DESCRIPTIONS.get(name, ""), Qt.ItemDataRole.ToolTipRole)
        self.model.setCurrentText(model)
        self.sigma = QDoubleSpinBox()
        self.sigma.setRange(0.0, 255.0)
        self.sigma.setDecimals(1)
        self.sigma.setValue(sigma)
        self.sigma.setToolTip("Strength on the 0–255 scale (see each model's tooltip)")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(seed)
        self.help = QLabel(NOISE_DESCRIPTIONS.get(model, ""))
        self.help.setWordWrap(True)
        self.model.currentTextChanged.connect(self._on_model)
        form = QFormLayout(self)
        form.addRow("Model", self.model)
        form.addRow("σ (0–255)", self.sigma)
        form.addRow("Seed", self.seed)
        form.addRow(self.help)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    @Slot(str)
    def _on_model(self, name: str) -> None:
        self.help.setText(NOISE_DESCRIPTIONS.get(name, ""))


class ExportOptionsDialog(QDialog):
    """Bit depth (PNG/TIFF) or quality (JPEG) of an export."""

    def __init__(self, suffix: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export options")
        form = QFormLayout(self)
        self.depth = QComboBox()
        self.depth.addItems(["8 bits", "16 bits"])
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(95)
        if suffix in (".jpg", ".jpeg"):
            form.addRow("JPEG quality", self.quality)
        else:
            form.addRow("Bit depth", self.depth)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def bit_depth(self) -> int:
        return 16 if self.depth.currentIndex() == 1 else 8


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

        # Session.
        self.source: str | None = None
        self.input_data: ImageData | None = None
        self.noisy: np.ndarray | None = None
        self.reference: np.ndarray | None = None
        self.reference_source: str | None = None
        self.noise_info: dict[str, Any] | None = None
        self.worker: MethodWorker | None = None
        # Cancelled runs that are still ending (a one-shot method such as BM3D cannot stop
        # mid-way): the window does not wait for them, it joins each thread once it finished.
        self._retired: list[MethodWorker] = []
        self._run_title = ""
        self._a_key = "input"
        self._b_key: str | None = None
        self.last_error: str | None = None
        self._error_box: QMessageBox | None = None
        # The session on disk (None: not kept, as in screenshots and most tests).
        self.session_store = SessionStore(session_dir) if session_dir is not None else None
        self._session_input: dict[str, Any] = {}
        self._session_images: dict[int, str] = {}  # result id -> its image file in the session
        self._session_reference: tuple[np.ndarray | None, str | None] = (None, None)  # array, its file
        self._session_saving = True
        # Ask before runs that need much memory or time (off in screenshots and scripted use).
        self.confirm_costly_runs = True

        from denoise_studio.core.device import best_device

        self.device = best_device()
        self.choices = choices if choices is not None else load_choices()

        self._build_central()
        self._build_docks()
        self._build_status_bar()
        self._build_menus()
        self._default_state = self.saveState()
        if restore_layout:
            self._restore_settings()
        self._select_initial_method()
        if initial:
            self.open_image(initial)

    # ================================================================================ building

    def _build_central(self) -> None:
        self.viewer = ImageViewer()
        self.viewer.pixel_info.connect(self._on_pixel_info)
        self.viewer.region_selected.connect(self._on_region_selected)
        self.result_added.connect(self._offer_whole_image)
        self.result_added.connect(self._save_session)
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
        # Method dock: selector, description, parameters, seed, Run.
        method_widget = QWidget()
        layout = QVBoxLayout(method_widget)
        layout.setContentsMargins(6, 6, 6, 6)
        self.selector = MethodSelector(self.choices)
        self.selector.method_selected.connect(self._on_method_selected)
        layout.addWidget(self.selector, 4)
        self.method_title = QLabel("")
        self.method_title.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.method_description = QLabel("")
        self.method_description.setWordWrap(True)
        self.method_description.setStyleSheet("color: #9aa4b2;")
        layout.addWidget(self.method_title)
        layout.addWidget(self.method_description)
        self.param_stack = QStackedWidget()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.param_stack)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        layout.addWidget(scroll, 3)
        self.panels: dict[str, ParamPanel] = {}
        seed_row = QHBoxLayout()
        seed_row.addWidget(QLabel("Seed"))
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Seed of every random choice of the run (reproducible results)")
        seed_row.addWidget(self.seed_spin, 1)
        self.region_check = QCheckBox("Region only")
        self.region_check.setToolTip(
            "Run on the rectangle selected in the viewer (Select region): a quick preview, for\n"
            "example to judge where Deep Image Prior should stop before running the whole image"
        )
        self.region_check.setEnabled(False)
        seed_row.addWidget(self.region_check)
        layout.addLayout(seed_row)
        run_row = QHBoxLayout()
        self.run_button = QPushButton("▶  Run")
        self.run_button.setObjectName("run")
        self.run_button.setToolTip("Run the selected method on the input (Ctrl+R)")
        self.run_button.clicked.connect(self._on_run_clicked)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("End the run now and keep its result")
        self.stop_button.clicked.connect(self.stop_run)
        run_row.addWidget(self.run_button, 2)
        run_row.addWidget(self.stop_button, 1)
        layout.addLayout(run_row)
        # Region first, then the whole image: offered after a region run of an iterative method.
        self.whole_button = QPushButton()
        self.whole_button.setObjectName("whole")
        self.whole_button.clicked.connect(self.run_whole_image)
        self.whole_button.setVisible(False)
        layout.addWidget(self.whole_button)
        self._whole_plan: dict[str, Any] | None = None
        self.method_dock = self._dock("Method", "method_dock", method_widget, Qt.DockWidgetArea.LeftDockWidgetArea)

        # Metrics and results on the right, the curve at the bottom.
        self.metrics_view = MetricsView()
        self.metrics_dock = self._dock("Metrics", "metrics_dock", self.metrics_view, Qt.DockWidgetArea.RightDockWidgetArea)

        results_widget = QWidget()
        rlayout = QVBoxLayout(results_widget)
        rlayout.setContentsMargins(0, 0, 0, 0)
        compare_row = QHBoxLayout()
        compare_row.setContentsMargins(4, 4, 4, 0)
        self.a_combo = QComboBox()
        self.b_combo = QComboBox()
        self.a_combo.setToolTip("Image A of the compare modes")
        self.b_combo.setToolTip("Image B of the compare modes")
        self.a_combo.activated.connect(self._on_compare_combo)
        self.b_combo.activated.connect(self._on_compare_combo)
        compare_row.addWidget(QLabel("A"))
        compare_row.addWidget(self.a_combo, 1)
        compare_row.addWidget(QLabel("B"))
        compare_row.addWidget(self.b_combo, 1)
        rlayout.addLayout(compare_row)
        self.results = ResultsPanel()
        self.results.show_requested.connect(self._on_show_result)
        self.results.compare_requested.connect(self._on_compare_results)
        self.results.export_requested.connect(self._on_export_ids)
        self.results.removed.connect(self._on_result_removed)
        rlayout.addWidget(self.results, 1)
        self.results_dock = self._dock("Results", "results_dock", results_widget, Qt.DockWidgetArea.RightDockWidgetArea)
        self.splitDockWidget(self.metrics_dock, self.results_dock, Qt.Orientation.Vertical)

        self.curve_dock = CurveDock("Iteration curve", self)
        self.curve_dock.setFeatures(self.metrics_dock.features())
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.curve_dock)
        self.curve = self.curve_dock.panel
        self.curve.stop_requested.connect(self.stop_run)
        self.curve.pause_toggled.connect(self._on_pause_toggled)
        self.curve.step_clicked.connect(self._on_curve_clicked)
        self.time_machine = TimeMachine()
        self.time_machine.step_chosen.connect(self._on_time_step)
        self.time_machine.keep_requested.connect(self._on_keep_iterate)
        self.curve.add_row(self.time_machine)
        # What a stopped run keeps, for methods that offer a choice (a `keep` parameter whose
        # alternatives come back as maps of the final snapshot: DIP's averaged / raw / rule).
        self.keep_label = QLabel("On stop keep")
        self.keep_combo = QComboBox()
        self.keep_combo.setToolTip("Which output a stopped run keeps (can be changed while it runs)")
        self.curve.add_control(self.keep_label)
        self.curve.add_control(self.keep_combo)
        self._set_keep_choices(None)
        self._history_run: dict[str, Any] | None = None
        self._run_region: tuple[int, int, int, int] | None = None

        # Train dock (hidden until View → Train): network methods, trained in a TrainWorker.
        self.train_dock = TrainDock(self.choices, self._current_noisy, self, busy=self._training_blocked)
        self.train_dock.setFeatures(self.metrics_dock.features())
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.train_dock)
        self.tabifyDockWidget(self.results_dock, self.train_dock)
        self.results_dock.raise_()
        self.train_dock.hide()
        self.train_dock.training_started.connect(self._on_training_started)
        self.train_dock.training_progress.connect(self._on_training_progress)
        self.train_dock.weights_added.connect(self._on_weights_added)
        self.train_dock.training_ended.connect(self._on_training_ended)
        self.train_dock.training_failed.connect(self._on_training_failed)

        self.resizeDocks([self.method_dock], [330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.metrics_dock], [340], Qt.Orientation.Horizontal)
        self.resizeDocks([self.metrics_dock, self.results_dock], [360, 420], Qt.Orientation.Vertical)
        self.resizeDocks([self.curve_dock], [290], Qt.Orientation.Vertical)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.image_label = QLabel("")
        self.device_label = QLabel(device_description(self.device))
        self.device_label.setToolTip("The compute device of network methods")
        self.progress = QProgressBar()
        self.progress.setFixedWidth(220)
        self.progress.setTextVisible(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.eta_label = QLabel("")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel the run and discard its result (Esc)")
        self.cancel_button.clicked.connect(self._cancel_clicked)
        bar.addWidget(self.image_label)
        bar.addPermanentWidget(self.eta_label)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.device_label)
        self._set_running(False)

    def _action(self, menu: Any, text: str, slot: Any, shortcut: str | QKeySequence.StandardKey | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&Open…", self.open_dialog, QKeySequence.StandardKey.Open, "Open a noisy image")
        samples = file_menu.addMenu("Open &sample")
        self._sample_actions = QActionGroup(self)
        for name in sample_names():
            action = samples.addAction(name)
            action.setData(SAMPLE_PREFIX + name)
            self._sample_actions.addAction(action)
        self._sample_actions.triggered.connect(self._on_open_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._recent_actions = QActionGroup(self)
        self._recent_actions.triggered.connect(self._on_open_action)
        self._action(file_menu, "Load &reference…", self.load_reference_dialog, None, "Set the clean image of a real noisy one")
        file_menu.addSeparator()
        self._action(file_menu, "Add &noise…", self.add_noise_dialog, "Ctrl+Shift+N", "Add synthetic noise; the clean image becomes the reference")
        file_menu.addSeparator()
        self._action(file_menu, "&Export selected…", self.export_selected_dialog, "Ctrl+E")
        self._action(file_menu, "Export &all…", self.export_all_dialog)
        self._action(file_menu, "Export &comparison…", self.export_comparison_dialog)
        self._action(file_menu, "Export c&urve…", self.export_curve_dialog)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        view_menu = bar.addMenu("&View")
        group = QActionGroup(self)
        self._mode_actions: dict[str, QAction] = {}
        for mode, title in (("split", "Split"), ("side", "Side by side"), ("blink", "Blink"), ("difference", "Difference")):
            action = view_menu.addAction(title)
            action.setCheckable(True)
            action.setData(mode)
            group.addAction(action)
            self._mode_actions[mode] = action
        self._mode_actions["split"].setChecked(True)
        group.triggered.connect(self._on_mode_action)
        self.viewer.mode_changed.connect(self._on_viewer_mode)
        view_menu.addSeparator()
        self._action(view_menu, "&Fit to window", self.viewer.fit, "Ctrl+0")
        self._action(view_menu, "&1:1 pixels", self.viewer.actual_size, "Ctrl+1")
        view_menu.addSeparator()
        for dock in (self.method_dock, self.metrics_dock, self.results_dock, self.curve_dock, self.train_dock):
            view_menu.addAction(dock.toggleViewAction())
        self._action(view_menu, "&Reset layout", self.reset_layout)

        run_menu = bar.addMenu("&Run")
        self.run_action = self._action(run_menu, "&Run", self._on_run_clicked, "Ctrl+R")
        self.stop_action = self._action(run_menu, "&Stop (keep result)", self.stop_run, "Ctrl+.")
        self.pause_action = self._action(run_menu, "&Pause / resume", self.toggle_pause, "Ctrl+P")
        self.cancel_action = self._action(run_menu, "&Cancel (discard)", self._cancel_clicked, "Esc")

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About", self._about)

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
        current = self.selector.current_id()
        if current:
            self.settings.setValue("last_method", current)
        for method_id, panel in self.panels.items():
            try:
                self.settings.setValue(f"params/{method_id}", json.dumps(panel.values().to_dict()))
            except ParamError:
                continue
        self.settings.setValue("seed", self.seed_spin.value())
        self.settings.sync()

    def _select_initial_method(self) -> None:
        self.seed_spin.setValue(int(self.settings.value("seed", 0) or 0))
        wanted = str(self.settings.value("last_method", DEFAULT_METHOD) or DEFAULT_METHOD)
        if not self.selector.select(wanted):
            for method_id, choice in self.choices.items():
                if choice.available and self.selector.select(method_id):
                    break

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _remember_recent(self, source: str) -> None:
        recent = [source] + [r for r in self.recent_files() if r != source]
        self.settings.setValue("recent", recent[:MAX_RECENT])

    def last_folder(self) -> str:
        return str(self.settings.value("last_folder", str(Path.home())))

    def _remember_folder(self, path: str) -> None:
        self.settings.setValue("last_folder", str(Path(path).parent))

    @Slot()
    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        for dock in (self.method_dock, self.metrics_dock, self.results_dock, self.curve_dock):
            dock.setFloating(False)
            dock.show()

    # ================================================================================ errors

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

    def confirm_overwrite(self, path: Path) -> bool:
        """Ask before writing over an existing file."""
        answer = QMessageBox.question(
            self, "Overwrite?", f"{path.name} already exists in {path.parent}.\nReplace it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    # ================================================================================ images

    def open_image(self, source: str) -> bool:
        """Load a file or ``sample:NAME`` as the new input; on failure show why and change nothing."""
        try:
            data = load_image(source)
        except ImageError as exc:
            self.show_error(str(exc), "Cannot open the image")
            return False
        except Exception as exc:  # noqa: BLE001 - a loader bug must not take the window down
            self.show_error(f"{source}: cannot open ({type(exc).__name__}: {exc})", "Cannot open the image")
            return False
        self._retire_run()
        self.source = source
        self.input_data = data
        self.noisy = data.pixels
        self.reference = None
        self.reference_source = None
        self.noise_info = None
        self._a_key, self._b_key = "input", None
        self._withdraw_whole_image()
        if not source.startswith(SAMPLE_PREFIX):
            self._remember_folder(source)
        self._remember_recent(source)
        name = source[len(SAMPLE_PREFIX):] + " (sample)" if source.startswith(SAMPLE_PREFIX) else Path(source).name
        self.setWindowTitle(f"{name} — {APP_NAME}")
        self._update_image_label()
        self._update_baseline()
        self.metrics_view.clear()
        self.curve.reset()
        self._refresh_viewer(fit=True)
        self._input_changed()
        self.image_loaded.emit(source)
        return True

    def _update_image_label(self) -> None:
        if self.input_data is None:
            self.image_label.setText("")
            return
        text = self.input_data.describe()
        if self.noise_info:
            text += f" · {self.noise_info['model']} noise σ {self.noise_info['sigma']:g} (seed {self.noise_info['seed']})"
        if self.reference is not None:
            text += " · reference loaded" if self.noise_info is None else " · clean reference kept"
        self.image_label.setText(text)

    def _update_baseline(self) -> None:
        if self.noisy is None:
            return
        if self.reference is not None:
            self.metrics_view.set_baseline(metrics.psnr(self.noisy, self.reference), metrics.ssim(self.noisy, self.reference))
        else:
            self.metrics_view.set_baseline(None, None, metrics.estimate_noise_sigma(self.noisy))

    def add_noise(self, model: str = "gaussian", sigma: float = 25.0, seed: int = 0) -> None:
        """Add synthetic noise. The clean image becomes the reference (re-adding replaces the noise)."""
        if self.noisy is None:
            return
        clean = self.reference if self.noise_info is not None and self.reference is not None else self.noisy
        try:
            noisy = apply_noise(clean, model, float(sigma), int(seed))
        except (ValueError, RuntimeError) as exc:
            self.show_error(f"Cannot add noise: {exc}")
            return
        self._retire_run()
        self.reference = clean
        self.reference_source = self.source
        self.noisy = noisy
        self.noise_info = {"model": model, "sigma": float(sigma), "seed": int(seed)}
        self._a_key, self._b_key = "input", "reference"
        self._withdraw_whole_image()
        self._update_image_label()
        self._update_baseline()
        self._refresh_viewer()
        self._input_changed()

    def load_reference(self, source: str) -> bool:
        """Set a clean reference for a real noisy input (same size required)."""
        try:
            data = load_image(source)
        except ImageError as exc:
            self.show_error(str(exc), "Cannot open the reference")
            return False
        if self.noisy is None or data.pixels.shape != self.noisy.shape:
            shape = "none" if self.noisy is None else f"{self.noisy.shape[1]}×{self.noisy.shape[0]}×{self.noisy.shape[2]}"
            got = f"{data.width}×{data.height}×{data.channels}"
            self.show_error(f"The reference must have the input's size and channels ({shape}); {source} is {got}.")
            return False
        if self.noise_info is not None:
            # A synthetic-noise session switches to "real noisy input + loaded reference".
            self.noise_info = None
        self.reference = data.pixels
        self.reference_source = source
        self._remember_folder(source)
        self._b_key = self._b_key or "reference"
        self._update_image_label()
        self._update_baseline()
        self._refresh_viewer()
        self._input_changed()
        return True

    # ================================================================================ viewer

    def _image_for(self, key: str | None) -> tuple[str, np.ndarray] | None:
        if key is None:
            return None
        if key == "input" and self.noisy is not None:
            return (INPUT_LABEL if self.reference is not None or self.noise_info else "Input"), self.noisy
        if key == "reference" and self.reference is not None:
            return REFERENCE_LABEL, self.reference
        if key.startswith("result:"):
            entry = self.results.entries.get(int(key.split(":")[1]))
            if entry is not None:
                return entry.label, entry.image
        return None

    def _region_of(self, key: str | None) -> tuple[int, int, int, int] | None:
        if key and key.startswith("result:"):
            entry = self.results.entries.get(int(key.split(":")[1]))
            if entry is not None:
                return entry.extra.get("region")
        return None

    def _refresh_viewer(self, fit: bool = False) -> None:
        """Show A and B (plus the reference in side-by-side mode) and refresh the combos.

        Next to a result of a region run, full-size images are cropped to that region.
        """
        images = []
        region = self._region_of(self._b_key) or self._region_of(self._a_key)
        for key in (self._a_key, self._b_key):
            item = self._image_for(key)
            if item is not None:
                images.append(item)
        if self.reference is not None and "reference" not in (self._a_key, self._b_key) and len(images) == 2:
            images.append((REFERENCE_LABEL, self.reference))
        if region is not None and self.noisy is not None:
            x, y, w, h = region
            images = [
                (label, np.ascontiguousarray(img[y : y + h, x : x + w])) if img.shape == self.noisy.shape else (label, img)
                for label, img in images
            ]
        self.viewer.set_region_hidden(region is not None)
        self.viewer.set_images(images)
        if fit:
            self.viewer.fit()
        self._fill_compare_combos()

    def compare(self, a_key: str, b_key: str | None) -> None:
        """Compare two images by key: ``input``, ``reference`` or ``result:ID``."""
        self._a_key, self._b_key = a_key, b_key
        self._refresh_viewer()

    def compare_keys(self) -> tuple[str, str | None]:
        return self._a_key, self._b_key

    def _compare_options(self) -> list[tuple[str, str]]:
        options = [("input", INPUT_LABEL)]
        if self.reference is not None:
            options.append(("reference", REFERENCE_LABEL))
        options += [(f"result:{e.id}", e.label) for e in self.results.all()]
        return options

    def _fill_compare_combos(self) -> None:
        options = self._compare_options()
        for combo, key in ((self.a_combo, self._a_key), (self.b_combo, self._b_key)):
            combo.blockSignals(True)
            combo.clear()
            if combo is self.b_combo:
                combo.addItem("(none)", None)
            for k, label in options:
                combo.addItem(label, k)
            index = combo.findData(key)
            combo.setCurrentIndex(max(index, 0))
            combo.blockSignals(False)

    @Slot(int)
    def _on_compare_combo(self, _index: int) -> None:
        self.compare(self.a_combo.currentData() or "input", self.b_combo.currentData())

    @Slot(int)
    def _on_show_result(self, entry_id: int) -> None:
        self.compare("input", f"result:{entry_id}")
        self._show_entry_metrics(self.results.get(entry_id))

    @Slot(int, int)
    def _on_compare_results(self, a_id: int, b_id: int) -> None:
        self.compare(f"result:{a_id}", f"result:{b_id}")

    @Slot(int)
    def _on_result_removed(self, entry_id: int) -> None:
        self._session_images.pop(entry_id, None)
        self._save_session()
        key = f"result:{entry_id}"
        if self._a_key == key:
            self._a_key = "input"
        if self._b_key == key:
            self._b_key = "reference" if self.reference is not None else None
        self._refresh_viewer()

    @Slot(object)
    def _on_region_selected(self, region: object) -> None:
        self.region_check.setEnabled(region is not None)
        if region is None:
            self.region_check.setChecked(False)
        else:
            x, y, w, h = region  # type: ignore[misc]
            self.region_check.setText(f"Region only ({w}×{h})")

    @Slot(str)
    def _on_pixel_info(self, text: str) -> None:
        del text  # shown by the viewer itself; kept as a hook for the status bar

    @Slot(QAction)
    def _on_mode_action(self, action: QAction) -> None:
        self.viewer.set_mode(str(action.data()))

    @Slot(str)
    def _on_viewer_mode(self, mode: str) -> None:
        action = self._mode_actions.get(mode)
        if action is not None:
            action.setChecked(True)

    def _show_entry_metrics(self, entry: ResultEntry) -> None:
        self.metrics_view.set_metrics(entry.psnr, entry.ssim)
        heat = entry.extra.get("heatmap")
        self.metrics_view.set_heatmap(heat, entry.extra.get("heatmap_kind", "reference"))
        self.metrics_view.set_sigma(entry.extra.get("sigma_noisy"), entry.extra.get("sigma_result"))

    # ================================================================================ methods

    @Slot(str)
    def _on_method_selected(self, method_id: str) -> None:
        choice = self.choices[method_id]
        panel = self.panels.get(method_id)
        if panel is None and choice.method is not None:
            panel = ParamPanel(choice.method.Params, weights_choices=weights_choices_for(choice.method))
            saved = self.settings.value(f"params/{method_id}")
            if saved:
                try:
                    panel.set_values(choice.method.Params.from_dict(json.loads(str(saved))))
                except (ParamError, ValueError, TypeError):
                    pass  # parameters of an older version: keep the defaults
            self.panels[method_id] = panel
            self.param_stack.addWidget(panel)
        if panel is not None:
            self.param_stack.setCurrentWidget(panel)
        self.method_title.setText(choice.entry.title)
        description = getattr(choice.method, "description", "") if choice.method is not None else ""
        self.method_description.setText(description or "")
        self.method_description.setVisible(bool(description))
        self.settings.setValue("last_method", method_id)
        if self.worker is None and choice.method is not None:
            keep = panel.fields["keep"].value() if panel is not None and "keep" in panel.fields else None
            self._set_keep_choices(choice.method.Params, keep)

    def _set_keep_choices(self, params_class: type[Params] | None, current: str | None = None) -> None:
        """Offer the `keep` parameter's choices next to Stop (hidden for other methods)."""
        spec = None
        if params_class is not None:
            spec = next((sp for sp in params_class.specs() if sp.name == "keep" and sp.choices), None)
        self.keep_combo.clear()
        if spec is not None:
            self.keep_combo.addItems(list(spec.choices or ()))
            self.keep_combo.setCurrentText(current or str(spec.default))
        self.keep_combo.setVisible(spec is not None)
        self.keep_label.setVisible(spec is not None)

    def current_method_id(self) -> str | None:
        return self.selector.current_id()

    def select_method(self, method_id: str) -> bool:
        """Make ``method_id`` the current method (False if unknown or unavailable)."""
        return self.selector.select(method_id)

    def param_panel(self, method_id: str | None = None) -> ParamPanel | None:
        method_id = method_id or self.current_method_id()
        if method_id is None:
            return None
        if method_id not in self.panels:
            self.select_method(method_id)
        return self.panels.get(method_id)

    @Slot()
    def _on_run_clicked(self) -> None:
        self.start_run()

    def start_run(
        self,
        method_id: str | None = None,
        params: Params | None = None,
        seed: int | None = None,
        region: tuple[int, int, int, int] | None = None,
    ) -> bool:
        """Start the current (or given) method on the input; False (with a message) if it cannot.

        ``region`` ``(x, y, width, height)`` runs on that rectangle only (by default the viewer's
        selection when "Region only" is ticked); its live images are shown in place.
        """
        if self.worker is not None:
            self.statusBar().showMessage("A run is already in progress: stop or cancel it first.", 5000)
            return False
        if self.train_dock.is_training():
            self.statusBar().showMessage("Training is running (Train dock): stop or cancel it first.", 5000)
            return False
        if self.noisy is None:
            self.show_error("Open an image first.")
            return False
        method_id = method_id or self.current_method_id()
        if method_id is None or method_id not in self.choices:
            self.show_error("Choose a method first.")
            return False
        choice = self.choices[method_id]
        if not choice.available:
            self.show_error(f"{choice.entry.title} cannot run here: {choice.reason}")
            return False
        if params is None:
            panel = self.param_panel(method_id)
            try:
                params = panel.values() if panel is not None else choice.method.default_params(self.noisy)  # type: ignore[union-attr]
            except ParamError as exc:
                self.show_error(f"Invalid parameter: {exc}")
                return False
        try:
            # A fresh instance per run (the selector's instance only answers availability).
            method: Method[Any] = type(choice.method)()
        except Exception as exc:  # noqa: BLE001
            self.show_error(f"{choice.entry.title} cannot be loaded: {exc}")
            return False
        seed = self.seed_spin.value() if seed is None else seed
        if region is None and self.region_check.isChecked() and self.region_check.isEnabled():
            region = self.viewer.selected_region()
        noisy, reference = self.noisy, self.reference
        if region is not None:
            x, y, w, h = region
            noisy = np.ascontiguousarray(self.noisy[y : y + h, x : x + w])
            reference = None if self.reference is None else np.ascontiguousarray(self.reference[y : y + h, x : x + w])
            if noisy.size == 0:
                self.show_error("The selected region is empty.")
                return False
        if not self._cost_is_acceptable(method, noisy.shape, params):
            return False
        self._run_region = region
        history = None
        if getattr(method, "iterative", False):
            from denoise_studio.core.history import IterateHistory

            budget_mb = int(self.settings.value("history/budget_mb", HISTORY_BUDGET_MB) or HISTORY_BUDGET_MB)
            history = IterateHistory(budget_bytes=budget_mb << 20)
            self._history_run = {"method": method, "params": params, "seed": seed, "source": self.source,
                                 "noise": dict(self.noise_info) if self.noise_info else None, "region": region}
        self.time_machine.set_history(history)
        self.worker = MethodWorker(
            method, noisy, params, seed=seed, device=self.device, reference=reference, history=history,
        )
        self.worker.yielded.connect(self._on_yielded)
        self.worker.returned.connect(self._on_returned)
        self.worker.errored.connect(self._on_errored)
        self.worker.aborted.connect(self._on_aborted)
        self.worker.finished.connect(self._on_finished)
        self._set_keep_choices(type(params), params.to_dict().get("keep"))
        self._run_title = method.title + (" (region)" if region is not None else "")
        self._run_started = time.perf_counter()
        self.curve.reset(f"{method.title}: running…")
        self.progress.setRange(0, 0)  # busy until the first progress report
        self.eta_label.setText("")
        self._set_running(True, iterative=bool(getattr(method, "iterative", False)))
        self.statusBar().showMessage(f"Running {method.title}…")
        self.worker.start()
        return True

    def _cost_is_acceptable(self, method: Method[Any], shape: tuple[int, ...], params: Params) -> bool:
        """Estimate the run's memory and time first: refuse what cannot fit, ask about what is large."""
        from denoise_studio.core.cost import assess

        verdict = assess(method, shape, params, self.device, stoppable=bool(getattr(method, "iterative", False)))
        if verdict.level == "refuse":
            self.show_error(verdict.message, "Not enough memory for this run")
            return False
        if verdict.level == "warn":
            if not self.confirm_costly_runs:
                self.statusBar().showMessage(verdict.message, 10000)
                return True
            answer = QMessageBox.question(
                self, "A large run", verdict.message + "\n\nRun it anyway?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No,
            )
            return answer == QMessageBox.StandardButton.Yes
        return True

    def is_running(self) -> bool:
        return self.worker is not None

    @Slot()
    def stop_run(self) -> None:
        """End the run early and keep its result."""
        if self.worker is not None:
            self.worker.stop()
            self.statusBar().showMessage("Stopping… (the result so far is kept)")

    def cancel_run(self, wait: bool = False) -> None:
        """Cancel the run and discard its result; with ``wait`` block until its thread ended."""
        worker = self.worker
        if worker is None:
            return
        worker.cancel()
        self.statusBar().showMessage("Cancelling…")
        if wait:
            worker.wait()
            self._on_finished()

    def _retire_run(self) -> None:
        """Cancel the run for good and let it end in the background, without waiting for it.

        Used when the input changes under a run: its late snapshots must not reach the new
        image, and the UI thread must not block on a method that cannot stop mid-way.
        """
        worker = self.worker
        if worker is None:
            return
        worker.cancel()
        worker.yielded.disconnect(self._on_yielded)
        worker.returned.disconnect(self._on_returned)
        worker.errored.disconnect(self._on_errored)
        worker.aborted.disconnect(self._on_aborted)
        worker.finished.disconnect(self._on_finished)
        worker.finished.connect(self._on_retired_finished)
        self._retired.append(worker)
        self.worker = None
        self._set_running(False)
        self.time_machine.refresh()
        self.statusBar().showMessage(f"{self._run_title}: cancelled (it ends in the background)", 6000)

    @Slot()
    def _on_retired_finished(self) -> None:
        for worker in [w for w in self._retired if w.is_done()]:
            worker.wait()  # finished is emitted just before the thread ends
            self._retired.remove(worker)

    def wait_for_retired_runs(self) -> None:
        """Block until every retired run has ended (on close, and in tests)."""
        for worker in self._retired:
            worker.wait()
        self._retired.clear()

    @Slot()
    def _cancel_clicked(self) -> None:
        self.cancel_run()

    @Slot()
    def toggle_pause(self) -> None:
        if self.worker is not None:
            self.curve.pause_button.setChecked(not self.worker.paused)

    @Slot(bool)
    def _on_pause_toggled(self, paused: bool) -> None:
        if self.worker is None:
            return
        if paused:
            self.worker.pause()
            self.statusBar().showMessage("Paused")
        else:
            self.worker.resume()
            self.statusBar().showMessage(f"Running {self._run_title}…")

    def _set_running(self, running: bool, iterative: bool = False) -> None:
        self.run_button.setEnabled(not running)
        self.whole_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.cancel_button.setEnabled(running)
        self.cancel_button.setVisible(running)
        if hasattr(self, "run_action"):
            self.run_action.setEnabled(not running)
            self.stop_action.setEnabled(running)
            self.cancel_action.setEnabled(running)
            self.pause_action.setEnabled(running and iterative)
        self.curve.set_running(running, stoppable=iterative)
        self.progress.setTextVisible(running)
        if not running:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.eta_label.setText("")

    # -- worker slots (main thread) ------------------------------------------------------------

    @Slot(object)
    def _on_yielded(self, update: RunUpdate) -> None:
        if self.worker is None or self.worker.cancelled:
            return
        if update.total > 0:
            self.progress.setRange(0, update.total)
            self.progress.setValue(min(update.step, update.total))
            self.progress.setFormat(f"%v / %m")
            self.eta_label.setText(f"ETA {format_seconds(update.eta)}")
        if update.points:
            self.curve.add_points(update.points)
            self.time_machine.refresh()
        if update.image is not None and self.time_machine.following:
            label = f"{self._run_title} (live, {update.step}/{update.total})"
            self._show_live(label, update.image, self._run_region)
            if update.psnr is not None:
                self.metrics_view.set_metrics(update.psnr, update.ssim)
            if update.heatmap is not None:
                self.metrics_view.set_heatmap(update.heatmap, "reference" if self.reference is not None else "removed")
        if update.message:
            self.statusBar().showMessage(update.message)

    def _show_live(self, label: str, image: np.ndarray, region: tuple[int, int, int, int] | None = None) -> None:
        """Put a live image in place of B, keeping zoom (the previous result stays until then).

        A region run's image is pasted into the input at its place, so it is seen in context.
        """
        if self.noisy is None:
            return
        if region is not None:
            x, y, w, h = region
            if image.shape != (h, w, self.noisy.shape[2]):
                return
            shown = self.viewer.images()
            if shown and shown[0][1].shape == image.shape:  # the viewer shows the region already
                self.viewer.set_image(1, label, image)
                return
            frame = self.noisy.copy()
            frame[y : y + h, x : x + w] = image
            image = frame
        if image.shape != self.noisy.shape:
            return
        self.viewer.set_image(1, label, image)

    @Slot(object)
    def _on_returned(self, result: RunResult) -> None:
        if self.sender() is not self.worker:
            return  # a late result of a run that was retired when the input changed
        self._apply_keep_choice(result)
        entry = ResultEntry(
            method_id=result.method_id,
            method_title=result.method_title + (" (region)" if self._run_region is not None else ""),
            params=result.params,
            image=result.image,
            seed=result.seed,
            device=result.device,
            elapsed=result.elapsed,
            psnr=result.psnr,
            ssim=result.ssim,
            input_source=self.source,
            stopped_early=result.stopped_early,
            points=result.points,
            extra={
                "heatmap": result.heatmap,
                "heatmap_kind": result.heatmap_kind,
                "sigma_noisy": result.sigma_noisy,
                "sigma_result": result.sigma_result,
                "noise": dict(self.noise_info) if self.noise_info else None,
                "reference": self.reference_source,
                "info": dict(result.snapshot.info),
                "message": result.snapshot.message,
                "final_step": result.snapshot.step,
                "region": self._run_region,
            },
        )
        self.results.add(entry)
        self.compare("input", f"result:{entry.id}")
        self._show_entry_metrics(entry)
        if result.points:
            self.curve.set_status(f"{result.method_title}: {len(result.points)} points")
        metrics_text = f", PSNR {result.psnr:.2f} dB" if result.psnr is not None else ""
        early = " (stopped early)" if result.stopped_early else ""
        self.statusBar().showMessage(f"{result.method_title} done in {result.elapsed:.1f} s{early}{metrics_text}", 10000)
        self.result_added.emit(entry.id)

    def _apply_keep_choice(self, result: RunResult) -> None:
        """If the user chose another output to keep than the run's parameter, swap it in."""
        if not self.keep_combo.isVisible() or result.params is None:
            return
        choice = self.keep_combo.currentText()
        values = result.params.to_dict()
        maps = result.snapshot.maps
        key = "suggested" if choice == "rule" else choice
        if not choice or values.get("keep") == choice or key not in maps:
            return
        image = np.clip(maps[key], 0.0, 1.0).astype(np.float32)
        if image.shape != result.image.shape:
            return
        result.image = image
        result.params = result.params.replace(keep=choice)
        noisy = self.worker.noisy if self.worker is not None else self.noisy
        reference = self.worker.reference if self.worker is not None else None
        if reference is not None:
            result.psnr, result.ssim = metrics.psnr(image, reference), metrics.ssim(image, reference)
            result.heatmap = metrics.difference(image, reference)
        elif noisy is not None and noisy.shape == image.shape:
            result.heatmap = metrics.difference(noisy, image)

    @Slot(str)
    def _on_errored(self, message: str) -> None:
        self._refresh_viewer()
        self.show_error(message, "The run failed")

    @Slot()
    def _on_aborted(self) -> None:
        self._refresh_viewer()  # put back what was shown before the live previews
        self.statusBar().showMessage(f"{self._run_title}: cancelled, result discarded", 6000)

    @Slot()
    def _on_finished(self) -> None:
        worker = self.worker
        if worker is None:
            return
        worker.wait()  # finished is emitted just before the thread ends
        self.worker = None
        self.time_machine.refresh()
        self._set_running(False)
        self.curve.set_status(self.curve.status.text().replace("running…", "done"))
        self.run_finished.emit()

    # -- training (the Train dock) ----------------------------------------------------------------

    def show_train_dock(self) -> None:
        """Show the Train dock in front of its tab group."""
        self.train_dock.show()
        self.train_dock.raise_()

    def _current_noisy(self) -> np.ndarray | None:
        return self.noisy

    def _training_blocked(self) -> str | None:
        return "A method is running: wait for it or cancel it first." if self.worker is not None else None

    @Slot(str)
    def _on_training_started(self, title: str) -> None:
        self.curve.reset(f"{title}: running…")
        self.curve.set_running(False)
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(True)
        self.statusBar().showMessage(f"{title}…")

    @Slot(object)
    def _on_training_progress(self, update: TrainUpdate) -> None:
        if update.points:
            self.curve.add_points(update.points)
        if self.worker is None and update.total > 0:
            self.progress.setRange(0, update.total)
            self.progress.setValue(min(update.step, update.total))
            self.progress.setFormat("%v / %m")
            done = update.step / update.total
            eta = update.elapsed * (1 - done) / done if 0 < done < 1 else None
            self.eta_label.setText(f"ETA {format_seconds(eta)}" if eta is not None else "")
        best = f", best validation {update.best_psnr:.2f} dB" if update.best_psnr is not None else ""
        self.statusBar().showMessage(f"Training: step {update.step} / {update.total}{best}")

    @Slot(str, str)
    def _on_weights_added(self, method_id: str, path: str) -> None:
        """New weights: the method's weights picker lists them at once (and it becomes available)."""
        self.selector.refresh_availability(method_id)
        panel = self.panels.get(method_id)
        if panel is not None:
            panel.refresh_weights()

    @Slot(str)
    def _on_training_ended(self, message: str) -> None:
        if self.worker is None:
            self._set_running(False)
        self.curve.set_status(self.curve.status.text().replace("running…", "done"))
        self.statusBar().showMessage(message, 10000)

    @Slot(str)
    def _on_training_failed(self, message: str) -> None:
        self.show_error(message, "Training failed")

    # -- time machine -----------------------------------------------------------------------------

    @Slot(int)
    def _on_curve_clicked(self, step: int) -> None:
        self.time_machine.go_to(step)

    @Slot(int)
    def _on_time_step(self, step: int) -> None:
        """Show a kept iterate as B (full resolution, or an enlarged preview)."""
        history = self.time_machine.history
        if history is None or self.noisy is None:
            return
        try:
            image = full_size(history.get(step), history.full_shape or self.noisy.shape)
        except (KeyError, ValueError):
            return
        run = self._history_run or {}
        title = run["method"].title if run else "iterate"
        self._show_live(f"{title} @ {step}", np.clip(image, 0.0, 1.0), run.get("region"))
        self.curve.set_cursor(step)

    @Slot(int)
    def _on_keep_iterate(self, step: int) -> None:
        """Add a kept iterate to the results, like a finished run."""
        history = self.time_machine.history
        run = self._history_run
        if history is None or run is None or self.noisy is None:
            return
        try:
            image = np.clip(full_size(history.get(step), history.full_shape or self.noisy.shape), 0.0, 1.0).astype(np.float32)
        except (KeyError, ValueError) as exc:
            self.show_error(f"Iteration {step} is no longer kept: {exc}")
            return
        preview = not history.has_keyframe(step) and history.preview_shape != history.full_shape
        psnr = ssim = None
        region = run.get("region")
        noisy, reference = self.noisy, self.reference
        if region is not None:
            x, y, w, h = region
            noisy = noisy[y : y + h, x : x + w]
            reference = None if reference is None else reference[y : y + h, x : x + w]
        if reference is not None and reference.shape == image.shape:
            psnr, ssim = metrics.psnr(image, reference), metrics.ssim(image, reference)
        else:
            reference = None
        heat = metrics.difference(image, reference) if reference is not None else metrics.difference(noisy, image)
        method = run["method"]
        entry = ResultEntry(
            method_id=method.id,
            method_title=f"{method.title}{' (region)' if region is not None else ''} @ {step}",
            params=run["params"],
            image=image,
            seed=run["seed"],
            device=self.device,
            psnr=psnr,
            ssim=ssim,
            input_source=run["source"],
            extra={
                "iteration": step,
                "preview": preview,
                "final_step": step,
                "noise": run["noise"],
                "reference": self.reference_source,
                "heatmap": heat,
                "heatmap_kind": "reference" if reference is not None else "removed",
                "region": region,
            },
        )
        self.results.add(entry)
        self.compare("input", f"result:{entry.id}")
        self._show_entry_metrics(entry)
        note = " (enlarged from the preview)" if preview else ""
        self.statusBar().showMessage(f"Iteration {step} kept as {entry.label}{note}", 8000)
        self.result_added.emit(entry.id)

    # ========================================================================== session

    def _input_changed(self) -> None:
        """Store the new input images in the session (once each) and save it."""
        store = self.session_store
        if store is None or self.noisy is None:
            return
        record: dict[str, Any] = {
            "source": self.source,
            "reference_source": self.reference_source,
            "noise": self.noise_info,
            "bit_depth": self.input_data.bit_depth if self.input_data is not None else 8,
            "noisy": store.store_image(store.new_image_name("input"), self.noisy),
            "reference": None,
        }
        if self.reference is not None:
            stored_array, stored_name = self._session_reference
            if self.reference is not stored_array:  # re-noising keeps the reference: write it once
                stored_name = store.store_image(store.new_image_name("reference"), self.reference)
                self._session_reference = (self.reference, stored_name)
            record["reference"] = stored_name
        self._session_input = record
        self._save_session()

    @Slot()
    def _save_session(self, clean_exit: bool = False) -> None:
        """Write the session's manifest (in the background); images are stored once each."""
        store = self.session_store
        if store is None or not self._session_saving or not self._session_input:
            return
        results = []
        for entry in self.results.all():
            name = self._session_images.get(entry.id)
            if name is None:
                name = self._session_images[entry.id] = store.store_image(store.new_image_name("result"), entry.image)
            extra = {k: v for k, v in entry.extra.items() if k not in ("heatmap",)}
            results.append({
                "image": name, "method_id": entry.method_id, "method_title": entry.method_title,
                "params": entry.params.to_dict() if entry.params is not None else None,
                "seed": entry.seed, "device": entry.device, "elapsed": entry.elapsed, "psnr": entry.psnr,
                "ssim": entry.ssim, "input_source": entry.input_source, "stopped_early": entry.stopped_early,
                "created": entry.created, "extra": extra,
            })
        store.write_manifest({"input": self._session_input, "results": results, "clean_exit": clean_exit})
        if store.last_error:
            self.statusBar().showMessage(store.last_error, 8000)

    def saved_session(self) -> dict[str, Any] | None:
        """The session kept on disk by an earlier window, if any has something worth restoring."""
        if self.session_store is None:
            return None
        record = self.session_store.read_manifest()
        if record is None or not record.get("input"):
            return None
        source = record["input"].get("source") or ""
        if not record.get("results") and source.startswith(SAMPLE_PREFIX) and not record["input"].get("noise"):
            return None  # only a built-in sample was open: nothing of the user's to bring back
        return record

    def offer_session_restore(self) -> bool:
        """Ask whether to restore the earlier session (after a crash or a restart); True if restored."""
        record = self.saved_session()
        if record is None:
            return False
        count = len(record.get("results", []))
        source = record["input"].get("source") or "an image"
        saved = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.get("saved", 0)))
        how = "was closed" if record.get("clean_exit") else "did not close normally (a crash?)"
        answer = QMessageBox.question(
            self, "Restore the previous session?",
            f"The previous session {how}. It had {Path(source).name} open with {count} result(s), saved {saved}.\n"
            "Restore it? (If not, it is kept aside as session.previous in the data folder.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes,
        )
        if answer == QMessageBox.StandardButton.Yes:
            return self.restore_session()
        assert self.session_store is not None
        self.session_store.set_aside()
        return False

    def restore_session(self) -> bool:
        """Bring back the saved input and results; False (with a message) when there is none."""
        store = self.session_store
        record = self.saved_session()
        if store is None or record is None:
            return False
        source_info = record["input"]
        try:
            noisy = store.load_image(source_info["noisy"])
            reference = store.load_image(source_info["reference"]) if source_info.get("reference") else None
        except (OSError, ValueError) as exc:
            self.show_error(f"The saved session cannot be restored: {exc}", "Restore session")
            return False
        self._retire_run()
        self._session_saving = False  # the restored session is what is on disk already
        try:
            source = source_info.get("source") or "restored image"
            noise = source_info.get("noise")
            original = reference if noise and reference is not None else noisy
            self.input_data = ImageData(pixels=original, bit_depth=int(source_info.get("bit_depth") or 8), source=source)
            self.source, self.noisy, self.reference = source, noisy, reference
            self.reference_source = source_info.get("reference_source")
            self.noise_info = noise
            self._a_key, self._b_key = "input", ("reference" if reference is not None else None)
            self._session_input = dict(source_info)
            self._session_reference = (reference, source_info.get("reference"))
            self.setWindowTitle(f"{Path(source).name} (restored) — {APP_NAME}")
            self._update_image_label()
            self._update_baseline()
            skipped = 0
            for item in record.get("results", []):
                entry = self._restored_entry(store, item)
                if entry is None:
                    skipped += 1
                    continue
                self.results.add(entry)
                self._session_images[entry.id] = item["image"]
            self._refresh_viewer(fit=True)
        finally:
            self._session_saving = True
        self._save_session()
        note = f"; {skipped} result(s) could not be read" if skipped else ""
        self.statusBar().showMessage(f"Session restored: {self.results.count()} result(s){note}", 10000)
        return True

    def _restored_entry(self, store: SessionStore, item: dict[str, Any]) -> ResultEntry | None:
        try:
            image = store.load_image(item["image"])
        except (OSError, ValueError, KeyError):
            return None
        params = None
        choice = self.choices.get(item.get("method_id", ""))
        if choice is not None and item.get("params") is not None:
            try:
                params = choice.method.Params.from_dict(item["params"])  # type: ignore[union-attr]
            except (ParamError, TypeError, ValueError):
                params = None  # a parameter renamed since: the image and metrics still count
        extra = dict(item.get("extra") or {})
        if extra.get("region"):
            extra["region"] = tuple(extra["region"])
        region = extra.get("region")
        noisy, reference = self.noisy, self.reference
        if region is not None and noisy is not None:
            x, y, w, h = region
            noisy = noisy[y : y + h, x : x + w]
            reference = None if reference is None else reference[y : y + h, x : x + w]
        if reference is not None and reference.shape == image.shape:
            extra["heatmap"], extra["heatmap_kind"] = metrics.difference(image, reference), "reference"
        elif noisy is not None and noisy.shape == image.shape:
            extra["heatmap"], extra["heatmap_kind"] = metrics.difference(noisy, image), "removed"
        return ResultEntry(
            method_id=item.get("method_id", ""), method_title=item.get("method_title", "result"), params=params,
            image=image, seed=int(item.get("seed", 0)), device=item.get("device", "cpu"),
            elapsed=float(item.get("elapsed", 0.0)), psnr=item.get("psnr"), ssim=item.get("ssim"),
            input_source=item.get("input_source"), stopped_early=bool(item.get("stopped_early")),
            extra=extra, created=float(item.get("created", time.time())),
        )

    # ===================================================================== region first

    @Slot(int)
    def _offer_whole_image(self, entry_id: int) -> None:
        """After a region result of an iterative method, offer its stopping point for the whole image.

        The iteration offered is the one the kept result comes from: a kept time-machine iterate,
        the rule's suggestion when the rule's iterate was kept, else the step the run stopped at.
        """
        try:
            entry = self.results.get(entry_id)
        except KeyError:
            return
        choice = self.choices.get(entry.method_id)
        values = entry.params.to_dict() if entry.params is not None else {}
        if not entry.extra.get("region") or choice is None or not getattr(choice.method, "iterative", False) or "iterations" not in values:
            self._withdraw_whole_image()
            return
        info = entry.extra.get("info") or {}
        step = entry.extra.get("iteration")
        if step is None and info.get("kept") == "rule":
            rule = values.get("stop_rule") if values.get("stop_rule") not in (None, "none") else "es-emv"
            step = info.get(f"suggested_iteration_{rule.removeprefix('es-')}")
        step = int(step or entry.extra.get("final_step") or values["iterations"])
        changes: dict[str, Any] = {"iterations": max(step, 1)}
        for name, value in (("stop_rule", "none"), ("keep", "average")):
            if name in values:
                changes[name] = value
        self._whole_plan = {"method_id": entry.method_id, "params": entry.params.replace(**changes), "seed": entry.seed, "step": step}
        self.whole_button.setText(f"▶  Whole image, {step} iterations")
        self.whole_button.setToolTip(
            f"Run {choice.entry.title} on the whole image with the same settings, stopping at\n"
            f"iteration {step}, where the region result {entry.label} comes from"
        )
        self.whole_button.setVisible(True)
        self.whole_button.setEnabled(self.worker is None)

    def _withdraw_whole_image(self) -> None:
        self._whole_plan = None
        if hasattr(self, "whole_button"):
            self.whole_button.setVisible(False)

    @Slot()
    def run_whole_image(self) -> bool:
        """Run the offered region result's method on the whole image, stopping where it was kept."""
        plan = self._whole_plan
        if plan is None:
            return False
        self.region_check.setChecked(False)
        started = self.start_run(plan["method_id"], plan["params"], seed=plan["seed"])
        if started:
            self._withdraw_whole_image()
        return started

    # ================================================================================ export

    def _protected(self) -> tuple[str | None, ...]:
        paths: list[str | None] = []
        for source in (self.source, self.reference_source):
            if source and not source.startswith(SAMPLE_PREFIX):
                paths.append(source)
        return tuple(paths)

    def _check_target(self, path: Path) -> bool:
        """Refuse the input; ask before replacing any other existing file."""
        for protected in self._protected():
            if protected and path.exists() and Path(protected).exists() and os.path.samefile(path, protected):
                self.show_error(f"{path}: refusing to overwrite the input image; choose another name.", "Export")
                return False
        if path.exists() and not self.confirm_overwrite(path):
            return False
        return True

    def export_result(self, entry_id: int, path: str | os.PathLike[str], bit_depth: int = 8, jpeg_quality: int = 95) -> Path | None:
        """Write one result and its sidecar (``path`` + ``.json``); None if refused or failed."""
        entry = self.results.get(entry_id)
        target = Path(os.fspath(path))
        if not self._check_target(target):
            return None
        try:
            save_image(target, entry.image, bit_depth=bit_depth, jpeg_quality=jpeg_quality, protected=self._protected())
            record = build_record(
                input_path=entry.input_source,
                method_id=entry.method_id,
                params=entry.params.to_dict() if entry.params is not None else {},
                seed=entry.seed,
                device=entry.device,
                metrics=entry.metrics(),
                weights=entry.extra.get("info", {}).get("weights") if isinstance(entry.extra.get("info"), dict) else None,
                extra={
                    "noise": entry.extra.get("noise"),
                    "reference": entry.extra.get("reference"),
                    "stopped_early": entry.stopped_early,
                    "final_step": entry.extra.get("final_step"),
                    "iteration": entry.extra.get("iteration"),
                    "region": list(entry.extra["region"]) if entry.extra.get("region") else None,
                    "from_preview": entry.extra.get("preview"),
                    "label": entry.label,
                    "bit_depth": bit_depth if target.suffix.lower() in (".png", ".tif", ".tiff") else 8,
                    "jpeg_quality": jpeg_quality if target.suffix.lower() in (".jpg", ".jpeg") else None,
                },
            )
            write_sidecar(target, record)
        except (ImageError, OSError) as exc:
            self.show_error(str(exc), "Export failed")
            return None
        self._remember_folder(str(target))
        self.statusBar().showMessage(f"Exported {target.name} (+ sidecar)", 6000)
        return target

    def export_all(self, folder: str | os.PathLike[str], suffix: str = ".png", bit_depth: int = 8, jpeg_quality: int = 95) -> list[Path]:
        """Export every result into ``folder`` as ``<input>_<id>_<method><suffix>``."""
        stem = "result"
        if self.source:
            stem = self.source[len(SAMPLE_PREFIX):] if self.source.startswith(SAMPLE_PREFIX) else Path(self.source).stem
        written = []
        for entry in self.results.all():
            target = Path(os.fspath(folder)) / f"{stem}_{entry.id}_{entry.method_id}{suffix}"
            out = self.export_result(entry.id, target, bit_depth=bit_depth, jpeg_quality=jpeg_quality)
            if out is not None:
                written.append(out)
        return written

    def comparison_image(self) -> np.ndarray:
        """The viewer's A and B (and a third pane) side by side, labelled, as an RGB float image."""
        images = self.viewer.images()
        if not images:
            raise ImageError("nothing to compare")
        label_h, gap = 34, 8
        height = max(img.shape[0] for _, img in images)
        width = sum(img.shape[1] for _, img in images) + gap * (len(images) - 1)
        canvas = QImage(width, height + label_h, QImage.Format.Format_RGB888)
        canvas.fill(QColor("#1b1d23"))
        painter = QPainter(canvas)
        font = QFont()
        font.setPixelSize(18)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor("#dfe3ea"))
        x = 0
        for label, img in images:
            eight = np.ascontiguousarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))
            if eight.shape[2] == 1:
                eight = np.ascontiguousarray(np.repeat(eight, 3, axis=2))
            qimg = QImage(eight.data, eight.shape[1], eight.shape[0], eight.strides[0], QImage.Format.Format_RGB888)
            painter.drawImage(x, label_h, qimg)
            painter.drawText(x + 6, 0, img.shape[1] - 12, label_h, int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), label)
            x += img.shape[1] + gap
        painter.end()
        ptr = canvas.constBits()
        array = np.frombuffer(ptr, np.uint8).reshape(canvas.height(), canvas.bytesPerLine())[:, : width * 3]
        return array.reshape(canvas.height(), width, 3).astype(np.float32) / 255.0

    def export_comparison(self, path: str | os.PathLike[str]) -> Path | None:
        """Write the labelled side-by-side comparison of what the viewer shows."""
        target = Path(os.fspath(path))
        if not self._check_target(target):
            return None
        try:
            return save_image(target, self.comparison_image(), protected=self._protected())
        except (ImageError, OSError) as exc:
            self.show_error(str(exc), "Export failed")
            return None

    def export_curve(self, path: str | os.PathLike[str]) -> tuple[Path, Path] | None:
        """Write the curve as CSV (``path``) and as a PNG picture beside it."""
        from denoise_studio.core.image import write_text_atomically

        csv_path = Path(os.fspath(path)).with_suffix(".csv")
        png_path = csv_path.with_suffix(".png")
        if not self.curve.has_data():
            self.show_error("There is no curve to export yet (run an iterative method first).", "Export curve")
            return None
        for target in (csv_path, png_path):
            if not self._check_target(target):
                return None
        try:
            write_text_atomically(csv_path, self.curve.to_csv())
            picture = self.curve.graphics.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
            bpl = picture.bytesPerLine()
            raw = np.frombuffer(picture.constBits(), np.uint8).reshape(picture.height(), bpl)[:, : picture.width() * 3]
            save_image(png_path, raw.reshape(picture.height(), picture.width(), 3).astype(np.float32) / 255.0, protected=self._protected())
        except (ImageError, OSError) as exc:
            self.show_error(str(exc), "Export failed")
            return None
        return csv_path, png_path

    # -- dialogs (menu actions) ------------------------------------------------------------------

    @Slot()
    def open_dialog(self) -> None:
        patterns = " ".join(f"*{s}" for s in READ_FORMATS)
        path, _ = QFileDialog.getOpenFileName(self, "Open image", self.last_folder(), f"Images ({patterns});;All files (*)")
        if path:
            self.open_image(path)

    @Slot(QAction)
    def _on_open_action(self, action: QAction) -> None:
        self.open_image(str(action.data()))

    @Slot()
    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for action in self._recent_actions.actions():
            self._recent_actions.removeAction(action)
        recent = self.recent_files()
        if not recent:
            empty = self.recent_menu.addAction("(none yet)")
            empty.setEnabled(False)
        for source in recent:
            action = self.recent_menu.addAction(source)
            action.setData(source)
            self._recent_actions.addAction(action)

    @Slot()
    def load_reference_dialog(self) -> None:
        patterns = " ".join(f"*{s}" for s in READ_FORMATS)
        path, _ = QFileDialog.getOpenFileName(self, "Load reference (clean) image", self.last_folder(), f"Images ({patterns})")
        if path:
            self.load_reference(path)

    @Slot()
    def add_noise_dialog(self) -> None:
        previous = self.noise_info or {}
        dialog = NoiseDialog(self, previous.get("model", "gaussian"), previous.get("sigma", 25.0), previous.get("seed", 0))
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.add_noise(dialog.model.currentText(), dialog.sigma.value(), dialog.seed.value())

    def _ask_save_path(self, title: str, default_name: str, filters: str = EXPORT_FILTERS) -> str | None:
        path, _ = QFileDialog.getSaveFileName(
            self, title, str(Path(self.last_folder()) / default_name), filters,
            options=QFileDialog.Option.DontConfirmOverwrite,  # we ask ourselves, and protect the input
        )
        return path or None

    @Slot()
    def export_selected_dialog(self) -> None:
        self._on_export_ids(self.results.selected_ids())

    @Slot(list)
    def _on_export_ids(self, ids: list[int]) -> None:
        if not ids:
            self.show_error("Select a result in the Results list first.", "Export")
            return
        if len(ids) > 1:
            folder = QFileDialog.getExistingDirectory(self, "Export the selected results into…", self.last_folder())
            if folder:
                for entry_id in ids:
                    entry = self.results.get(entry_id)
                    self.export_result(entry_id, Path(folder) / f"result_{entry.id}_{entry.method_id}.png")
            return
        entry = self.results.get(ids[0])
        path = self._ask_save_path("Export result", f"result_{entry.id}_{entry.method_id}.png")
        if not path:
            return
        options = ExportOptionsDialog(Path(path).suffix.lower(), self)
        if options.exec() == QDialog.DialogCode.Accepted:
            self.export_result(entry.id, path, bit_depth=options.bit_depth(), jpeg_quality=options.quality.value())

    @Slot()
    def export_all_dialog(self) -> None:
        if not self.results.count():
            self.show_error("There are no results to export yet.", "Export all")
            return
        folder = QFileDialog.getExistingDirectory(self, "Export all results into…", self.last_folder())
        if folder:
            written = self.export_all(folder)
            self.statusBar().showMessage(f"Exported {len(written)} results to {folder}", 8000)

    @Slot()
    def export_comparison_dialog(self) -> None:
        path = self._ask_save_path("Export comparison", "comparison.png")
        if path:
            self.export_comparison(path)

    @Slot()
    def export_curve_dialog(self) -> None:
        path = self._ask_save_path("Export curve (CSV, plus a PNG beside it)", "curve.csv", "CSV (*.csv)")
        if path:
            self.export_curve(path)

    @Slot()
    def _about(self) -> None:
        from denoise_studio import __version__

        QMessageBox.about(self, APP_NAME, f"<b>{APP_NAME}</b> {__version__}<br>An interactive image-denoising workbench.")

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
        """Cancel and wait for a running job, save the layout, then close."""
        self.cancel_run(wait=True)
        self.train_dock.cancel_training()
        self.train_dock.wait()
        self.wait_for_retired_runs()
        self.save_settings()
        if self.session_store is not None:
            self._save_session(clean_exit=True)
            self.session_store.close()
            self.session_store = None
        super().closeEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(1480, 940)

