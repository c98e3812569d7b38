"""The Train dock: train a network method from the window (issue 5, "In the window"; issue 6,
"Adapt to this image").

Pick a network method, the data (a folder of clean images with a noise model and a σ range for
supervised methods; the image shown in the window, or a folder of noisy images, for
self-supervised ones), the configuration and a budget (minutes and/or steps). *Start* runs
``training.loop.Trainer`` in a :class:`~denoise_studio.gui.worker.TrainWorker` (its own
QThread; the UI thread never waits); the loss and the validation PSNR go to the curve dock.
*Stop* ends the run and writes the best weights so far to the user weights folder
(``core.weights.user_weights_dir()``); *Cancel* writes nothing. Both are the status bar's, the
same for every job (``gui/job_buttons.py``). The window refreshes the method's weights picker
when ``weights_added`` arrives.

Every user action is a plain method (:meth:`TrainDock.start_training`,
:meth:`TrainDock.stop_training`, :meth:`TrainDock.cancel_training`) that the buttons call and the
tests call directly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from denoise_studio.core.network import SELF_SUPERVISED, SUPERVISED
from denoise_studio.core.noise import NOISE_DESCRIPTIONS, NOISE_MODELS
from denoise_studio.gui.method_selector import LOADING_REASON, MethodChoice
from denoise_studio.gui.worker import TrainUpdate, TrainWorker

#: The data choices (combo box data): the image in the window, or a folder.
CURRENT_IMAGE = "current"
CLEAN_FOLDER = "clean"
NOISY_FOLDER = "noisy"
DATA_LABELS = {
    CURRENT_IMAGE: "The current image (adapt to it)",
    NOISY_FOLDER: "A folder of noisy images",
    CLEAN_FOLDER: "A folder of clean images + noise",
}


def network_choices(choices: dict[str, MethodChoice]) -> dict[str, MethodChoice]:
    """The registry's network methods (loaded, whether or not they have weights yet)."""
    from denoise_studio.methods import is_network

    return {mid: c for mid, c in choices.items() if c.method is not None and is_network(c.method)}


def supervision_of(method_id: str, config: str = "lite") -> str:
    """``supervised`` or ``self-supervised``: what the method's training recipe needs."""
    from denoise_studio.training.loop import spec_for

    spec, _family = spec_for(method_id)
    return spec.recipe(config if config in spec.configs else spec.configs[0]).supervision


def configs_of(method_id: str) -> tuple[str, ...]:
    from denoise_studio.training.loop import spec_for

    spec, _family = spec_for(method_id)
    return tuple(spec.configs)


class TrainDock(QDockWidget):
    """Train or adapt a network method; at most one training run at a time.

    Signals
    -------
    training_started(str)
        A run started; the text is its title (for the curve dock).
    training_progress(TrainUpdate)
        Batched loss / validation points and the step count.
    weights_added(str, str)
        ``(method_id, path)``: new weights were written (after a finished or stopped run).
    training_ended(str)
        A one-line outcome for the status bar (after weights_added, or cancelled, or failed).
    training_failed(str)
        An error message (the window shows it).
    """

    training_started = Signal(str)
    training_progress = Signal(object)
    weights_added = Signal(str, str)
    training_ended = Signal(str)
    training_failed = Signal(str)

    def __init__(
        self,
        choices: dict[str, MethodChoice],
        current_image: Callable[[], np.ndarray | None],
        parent: QWidget | None = None,
        busy: Callable[[], str | None] | None = None,
    ) -> None:
        super().__init__("Train", parent)
        self.setObjectName("train_dock")
        self.choices: dict[str, MethodChoice] = {}  # the network methods (set_choices)
        self.current_image = current_image
        self.busy = busy  # a reason not to start now (a method run in progress), or None
        self.worker: TrainWorker | None = None
        self._title = ""
        self._method_id = ""
        self.last_result: Any = None
        self.last_message = ""

        body = QWidget()
        outer = QVBoxLayout(body)
        outer.setContentsMargins(6, 6, 6, 6)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        outer.addLayout(form)
        self._add_method_rows(form)
        self._add_data_rows(form)
        self._add_budget_rows(form)
        outer.addLayout(self._buttons())
        for combo in (self.method_combo, self.config_combo, self.data_combo, self.noise_combo, self.init_combo):
            # Long item texts must not widen the dock (and with it the whole window).
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        outer.addWidget(self.status)
        from denoise_studio.core.weights import user_weights_dir

        self.where = QLabel(f"New weights go to {user_weights_dir()}")
        self.where.setWordWrap(True)
        self.where.setEnabled(False)
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.where)
        outer.addStretch(1)
        # It scrolls rather than make the window taller or wider than a small screen.
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)
        self.setWidget(scroll)
        self.set_choices(choices)

    def set_choices(self, choices: dict[str, MethodChoice]) -> None:
        """List the network methods among ``choices`` (again once they have loaded behind the window)."""
        self.choices = network_choices(choices)
        self.method_combo.blockSignals(True)
        self.method_combo.clear()
        for method_id, choice in self.choices.items():
            self.method_combo.addItem(choice.entry.title, method_id)
        self.method_combo.blockSignals(False)
        self._set_running(False)
        if self.method_combo.count():
            self.status.setText("")
            self._on_method_changed(self.method_combo.currentIndex())
        elif any(choice.reason == LOADING_REASON for choice in choices.values()):
            self.status.setText("The methods are still loading…")
        else:
            self.status.setText("No network method is installed.")

    def _add_method_rows(self, form: QFormLayout) -> None:
        self.method_combo = QComboBox()
        self.method_combo.setToolTip("The network method to train (weights go to its weights list)")
        self.method_combo.currentIndexChanged.connect(self._on_method_changed)
        form.addRow("Method", self.method_combo)
        self.supervision_label = QLabel("")
        self.supervision_label.setEnabled(False)
        self.supervision_label.setWordWrap(True)
        form.addRow("", self.supervision_label)

        self.config_combo = QComboBox()
        self.config_combo.setToolTip("lite: sized for a CPU; paper: the published size (needs a GPU and hours)")
        form.addRow("Configuration", self.config_combo)

    def _add_data_rows(self, form: QFormLayout) -> None:
        self.data_combo = QComboBox()
        self.data_combo.setToolTip("What to train on")
        self.data_combo.currentIndexChanged.connect(self._on_data_changed)
        form.addRow("Data", self.data_combo)
        folder_row = QWidget()
        frow = QHBoxLayout(folder_row)
        frow.setContentsMargins(0, 0, 0, 0)
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("folder of images…")
        self.folder_button = QToolButton()
        self.folder_button.setText("…")
        self.folder_button.setToolTip("Choose the folder")
        self.folder_button.clicked.connect(self._choose_folder)
        frow.addWidget(self.folder_edit, 1)
        frow.addWidget(self.folder_button)
        self.folder_label = QLabel("Folder")
        form.addRow(self.folder_label, folder_row)

        self.noise_combo = QComboBox()
        for name in NOISE_MODELS:
            self.noise_combo.addItem(name, name)
            self.noise_combo.setItemData(self.noise_combo.count() - 1, NOISE_DESCRIPTIONS.get(name, name), Qt.ItemDataRole.ToolTipRole)
        self.noise_combo.setToolTip("The noise added to the clean images on the fly")
        self.noise_label = QLabel("Noise")
        form.addRow(self.noise_label, self.noise_combo)
        sigma_row = QWidget()
        srow = QHBoxLayout(sigma_row)
        srow.setContentsMargins(0, 0, 0, 0)
        self.sigma_low = QDoubleSpinBox()
        self.sigma_high = QDoubleSpinBox()
        for spin, value in ((self.sigma_low, 5.0), (self.sigma_high, 55.0)):
            spin.setRange(0.0, 255.0)
            spin.setDecimals(1)
            spin.setValue(value)
            spin.setToolTip("Each patch draws its σ uniformly from this range (0–255 scale): one blind network")
        srow.addWidget(self.sigma_low)
        srow.addWidget(QLabel("to"))
        srow.addWidget(self.sigma_high)
        self.sigma_label = QLabel("σ range")
        form.addRow(self.sigma_label, sigma_row)

    def _add_budget_rows(self, form: QFormLayout) -> None:
        self.init_combo = QComboBox()
        self.init_combo.setToolTip(
            "Fine-tune trained weights (at a tenth of the learning rate), for example to adapt\n"
            "the shipped weights to this image, or train from random weights"
        )
        form.addRow("Start from", self.init_combo)

        budget_row = QWidget()
        brow = QHBoxLayout(budget_row)
        brow.setContentsMargins(0, 0, 0, 0)
        self.minutes_spin = QDoubleSpinBox()
        self.minutes_spin.setRange(0.1, 999.0)
        self.minutes_spin.setDecimals(1)
        self.minutes_spin.setValue(5.0)
        self.minutes_spin.setSuffix(" min")
        self.minutes_spin.setToolTip("Wall-clock budget: the learning-rate schedule is fitted to it")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(0, 999_999)
        self.steps_spin.setSpecialValueText("recipe")
        self.steps_spin.setSuffix(" steps")
        self.steps_spin.setToolTip("Step limit (0: the recipe's count); whichever budget ends first stops the run")
        brow.addWidget(self.minutes_spin)
        brow.addWidget(self.steps_spin)
        form.addRow("Budget", budget_row)

    def _buttons(self) -> QHBoxLayout:
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Train in the background; the loss and validation PSNR appear in the curve dock.\n"
                                     "Stop (keep the best weights) and Cancel (write nothing) are in the status bar.")
        self.start_button.clicked.connect(self._on_start_clicked)
        buttons.addWidget(self.start_button)
        return buttons

    # ------------------------------------------------------------------------------ form

    def select_method(self, method_id: str) -> bool:
        index = self.method_combo.findData(method_id)
        if index >= 0:
            self.method_combo.setCurrentIndex(index)
        return index >= 0

    def current_method_id(self) -> str | None:
        data = self.method_combo.currentData()
        return str(data) if data is not None else None

    @Slot(int)
    def _on_method_changed(self, _index: int) -> None:
        method_id = self.current_method_id()
        if method_id is None:
            return
        try:
            configs = configs_of(method_id)
            supervision = supervision_of(method_id)
        except Exception as exc:  # noqa: BLE001 - a broken spec is shown, not fatal
            self.supervision_label.setText(f"cannot train: {exc}")
            self.start_button.setEnabled(False)
            return
        self.config_combo.clear()
        self.config_combo.addItems(list(configs))
        self._fill_init_choices(method_id)
        self.data_combo.blockSignals(True)
        self.data_combo.clear()
        kinds = (CURRENT_IMAGE, NOISY_FOLDER, CLEAN_FOLDER) if supervision == SELF_SUPERVISED else (CLEAN_FOLDER,)
        for kind in kinds:
            self.data_combo.addItem(DATA_LABELS[kind], kind)
        self.data_combo.setCurrentIndex(0)  # self-supervised: adapt to the current image first
        self.data_combo.blockSignals(False)
        self.supervision_label.setText(
            "supervised: learns from clean images with noise added"
            if supervision == SUPERVISED
            else "self-supervised: learns from noisy images alone (no clean image in any loss)"
        )
        self.start_button.setEnabled(self.worker is None)
        self._on_data_changed(self.data_combo.currentIndex())

    def _fill_init_choices(self, method_id: str) -> None:
        """Random weights, then every weights file of this method (shipped first)."""
        from denoise_studio.core.weights import list_weights

        self.init_combo.clear()
        self.init_combo.addItem("random weights (train from scratch)", "")
        try:
            entries = list_weights(method_id)
        except Exception:  # noqa: BLE001 - an unreadable weights folder only hides the choice
            entries = []
        for entry in entries:
            self.init_combo.addItem(f"{entry.name} ({entry.card.config}, fine-tune)", str(entry.path))
        # Adapting to one image works best from trained weights: start there when there are some.
        self.init_combo.setCurrentIndex(1 if entries else 0)

    @Slot(int)
    def _on_data_changed(self, _index: int) -> None:
        kind = self.data_combo.currentData()
        folder = kind in (CLEAN_FOLDER, NOISY_FOLDER)
        for widget in (self.folder_label, self.folder_edit, self.folder_button):
            widget.setVisible(folder)
        noise = kind == CLEAN_FOLDER
        for widget in (self.noise_label, self.noise_combo, self.sigma_label, self.sigma_low, self.sigma_high):
            widget.setVisible(noise)
        self.sigma_low.parentWidget().setVisible(noise)
        self.folder_edit.parentWidget().setVisible(folder)
        self.folder_edit.setPlaceholderText("folder of clean images…" if kind == CLEAN_FOLDER else "folder of noisy images…")

    @Slot()
    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Training images", self.folder_edit.text() or str(Path.home()))
        if folder:
            self.folder_edit.setText(folder)

    # ------------------------------------------------------------------------------ actions

    @Slot()
    def _on_start_clicked(self) -> None:
        self.start_training()

    def is_training(self) -> bool:
        return self.worker is not None

    def start_training(
        self,
        method_id: str | None = None,
        config: str | None = None,
        data: str | None = None,
        folder: str | Path | None = None,
        noise: str | None = None,
        sigma: tuple[float, float] | None = None,
        minutes: float | None = None,
        steps: int | None = None,
        *,
        out: Path | None = None,
        validate_every: int | None = None,
        recipe_overrides: dict[str, Any] | None = None,
        seed: int = 0,
        init: str | None = None,
    ) -> bool:
        """Start training (arguments left out come from the form); False with a message if not.

        ``init``: weights to fine-tune (a name from the "Start from" list or a path), ``""`` for
        random weights; left out, the form's choice.

        ``data``: ``"current"`` (the window's image), ``"noisy"`` or ``"clean"`` (a folder).
        ``out``: where the weights go (default: a fresh name in the user weights folder).
        ``steps`` 0 or ``None`` with the form's "recipe": the recipe's count.
        """
        if self.worker is not None:
            return self._refuse("Training is already running: stop or cancel it first.")
        reason = self.busy() if self.busy is not None else None
        if reason:
            return self._refuse(reason)
        refusal = self._apply_arguments(method_id, config, data, folder, noise, sigma, minutes, steps, init)
        if refusal:
            return self._refuse(refusal)
        method_id = self.current_method_id()
        assert method_id is not None
        source = self._data_source()
        if isinstance(source, str):
            return self._refuse(source)
        job = self._job(method_id, source, out, validate_every, recipe_overrides, seed)
        self._launch(job, f"Training {self.choices[method_id].entry.title} ({job.config}, {source.name})")
        return True

    def _apply_arguments(self, method_id: str | None, config: str | None, data: str | None, folder: str | Path | None,
                         noise: str | None, sigma: tuple[float, float] | None, minutes: float | None, steps: int | None,
                         init: str | None) -> str | None:
        """Put the given arguments into the form; the reason when one cannot be used."""
        if method_id is not None and not self.select_method(method_id):
            return f"{method_id} is not a network method that can be trained here."
        method_id = self.current_method_id()
        if method_id is None:
            return "No network method to train."
        if config is not None:
            self.config_combo.setCurrentText(config)
        if data is not None:
            index = self.data_combo.findData(data)
            if index < 0:
                return f"{self.choices[method_id].entry.title} cannot train on {DATA_LABELS.get(data, data)!r}."
            self.data_combo.setCurrentIndex(index)
        if folder is not None:
            self.folder_edit.setText(str(folder))
        if noise is not None:
            self.noise_combo.setCurrentText(noise)
        if sigma is not None:
            self.sigma_low.setValue(float(sigma[0]))
            self.sigma_high.setValue(float(sigma[1]))
        if minutes is not None:
            self.minutes_spin.setValue(float(minutes))
        if steps is not None:
            self.steps_spin.setValue(int(steps))
        if init is not None:
            index = next((i for i in range(self.init_combo.count()) if init in (self.init_combo.itemData(i), Path(str(self.init_combo.itemData(i))).stem)), -1)
            if index < 0:
                return f"No weights named {init!r} for {self.choices[method_id].entry.title}."
            self.init_combo.setCurrentIndex(index)
        return None

    def _data_source(self) -> Any:
        """The training data the form describes, or the reason it cannot be used (a str)."""
        from denoise_studio.training.data import DataSource

        data = str(self.data_combo.currentData())
        try:
            if data == CURRENT_IMAGE:
                image = self.current_image()
                if image is None:
                    return "Open an image first: self-supervised training adapts to the image shown."
                pixels = np.array(image, dtype=np.float32, copy=True)  # the window may replace its image
                return DataSource("noisy", Path("current image"), arrays=[pixels], channels=pixels.shape[2], name="current image")
            text = self.folder_edit.text().strip()
            if not text or not Path(text).is_dir():
                return "Choose a folder of training images." if not text else f"Not a folder: {text}"
            low, high = self.sigma_low.value(), self.sigma_high.value()
            return DataSource(data, Path(text), noise=self.noise_combo.currentText(), sigma=(min(low, high), max(low, high)))
        except ValueError as exc:
            return str(exc)

    def _job(self, method_id: str, source: Any, out: Path | None, validate_every: int | None,
             recipe_overrides: dict[str, Any] | None, seed: int) -> Any:
        """The training job of the form, with the command line a model card records."""
        from denoise_studio.core.weights import default_user_weights_path
        from denoise_studio.training.loop import TrainJob

        config = self.config_combo.currentText()
        step_limit = self.steps_spin.value() or None
        init_path = Path(self.init_combo.currentData()) if self.init_combo.currentData() else None
        if out is None:
            out = default_user_weights_path(method_id, config)
            n = 1
            while out.exists():  # two runs within one second
                out = out.with_name(f"{out.stem}-{n}{out.suffix}")
                n += 1
        command = (
            f"Denoise Studio Train dock: {method_id}, config {config}, data {source.name}"
            + (f", noise {source.noise} σ {source.sigma[0]:g}–{source.sigma[1]:g}" if self.data_combo.currentData() == CLEAN_FOLDER else "")
            + f", {self.minutes_spin.value():g} min" + (f", {step_limit} steps" if step_limit else "")
            + (f", fine-tuned from {init_path.name}" if init_path is not None else "")
        )
        return TrainJob(
            method_id=method_id, config=config, source=source, out=out, steps=step_limit,
            minutes=self.minutes_spin.value(), seed=seed, validate_every=validate_every,
            recipe_overrides=dict(recipe_overrides or {}), command=command, init_from=init_path,
        )

    def _launch(self, job: Any, title: str) -> None:
        self._method_id = job.method_id
        self._title = title
        self.last_result = None
        self.worker = TrainWorker(job)
        self.worker.progressed.connect(self._on_progressed)
        self.worker.returned.connect(self._on_returned)
        self.worker.errored.connect(self._on_errored)
        self.worker.aborted.connect(self._on_aborted)
        self.worker.finished.connect(self._on_finished)
        self._set_running(True)
        self.status.setText(f"{self._title}: preparing the data and the network…")
        self.training_started.emit(self._title)
        self.worker.start()

    def _refuse(self, message: str) -> bool:
        self.status.setText(message)
        self.last_message = message
        return False

    @Slot()
    def stop_training(self) -> None:
        """End the run at the next step and keep the best weights so far."""
        if self.worker is not None and not self.worker.cancelled:
            self.worker.stop()
            self.status.setText(f"{self._title}: stopping… (the best weights so far are written)")

    @Slot()
    def cancel_training(self) -> None:
        """End the run at the next step and write nothing."""
        if self.worker is not None:
            self.worker.cancel()
            self.status.setText(f"{self._title}: cancelling…")

    def wait(self, msecs: int = -1) -> bool:
        """Block until the running worker's thread has ended (shutdown and tests only)."""
        return self.worker.wait(msecs) if self.worker is not None else True

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running and self.method_combo.count() > 0)
        for widget in (self.method_combo, self.config_combo, self.data_combo, self.folder_edit, self.folder_button,
                       self.noise_combo, self.sigma_low, self.sigma_high, self.minutes_spin, self.steps_spin):
            widget.setEnabled(not running)

    # ------------------------------------------------------------------------------ worker slots

    @Slot(object)
    def _on_progressed(self, update: TrainUpdate) -> None:
        if self.worker is None or self.worker.cancelled:
            return
        loss = next((p.loss for p in reversed(update.points) if p.loss is not None), None)
        parts = [f"step {update.step} / {update.total}"]
        if loss is not None:
            parts.append(f"loss {loss:.4g}")
        if update.best_psnr is not None:
            parts.append(f"best validation {update.best_psnr:.2f} dB")
        parts.append(f"{update.elapsed / 60:.1f} min")
        self.status.setText(f"{self._title}\n" + " · ".join(parts))
        self.training_progress.emit(update)

    @Slot(object)
    def _on_returned(self, result: Any) -> None:
        self.last_result = result
        if result is None or result.weights is None:
            self.last_message = f"{self._title}: ended, nothing written"
            return
        psnr = f", validation {result.card.validation_psnr:.2f} dB" if result.card is not None and result.card.validation_psnr is not None else ""
        how = "stopped" if result.stopped else "done"
        self.last_message = f"{self._title} {how} after {result.steps} steps{psnr}: {Path(result.weights).name}"
        if getattr(result, "diverged", None):
            self.last_message += f"\nTraining diverged: {result.diverged}"
        self.weights_added.emit(self._method_id, str(result.weights))

    @Slot(str)
    def _on_errored(self, message: str) -> None:
        self.last_message = message.splitlines()[0] if message else "training failed"
        self.training_failed.emit(message)

    @Slot()
    def _on_aborted(self) -> None:
        self.last_message = f"{self._title}: cancelled, nothing written"

    @Slot()
    def _on_finished(self) -> None:
        worker = self.worker
        if worker is None:
            return
        worker.wait()  # finished is emitted just before the thread ends
        self.worker = None
        self._set_running(False)
        self.status.setText(self.last_message)
        self.training_ended.emit(self.last_message)
