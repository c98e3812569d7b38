"""The iteration time machine: a slider over the iterates an iterative run kept.

The worker hands an :class:`~denoise_studio.core.history.IterateHistory` to the method through
``RunContext.history``; the method records its iterates there (within a memory budget). This
row, placed under the iteration curve, scrubs through them: the window shows the chosen iterate
in the viewer and can keep it as a result (to compare or export like any other).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QWidget


def full_size(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """An iterate at the run's full resolution (previews are enlarged, bilinear)."""
    if image.shape[:2] == tuple(shape[:2]):
        return image
    h, w = shape[:2]
    big = cv2.resize(np.ascontiguousarray(image, dtype=np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return big.reshape(h, w, -1)


class TimeMachine(QWidget):
    """Slider + readout + "Keep as result" over a history's recorded steps.

    Signals
    -------
    step_chosen(int)
        The user moved to this recorded step.
    keep_requested(int)
        Keep this step's iterate as a result.
    """

    step_chosen = Signal(int)
    keep_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history: Any = None
        self._steps: list[int] = []
        self.title = QLabel("Time machine")
        self.title.setToolTip("Scrub through the iterates this run kept (click the curve to jump)")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.valueChanged.connect(self._on_slider)
        self.readout = QLabel("no iterates yet")
        self.readout.setMinimumWidth(230)
        self.readout.setStyleSheet("color: #9aa4b2;")
        self.keep_button = QPushButton("Keep as result")
        self.keep_button.setToolTip("Add the iterate shown to the results list (compare, export)")
        self.keep_button.clicked.connect(self._on_keep)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.readout)
        layout.addWidget(self.keep_button)
        self._following = True
        self.set_history(None)

    def set_history(self, history: Any) -> None:
        """Follow a new history (``None`` hides the row)."""
        self.history = history
        self._steps = []
        self._following = True
        self.slider.blockSignals(True)
        self.slider.setRange(0, 0)
        self.slider.blockSignals(False)
        self.readout.setText("no iterates yet")
        self.keep_button.setEnabled(False)
        self.setVisible(history is not None)

    def refresh(self) -> None:
        """Pick up newly recorded steps; the slider follows the newest unless the user moved it."""
        if self.history is None:
            return
        steps = self.history.steps()
        if steps == self._steps:
            return
        self._steps = steps
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(steps) - 1))
        if self._following:
            self.slider.setValue(len(steps) - 1)
        self.slider.blockSignals(False)
        self._describe()
        self.keep_button.setEnabled(bool(steps))

    @property
    def following(self) -> bool:
        """True while the slider sits on the newest iterate (live images keep showing)."""
        return self._following

    def steps(self) -> list[int]:
        return list(self._steps)

    def current_step(self) -> int | None:
        if not self._steps:
            return None
        return self._steps[min(self.slider.value(), len(self._steps) - 1)]

    def go_to(self, step: int) -> int | None:
        """Move to the recorded step nearest ``step``; returns it (and emits ``step_chosen``)."""
        if self.history is None:
            return None
        self.refresh()
        nearest = self.history.nearest(step)
        if nearest is None or nearest not in self._steps:
            return None
        index = self._steps.index(nearest)
        if self.slider.value() != index:
            self.slider.setValue(index)  # emits step_chosen through _on_slider
        else:
            self._emit(nearest)
        return nearest

    def _describe(self) -> None:
        step = self.current_step()
        if step is None or self.history is None:
            self.readout.setText("no iterates yet")
            return
        kind = "full resolution" if self.history.has_keyframe(step) else "preview"
        self.readout.setText(f"iteration {step}  ({kind}, {len(self._steps)} kept)")

    def _emit(self, step: int) -> None:
        self._describe()
        self.step_chosen.emit(step)

    @Slot(int)
    def _on_slider(self, index: int) -> None:
        self._following = index >= len(self._steps) - 1
        step = self.current_step()
        if step is not None:
            self._emit(step)

    @Slot()
    def _on_keep(self) -> None:
        step = self.current_step()
        if step is not None:
            self.keep_requested.emit(step)
