"""The compute device and torch's CPU threads, picked in the status bar and kept in the settings.

The list holds the CPU and every CUDA device or Apple MPS that torch finds here, best first;
the window's ``device`` follows it, so the next run, "Apply to folder…" and the cost check use
it. The thread count is torch's for the runs started from then on: each run has its own thread,
which takes the process's setting when it starts (a run under way keeps its own). Both are
stored in the settings (``compute/device``, ``compute/threads``) and each result's sidecar
records what its run used (``compute`` in ``core/sidecar.py``).
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QSettings, Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QSpinBox, QWidget

from denoise_studio.core.device import available_devices, best_device, set_torch_threads, torch_threads, usable_cores
from denoise_studio.gui.dialogs import device_description

DEVICE_KEY, THREADS_KEY = "compute/device", "compute/threads"


def device_title(device: str) -> str:
    """``CPU``, ``CUDA 0: NVIDIA H200`` or ``MPS (Apple GPU)``: one entry of the list."""
    if device == "cpu":
        return "CPU"
    if device.startswith("cuda"):
        return device_description(device).replace("CUDA:", f"CUDA {device.partition(':')[2] or '0'}:")
    return device_description(device)


class DevicePicker(QWidget):
    """A device list and a thread count for the status bar.

    Signals
    -------
    changed(str)
        The device chosen (after a change of either the device or the threads).
    """

    changed = Signal(str)

    def __init__(self, settings: QSettings, parent: QWidget | None = None, devices: list[str] | None = None) -> None:
        """``devices``: the list to offer until :meth:`set_devices` (None: ask torch now)."""
        super().__init__(parent)
        self.settings = settings
        # Until set_devices, torch may be half-imported by the loading thread: never touch it then.
        self._torch_ready = devices is None
        self.device_combo = QComboBox()
        self.device_combo.setToolTip("Where network methods and Deep Image Prior run")
        for device in available_devices() if devices is None else devices:
            self.device_combo.addItem(device_title(device), device)
        self.threads_spin = QSpinBox()
        self.threads_spin.setRange(1, max(os.cpu_count() or 1, usable_cores(), (torch_threads() if self._torch_ready else None) or 1))
        self.threads_spin.setSuffix(" threads")
        self.threads_spin.setToolTip("torch's CPU threads for the next runs (1 leaves the other cores to the window)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.device_combo)
        layout.addWidget(self.threads_spin)
        self._restore()
        self.device_combo.currentIndexChanged.connect(self._on_changed)
        self.threads_spin.valueChanged.connect(self._on_changed)

    def device(self) -> str:
        return str(self.device_combo.currentData())

    def threads(self) -> int:
        return int(self.threads_spin.value())

    def summary(self) -> str:
        """``CPU · 2 threads`` or the GPU's name, as the status bar used to say."""
        return device_description(self.device())

    def set_choice(self, device: str | None = None, threads: int | None = None) -> None:
        """Pick a device (one of the list) and/or a thread count, as the user would."""
        if device is not None:
            index = self.device_combo.findData(device)
            if index < 0:
                raise ValueError(f"device {device!r} is not present here")
            self.device_combo.setCurrentIndex(index)
        if threads is not None:
            self.threads_spin.setValue(threads)

    def set_devices(self, devices: list[str]) -> None:
        """Offer ``devices`` (found by torch once it loaded behind the window) and the saved choice."""
        for widget in (self.device_combo, self.threads_spin):
            widget.blockSignals(True)
        self._torch_ready = True
        self.device_combo.clear()
        for device in devices:
            self.device_combo.addItem(device_title(device), device)
        self._restore()
        for widget in (self.device_combo, self.threads_spin):
            widget.blockSignals(False)

    def _restore(self) -> None:
        stored: Any = self.settings.value(DEVICE_KEY, "")
        index = self.device_combo.findData(str(stored)) if stored else -1
        best = best_device() if self._torch_ready and torch_threads() is not None else "cpu"
        self.device_combo.setCurrentIndex(index if index >= 0 else max(self.device_combo.findData(best), 0))
        try:
            threads = int(self.settings.value(THREADS_KEY, 0) or 0)
        except (TypeError, ValueError):
            threads = 0
        self.threads_spin.setValue(threads if threads >= 1 else ((torch_threads() if self._torch_ready else None) or 1))
        self._apply()

    @Slot()
    def _on_changed(self) -> None:
        self.settings.setValue(DEVICE_KEY, self.device())
        self.settings.setValue(THREADS_KEY, self.threads())
        self._apply()
        self.changed.emit(self.device())

    def _apply(self) -> None:
        self.threads_spin.setSuffix(" thread" if self.threads() == 1 else " threads")
        self.threads_spin.setEnabled(self._torch_ready and self.device() == "cpu")
        if not self._torch_ready or torch_threads() is None:  # torch is loading behind the window: set_devices applies the choice
            self.device_combo.setToolTip("Where network methods and Deep Image Prior run (listed once torch has loaded)")
            return
        set_torch_threads(self.threads())
        self.device_combo.setToolTip(f"Where network methods and Deep Image Prior run: {self.summary()}")
